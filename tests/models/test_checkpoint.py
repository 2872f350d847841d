"""tsepn checkpoints round-trip; the authors' files load by arch; bad files give clear errors."""
from __future__ import annotations

import pytest
import torch

from tests.models.conftest import ENROLL_SAMPLES, MIX_SAMPLES, seeded_audio, tiny_args
from tsepn.models import build_model
from tsepn.models.checkpoint import CheckpointError, load_model, save_model


def outputs(model):
    model.eval()
    with torch.no_grad():
        cond = model.encode(seeded_audio(1, model.in_channels, ENROLL_SAMPLES),
                            seeded_audio(1, model.in_channels, ENROLL_SAMPLES, seed=1))
        out, _ = model(seeded_audio(1, model.in_channels, MIX_SAMPLES, seed=2), cond)
    return out


@pytest.mark.parametrize("name,args", [
    ("posneg", tiny_args(channels=2, framing="streaming", normalization="enrollment", fusion="film", fusion_args={})),
    ("teacher", {k: v for k, v in tiny_args().items() if not k.startswith("head_")}),
])
def test_save_load_same_output(tmp_path, name, args):
    model = build_model(name, **args)
    path = tmp_path / "model.pt"
    save_model(path, model, epoch=7)
    data = torch.load(path, weights_only=True)
    assert data["format"] == "tsepn" and data["model"] == name and data["epoch"] == 7
    assert set(data["versions"]) == {"torch", "tsepn", "python"} and "git_revision" in data
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.init_args == model.init_args
    torch.testing.assert_close(outputs(loaded), outputs(model), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temporary left behind


def test_saved_preset_reloads_as_preset(tmp_path):
    model = build_model("proposed-monaural", n_layers=1, fusion_layers=[0], encoder_layers=1, head_layers=1)
    save_model(tmp_path / "m.pt", model)
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.tsepn_name == "proposed-monaural" and loaded.init_args == model.init_args


def test_authors_file_loads_by_arch(upstream_dir):
    model = load_model(upstream_dir / "proposed-monaural.pt", arch="proposed-monaural")
    reference = torch.load(upstream_dir / "proposed-monaural.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.items())


def write(tmp_path, obj, name="bad.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_not_a_dict(tmp_path):
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_model(write(tmp_path, [1, 2, 3]))


def test_no_state_dict(tmp_path):
    with pytest.raises(CheckpointError, match="no 'state_dict'"):
        load_model(write(tmp_path, {"model": "posneg"}))


def test_unknown_model(tmp_path):
    path = write(tmp_path, {"format": "tsepn", "model": "mystery", "model_args": {}, "state_dict": {}})
    with pytest.raises(CheckpointError, match="'mystery' is not registered"):
        load_model(path)


def test_authors_file_without_arch(tmp_path):
    with pytest.raises(CheckpointError, match="arch="):
        load_model(write(tmp_path, {"state_dict": {"enc.filterbank._filters": torch.zeros(1)}}))


def test_unknown_arch(upstream_dir):
    with pytest.raises(ValueError, match="unknown published architecture"):
        load_model(upstream_dir / "proposed-monaural.pt", arch="proposed-stereo")


def test_authors_file_of_another_architecture(upstream_dir):
    with pytest.raises(CheckpointError, match=r"shape mismatches: conv\.0\.weight"):
        load_model(upstream_dir / "proposed-monaural.pt", arch="proposed-binaural")


def test_missing_and_unexpected_keys(tmp_path):
    model = build_model("posneg", **tiny_args())
    save_model(tmp_path / "m.pt", model)
    data = torch.load(tmp_path / "m.pt", weights_only=True)
    state = data["state_dict"]
    for key in [k for k in state if k.startswith("blocks.1.")]:
        del state[key]
    state["surplus.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"missing keys: blocks\.1\..*unexpected keys: surplus\.weight") as err:
        load_model(write(tmp_path, data))
    assert "in all)" in str(err.value)  # long lists are cut to the first few


def test_code_in_pickle_is_refused(tmp_path):
    path = write(tmp_path, {"state_dict": {}, "payload": torch.nn.Linear(2, 2)})
    with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
        load_model(path, arch="proposed-monaural")


def test_save_needs_a_registered_model(tmp_path):
    from tsepn.models.posneg import PosNegTSE

    with pytest.raises(ValueError, match="build_model"):
        save_model(tmp_path / "m.pt", PosNegTSE(**tiny_args()))
