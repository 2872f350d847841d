"""tsepn.bin.decode: splits, resumability, merge, resume guard."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from tsepn import infer
from tsepn.bin import decode

SR = 16000


class GainModel(torch.nn.Module):
    """A streaming-shaped toy: output = mixture * (std(pos) / std(neg)); counts its calls."""

    in_channels = out_channels = 1
    sample_rate = SR
    calls = 0

    def encode(self, pos, neg):
        return pos.std() / neg.std()

    def init_state(self, batch_size):
        return None

    def forward(self, mix, cond, state=None):
        GainModel.calls += 1
        return mix * cond, state


@pytest.fixture
def toy_checkpoint(tmp_path, monkeypatch):
    """A checkpoint file plus from_checkpoint patched to build the toy model (no trained weights needed)."""
    path = tmp_path / "toy.pt"
    path.write_bytes(b"toy weights v1")
    loaded = []

    def fake_from_checkpoint(cls, ckpt, arch=None, device="cpu", chunk_seconds=None):
        loaded.append((str(ckpt), arch, chunk_seconds))
        return cls(GainModel(), device=device, chunk_seconds=chunk_seconds)

    monkeypatch.setattr(infer.Extractor, "from_checkpoint", classmethod(fake_from_checkpoint))
    GainModel.calls = 0
    return path, loaded


def make_set_dir(tmp_path, n=5):
    set_dir = tmp_path / "data" / "test_m2e2"
    set_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for role, seconds in (("mix", 0.5), ("pos", 0.6), ("neg", 0.6)):
        lines = []
        for i in range(n):
            audio = rng.standard_normal(int(seconds * SR)).astype(np.float32) * (0.2 if role == "neg" else 0.1)
            path = set_dir / f"{role}_{i}.wav"
            sf.write(path, audio, SR, subtype="FLOAT")
            lines.append(f"ex{i} {path}")
        (set_dir / f"{role}.scp").write_text("\n".join(lines) + "\n")
    return set_dir


def test_split_keys_is_contiguous_and_complete():
    keys = [f"k{i}" for i in range(7)]
    parts = [decode.split_keys(keys, 3, j) for j in (1, 2, 3)]
    assert parts == [["k0", "k1", "k2"], ["k3", "k4"], ["k5", "k6"]]
    with pytest.raises(decode.DecodeError, match="--job must be in 1..3"):
        decode.split_keys(keys, 3, 4)


def test_decode_writes_audio_and_scp_and_resumes(tmp_path, toy_checkpoint):
    ckpt, loaded = toy_checkpoint
    set_dir = make_set_dir(tmp_path)
    out = tmp_path / "exp" / "decode_test_m2e2"
    argv = ["--checkpoint", str(ckpt), "--set-dir", str(set_dir), "--out-dir", str(out)]
    assert decode.main(argv) == 0
    scp = dict(line.split() for line in (out / "est.scp").read_text().splitlines())
    assert sorted(scp) == [f"ex{i}" for i in range(5)]
    est, sr = sf.read(scp["ex3"], dtype="float32")
    mix = sf.read(set_dir / "mix_3.wav", dtype="float32")[0]
    pos = sf.read(set_dir / "pos_3.wav", dtype="float32")[0]
    neg = sf.read(set_dir / "neg_3.wav", dtype="float32")[0]
    assert sr == SR and np.allclose(est, mix * pos.std() / neg.std(), atol=1e-6)
    assert GainModel.calls == 5 and loaded[0][2] is None  # whole signal by default
    info = json.loads((out / "decode_info.json").read_text())
    assert info["checkpoint"] == str(ckpt) and len(info["checkpoint_sha256"]) == 64

    # second run: everything already written -> nothing decoded, scp unchanged
    (out / "audio" / "ex1.wav").unlink()  # ...except one example lost in between
    assert decode.main(argv) == 0
    assert GainModel.calls == 6
    assert dict(line.split() for line in (out / "est.scp").read_text().splitlines()) == scp


def test_resume_with_another_checkpoint_or_chunking_is_refused(tmp_path, toy_checkpoint):
    ckpt, _ = toy_checkpoint
    set_dir = make_set_dir(tmp_path, n=2)
    out = tmp_path / "dec"
    base = ["--checkpoint", str(ckpt), "--set-dir", str(set_dir), "--out-dir", str(out)]
    assert decode.main(base) == 0
    assert decode.main(base + ["--chunk-seconds", "0.1"]) == 1
    ckpt.write_bytes(b"toy weights v2")
    with pytest.raises(decode.DecodeError, match="different checkpoint_sha256"):
        decode.decode(decode.parse_args(base), decode.DecodeConfig(), base)
    assert decode.main(base + ["--overwrite"]) == 0


def test_jobs_and_merge(tmp_path, toy_checkpoint):
    ckpt, loaded = toy_checkpoint
    set_dir = make_set_dir(tmp_path)
    out = tmp_path / "dec"
    config = tmp_path / "decode.yaml"
    config.write_text("chunk_seconds: 0.25\naudio_format: flac\n")
    for job in (1, 2):
        argv = ["--checkpoint", str(ckpt), "--set-dir", str(set_dir), "--out-dir", str(out), "--config", str(config), "--nj", "2", "--job", str(job)]
        assert decode.main(argv) == 0
    assert loaded[-1][2] == 0.25
    assert len((out / "est.1.scp").read_text().splitlines()) == 3 and len((out / "est.2.scp").read_text().splitlines()) == 2
    assert not (out / "est.scp").exists()
    assert decode.main(["--merge", "--out-dir", str(out), "--nj", "2", "--set-dir", str(set_dir)]) == 0
    merged = (out / "est.scp").read_text().splitlines()
    assert [line.split()[0] for line in merged] == [f"ex{i}" for i in range(5)]
    assert all(line.endswith(".flac") for line in merged)
    assert decode.main(["--merge", "--out-dir", str(out), "--nj", "3"]) == 1  # est.3.scp missing


def test_merge_after_one_job_keeps_its_table(tmp_path, toy_checkpoint):
    """The recipe runs --merge after the jobs whatever --nj is; one job writes est.scp itself."""
    ckpt, _ = toy_checkpoint
    set_dir = make_set_dir(tmp_path, n=2)
    out = tmp_path / "dec"
    assert decode.main(["--checkpoint", str(ckpt), "--set-dir", str(set_dir), "--out-dir", str(out), "--nj", "1"]) == 0
    table = (out / "est.scp").read_text()
    assert decode.main(["--merge", "--out-dir", str(out), "--nj", "1", "--set-dir", str(set_dir)]) == 0
    assert (out / "est.scp").read_text() == table and len(table.splitlines()) == 2


def test_bad_inputs(tmp_path, toy_checkpoint):
    ckpt, _ = toy_checkpoint
    set_dir = make_set_dir(tmp_path, n=2)
    (set_dir / "neg.scp").write_text((set_dir / "neg.scp").read_text().replace("ex1 ", "exZ "))
    with pytest.raises(ValueError, match="keys do not match"):
        decode.input_lists(decode.parse_args(["--set-dir", str(set_dir), "--out-dir", "x"]))
    with pytest.raises(decode.DecodeError, match="missing --neg"):
        decode.input_lists(decode.parse_args(["--mix", "a", "--pos", "b", "--out-dir", "x"]))
    config = tmp_path / "bad.yaml"
    config.write_text("chunk_secs: 1\n")
    assert decode.main(["--checkpoint", str(ckpt), "--set-dir", str(set_dir), "--out-dir", str(tmp_path / "o"), "--config", str(config)]) == 1


def test_real_tiny_model_decodes_resumes_and_scores(tmp_path):
    """build_model + save_model -> tsepn-decode -> tsepn-score, on a model small enough for CPU tests."""
    from tsepn.bin import score
    from tsepn.models import build_model
    from tsepn.models.checkpoint import save_model

    torch.manual_seed(0)
    model = build_model(
        "posneg", n_layers=1, lstm_hidden=8, emb_dim=8, n_heads=2, approx_qk_dim=16, fusion_layers=[0],
        encoder_layers=1, encoder_lstm_hidden=8, encoder_emb_dim=8, head_layers=1, head_heads=2,
    )
    ckpt = tmp_path / "tiny.pt"
    save_model(ckpt, model)
    set_dir = make_set_dir(tmp_path, n=3)
    out = tmp_path / "decode"
    argv = ["--checkpoint", str(ckpt), "--set-dir", str(set_dir), "--out-dir", str(out), "--chunk-seconds", "0.128"]  # 32 hops of 64
    assert decode.main(argv) == 0
    written = {p.name: p.stat().st_mtime_ns for p in (out / "audio").iterdir()}
    assert sorted(written) == ["ex0.wav", "ex1.wav", "ex2.wav"]
    assert decode.main(argv) == 0  # resume: nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in (out / "audio").iterdir()} == written

    # the decoded set scores end to end (the mixture doubles as the reference here)
    score_argv = ["--ref", str(set_dir / "mix.scp"), "--est", str(out / "est.scp"), "--out-dir", str(tmp_path / "score"), "--metrics", "snr", "sdr"]
    summary = score.run(score.parse_args(score_argv), score_argv)
    assert summary["snr"]["n"] == 3 and np.isfinite(summary["sdr"]["mean"])


def test_merge_after_a_single_job(tmp_path, toy_checkpoint):
    """`--nj 1` (the recipe with --nj 1): the one job writes est.scp; merging it only checks the keys."""
    ckpt, _ = toy_checkpoint
    set_dir = make_set_dir(tmp_path, n=3)
    out = tmp_path / "dec"
    assert decode.main(["--checkpoint", str(ckpt), "--set-dir", str(set_dir), "--out-dir", str(out), "--nj", "1", "--job", "1"]) == 0
    before = (out / "est.scp").read_text()
    assert decode.main(["--merge", "--out-dir", str(out), "--nj", "1", "--set-dir", str(set_dir)]) == 0
    assert (out / "est.scp").read_text() == before and len(before.splitlines()) == 3
    (set_dir / "mix.scp").write_text((set_dir / "mix.scp").read_text() + "exX x.wav\n")
    assert decode.main(["--merge", "--out-dir", str(out), "--nj", "1", "--set-dir", str(set_dir)]) == 1
