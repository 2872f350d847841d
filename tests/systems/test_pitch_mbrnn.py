"""Pitch-aware MBRNN: the four pitch modes, where gradients go, causality of the separator, paper-size build."""
import pytest
import torch

from systems_helpers import ENROLL, MBRNN_TINY, MIX, audio, check_interface_and_gradients, parameter_count
from tsepn.losses import build_loss
from tsepn.models import build_model
from tsepn.models.baselines.mbrnn import CumulativeLayerNorm

FRAMES = 1 + MIX // MBRNN_TINY["hop"]


@pytest.mark.parametrize("mode", ["none", "concat", "joint"])
def test_tiny_forward_backward(mode):
    model, outputs, no_grad = check_interface_and_gradients("pitch_mbrnn", dict(MBRNN_TINY, pitch_mode=mode))
    assert no_grad == []
    assert set(model.param_groups()) == {"speaker", "pitch", "main"}
    if mode == "none":
        assert "f0" not in outputs and model.param_groups()["pitch"] == []
    else:
        assert outputs["f0"].shape == (2, FRAMES) and bool((outputs["f0"] > 0).all())


def pitch_grads_from_the_wave(mode):
    model = build_model("pitch_mbrnn", **dict(MBRNN_TINY, pitch_mode=mode))
    outputs = model.train_outputs({"mix": audio(2, MIX), "pos": audio(2, ENROLL, seed=1)})
    total, _ = build_loss([{"name": "si_snr"}]).evaluate(outputs, {"ref": audio(2, MIX, seed=7)})
    total.backward()
    return [p.grad for p in model.param_groups()["pitch"]]


def test_concat_cuts_the_separation_gradient_and_joint_keeps_it():
    assert all(g is None for g in pitch_grads_from_the_wave("concat"))
    assert any(g is not None and g.abs().sum() > 0 for g in pitch_grads_from_the_wave("joint"))


def test_the_oracle_mode_separates_with_the_true_track():
    model = build_model("pitch_mbrnn", **dict(MBRNN_TINY, pitch_mode="oracle")).eval()
    assert model.inputs == ("mix", "pos", "pitch")
    mix, pos = audio(1, MIX), audio(1, ENROLL, seed=1)
    track = torch.full((1, FRAMES), 150.0)
    with torch.no_grad():
        a = model.train_outputs({"mix": mix, "pos": pos, "pitch": track})["wave"]
        b = model.train_outputs({"mix": mix, "pos": pos, "pitch": track * 2})["wave"]
        with pytest.raises(ValueError, match="cond\\['pitch'\\] is needed"):
            model(mix, model.encode(pos))
        with pytest.raises(ValueError, match="pitch labels' hop must be the model's"):
            model.train_outputs({"mix": mix, "pos": pos, "pitch": track[:, :-1]})
    assert not torch.allclose(a, b)


def test_cumulative_layer_norm_is_causal():
    norm = CumulativeLayerNorm(4)
    x = torch.randn(1, 10, 4)
    y = x.clone()
    y[:, 6:] += 5.0
    assert torch.allclose(norm(x)[:, :6], norm(y)[:, :6])
    # frame 0 alone is normalised by its own statistics
    first = x[0, 0]
    assert torch.allclose(norm(x)[0, 0], (first - first.mean()) / first.var(unbiased=False).add(1e-8).sqrt(), atol=1e-5)


def test_bad_mode_is_named():
    with pytest.raises(ValueError, match="pitch_mode must be one of none, concat, joint, oracle"):
        build_model("pitch_mbrnn", pitch_mode="late")


def test_paper_size_dry_build():
    for mode in ("joint", "none"):
        count = parameter_count(build_model("pitch_mbrnn", pitch_mode=mode, num_speakers=251))
        print(f"pitch_mbrnn paper size ({mode}): {count} parameters")
        assert 7e6 < count < 10e6


def write_tone_set(folder, count: int = 2, seconds: float = 0.5):
    """A rendered set of harmonic tones (target 200 Hz + an interferer at 310 Hz) in tsepn's scp layout."""
    import numpy as np

    from systems_helpers import SR, tone
    from tsepn.audio import write_audio
    from tsepn.fileio import write_table

    rng = np.random.default_rng(0)
    n = int(seconds * SR)
    tables = {name: [] for name in ("mix", "ref", "pos", "neg", "pos_clean")}
    for i in range(count):
        ref = 0.1 * tone(rng, 200.0, n)
        signals = {"ref": ref, "mix": ref + 0.1 * tone(rng, 310.0, n), "pos": 0.1 * tone(rng, 200.0, n),
                   "neg": 0.1 * tone(rng, 310.0, n)}
        signals["pos_clean"] = signals["pos"]
        for name, wave in signals.items():
            path = folder / "audio" / name / f"ex{i}.wav"
            write_audio(path, wave[None].astype("float32"), SR, subtype="FLOAT")
            tables[name].append((f"ex{i}", str(path)))
    for name, rows in tables.items():
        write_table(folder / f"{name}.scp", rows)
    return folder


