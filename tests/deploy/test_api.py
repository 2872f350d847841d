"""tsepn.load and the extractor object: inputs, streaming, files, model directories, ONNX backend."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

import tsepn
from deploy_helpers import make_model_dir
from extract_helpers import noise, read_wav, tiny_posneg, write_wav
from tsepn.api import APIError
from tsepn.infer import Extractor
from tsepn.models.checkpoint import save_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    return make_model_dir(root), root


def test_model_directory_layout_and_card(model_dir):
    path, _ = model_dir
    assert {p.name for p in path.iterdir()} == {"model.json", "model.pt", "config.yaml", "README.md", "onnx"}
    card = json.loads((path / "model.json").read_text())
    assert card["model"] == "posneg" and card["streaming"] and card["chunk_seconds"] == 0.004
    assert card["training_data"] == "random weights (a test)"
    readme = (path / "README.md").read_text()
    assert "## Training data" in readme and "random weights (a test)" in readme and "## Scores" in readme
    assert {"manifest.json", "enroll.onnx", "step.onnx"} <= {p.name for p in (path / "onnx").iterdir()}


def test_extract_matches_the_extractor(model_dir):
    """numpy / torch, [T] / [C, T] / [1, C, T] in: same type and layout out, the Extractor's samples."""
    path, root = model_dir
    tse = tsepn.load(path)
    assert tse.chunk_seconds == 0.004 and tse.streaming
    mix, pos, neg = noise(1, 3000, 1), noise(1, 6000, 2), noise(1, 6000, 3)
    reference = Extractor(tse.backend.model, chunk_seconds=0.004)(mix, pos, neg)
    out = tse.extract(mix, pos, neg)
    assert isinstance(out, np.ndarray) and out.shape == (1, 3000)
    np.testing.assert_array_equal(out, reference)
    mono = tse.extract(mix[0], pos[0], neg[0])
    assert mono.shape == (3000,)
    np.testing.assert_array_equal(mono, reference[0])
    batched = tse.extract(torch.from_numpy(mix)[None], torch.from_numpy(pos), torch.from_numpy(neg)[0])
    assert isinstance(batched, torch.Tensor) and batched.shape == (1, 1, 3000)
    np.testing.assert_array_equal(batched[0].numpy(), reference)


def test_checkpoint_file_and_whole_call(tmp_path):
    model = tiny_posneg()
    save_model(tmp_path / "m.pt", model)
    tse = tsepn.load(tmp_path / "m.pt")  # no model dir: chunk None -> one call, like Extractor()
    mix, pos, neg = noise(1, 2000, 1), noise(1, 6000, 2), noise(1, 6000, 3)
    np.testing.assert_array_equal(tse.extract(mix, pos, neg), Extractor(model)(mix, pos, neg))


def test_stream_push(model_dir):
    path, _ = model_dir
    tse = tsepn.load(path)
    mix, pos, neg = noise(1, 3000, 4), noise(1, 6000, 5), noise(1, 6000, 6)
    whole = tse.extract(mix, pos, neg)
    stream = tse.stream(pos, neg)
    parts = [stream.push(mix[:, a:b]) for a, b in ((0, 31), (31, 100), (100, 3000))]
    parts.append(stream.flush())
    np.testing.assert_array_equal(np.concatenate(parts, axis=-1), whole)
    with pytest.raises(APIError, match="flushed"):
        stream.push(mix)


def test_onnx_backend_equals_torch(model_dir):
    path, _ = model_dir
    mix, pos, neg = noise(1, 3000, 7), noise(1, 6000, 8), noise(1, 6000, 9)
    torch_out = tsepn.load(path).extract(mix, pos, neg)
    onnx_out = tsepn.load(path, backend="onnx").extract(mix, pos, neg)
    assert np.abs(onnx_out - torch_out).max() <= 1e-4


def test_enroll_from_one_recording(model_dir, tmp_path):
    path, root = model_dir
    tse = tsepn.load(path)
    rec = np.concatenate([noise(1, 6000, 1), noise(1, 6000, 2)], axis=1)
    segments = tmp_path / "rec.segments"
    segments.write_text("a rec 0 0.75 pos\nb rec 0.75 1.5 neg\n")
    pos, neg = tse.enroll(rec, segments)
    np.testing.assert_array_equal(pos, rec[:, :6000])
    np.testing.assert_array_equal(neg, rec[:, 6000:])
    pos2, neg2 = tse.enroll(write_wav(tmp_path / "rec.wav", rec, 8000), [(0.75, 1.5, "neg"), (0, 0.75, "pos")])
    np.testing.assert_array_equal(pos2, pos)
    np.testing.assert_array_equal(neg2, neg)


def test_extract_file_equals_in_memory(model_dir, tmp_path, capsys):
    """Block reading/writing (blocks unrelated to the chunk) gives the in-memory samples."""
    path, root = model_dir
    tse = tsepn.load(path)
    written = tse.extract_file(root / "mix.wav", tmp_path / "out.wav", pos=root / "pos.wav", neg=root / "neg.wav",
                               block_seconds=0.3)
    got, sr = read_wav(tmp_path / "out.wav")
    mix, pos, neg = (read_wav(root / f"{n}.wav")[0] for n in ("mix", "pos", "neg"))
    assert written == 12000 and sr == 8000
    np.testing.assert_array_equal(got, tse.extract(mix, pos, neg))
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("extract mix.wav: 100%") and 2 <= len(lines) <= 10  # plain lines off a TTY


def test_errors(model_dir, tmp_path):
    path, root = model_dir
    with pytest.raises(APIError, match="no such model file or directory"):
        tsepn.load(tmp_path / "missing")
    with pytest.raises(APIError, match="neither a model directory"):
        tsepn.load(tmp_path)
    tse = tsepn.load(path)
    with pytest.raises(APIError, match="2 channel"):
        tse.extract(noise(2, 100, 1), noise(1, 6000, 2), noise(1, 6000, 3))
    with pytest.raises(APIError, match="negative enrollment: 100 samples"):
        tse.extract(noise(1, 100, 1), noise(1, 6000, 2), noise(1, 100, 3))
    with pytest.raises(APIError, match="not a multiple of the model's hop"):
        tsepn.load(path, chunk_seconds=0.003)
    bad = noise(1, 8000, 1)
    bad[0, 5000] = np.nan
    sf.write(str(tmp_path / "nan.wav"), bad.T, 8000, subtype="FLOAT")
    with pytest.raises(APIError, match="nan.wav: audio holds NaN"):
        tse.extract_file(tmp_path / "nan.wav", tmp_path / "out.wav", pos=root / "pos.wav", neg=root / "neg.wav",
                         block_seconds=0.2, progress=False)
    assert not (tmp_path / "out.wav").exists() and not list(tmp_path.glob(".out.wav*"))