SWAPPED_DONORS = {"ex0": "ex1", "ex1": "ex0"}


def write_tone_set_and_control(tmp_path):
    """A two-example tone set `test_t` and its `test_t_wrong_enroll` control (each example with the
    other's enrollments, `enroll_from` naming the donor); the tone set has no scenario specs, so
    tsepn.data.sets.make_wrong_enroll cannot build it."""
    from tsepn.fileio import read_table, write_table

    source = write_tone_set(tmp_path / "test_t")
    wrong = tmp_path / "test_t_wrong_enroll"
    wrong.mkdir()
    for name in ("mix", "ref", "pos", "neg", "pos_clean"):
        table = read_table(source / f"{name}.scp")
        write_table(wrong / f"{name}.scp", [(k, table[SWAPPED_DONORS[k]] if name in ("pos", "neg", "pos_clean") else v)
                                            for k, v in table.items()])
    write_table(wrong / "enroll_from", list(SWAPPED_DONORS.items()))
    return source, wrong, SWAPPED_DONORS


@pytest.mark.parametrize("mode", ["joint", "oracle"])
def test_the_stage8_pitch_report(tmp_path, mode):
    from tsepn.bin.system_report import pitch

    model = build_model("pitch_mbrnn", **dict(MBRNN_TINY, pitch_mode=mode)).eval()
    with torch.no_grad():
        report = pitch(model, str(write_tone_set(tmp_path)), None)
    assert report["n_examples"] == 2 and (tmp_path / f"pitch_hop{model.hop}.npz").is_file()  # labels stored once
    figures = report["figures"]
    assert set(figures) == ({"si_snri_true_pitch"} if mode == "oracle" else
                            {"si_snri_true_pitch", "si_snri_estimated_pitch", "pitch_precision_rate"})
    assert all(isinstance(v, float) for v in figures.values())
    if mode == "joint":
        assert 0.0 <= figures["pitch_precision_rate"] <= 1.0


def test_the_oracle_pitch_report_of_a_control_feeds_the_enrollment_targets_track(tmp_path):
    """In `<set>_wrong_enroll` the enrollment is the donor's, so is the oracle track (else it leaks the answer)."""
    import numpy as np

    from tsepn.bin.system_report import pitch

    source, wrong, donors = write_tone_set_and_control(tmp_path)
    model = build_model("pitch_mbrnn", **dict(MBRNN_TINY, pitch_mode="oracle")).eval()
    with torch.no_grad():
        right = pitch(model, str(source), None)["figures"]["si_snri_true_pitch"]
        labels = dict(np.load(source / f"pitch_hop{model.hop}.npz"))
        for key in donors:  # different tracks per example, so the control differs from the right set
            labels[key] = labels[key] * (1.5 if key == "ex0" else 1.0)
        np.savez(source / f"pitch_hop{model.hop}.npz", **labels)
        control = pitch(model, str(wrong), None)["figures"]["si_snri_true_pitch"]
    assert control != pytest.approx(right, abs=1e-6)


def test_stage7_decodes_the_oracle_with_the_enrollment_speakers_true_track(tmp_path):
    """tsepn.bin.decode gives an oracle-pitch model the set's stored labels (`side_inputs`): the
    output is the separation with that track, and a control's is the donor's track."""
    import numpy as np

    from tsepn.audio import read_audio
    from tsepn.bin import decode
    from tsepn.data.pitch import enrollment_tracks
    from tsepn.fileio import read_table
    from tsepn.models.checkpoint import save_model

    source, wrong, donors = write_tone_set_and_control(tmp_path)
    model = build_model("pitch_mbrnn", **dict(MBRNN_TINY, pitch_mode="oracle")).eval()
    save_model(tmp_path / "model.pt", model)
    own = enrollment_tracks(source, model.hop)
    assert {k: v.tolist() for k, v in enrollment_tracks(wrong, model.hop).items()} == \
        {k: own[donors[k]].tolist() for k in donors}
    for set_dir in (source, wrong):
        out = tmp_path / f"decode_{set_dir.name}"
        assert decode.main(["--checkpoint", str(tmp_path / "model.pt"), "--set-dir", str(set_dir),
                            "--out-dir", str(out)]) == 0
        tracks = enrollment_tracks(set_dir, model.hop)
        for key, path in read_table(out / "est.scp").items():
            mix = torch.from_numpy(read_audio(read_table(set_dir / "mix.scp")[key])[0])[None]
            pos = torch.from_numpy(read_audio(read_table(set_dir / "pos.scp")[key])[0])[None]
            with torch.no_grad():
                want = model.run(mix, dict(model.encode(pos), pitch=torch.from_numpy(tracks[key])[None]))[0]
            np.testing.assert_allclose(read_audio(path)[0], want[0].numpy(), atol=1e-5)
