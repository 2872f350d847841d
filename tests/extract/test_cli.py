"""tsepn-extract end to end: tsepn and authors' checkpoints, enrollment sources, every bad input."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from extract_helpers import noise, read_wav, tiny_posneg, write_wav
from tsepn.bin.extract import main
from tsepn.infer import Extractor
from tsepn.models import build_model
from tsepn.models.checkpoint import save_model

SR = 8000  # the tiny model's rate


@pytest.fixture
def tiny(tmp_path):
    """A saved tiny tsepn model plus matching mono inputs on disk."""
    model = tiny_posneg()
    ckpt = tmp_path / "tiny.pt"
    save_model(ckpt, model)
    audio = {"mix": noise(1, 10405, 1), "pos": noise(1, 6000, 2), "neg": noise(1, 6000, 3)}
    files = {name: write_wav(tmp_path / f"{name}.wav", a, SR) for name, a in audio.items()}
    return model, ckpt, audio, files


def run(ckpt, files, out, *extra):
    return main(["--checkpoint", str(ckpt), "--mix", str(files["mix"]), "--pos", str(files["pos"]),
                 "--neg", str(files["neg"]), "--out", str(out), *map(str, extra)])


def test_round_trip_whole_and_chunked(tiny, tmp_path):
    model, ckpt, audio, files = tiny
    assert run(ckpt, files, tmp_path / "whole.wav") == 0
    assert run(ckpt, files, tmp_path / "chunked.wav", "--chunk-seconds", 0.25) == 0
    info = sf.info(str(tmp_path / "whole.wav"))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 1, 10405, "FLOAT")
    whole, _ = read_wav(tmp_path / "whole.wav")
    chunked, _ = read_wav(tmp_path / "chunked.wav")
    direct = Extractor(model)(audio["mix"], audio["pos"], audio["neg"])
    np.testing.assert_array_equal(whole, direct)  # float WAV: the model's output, bit for bit
    assert np.abs(chunked - whole).max() <= 1e-5
    assert np.abs(whole).max() > 1e-3


def test_enrollments_cut_from_one_recording(tiny, tmp_path):
    _, ckpt, audio, files = tiny
    recording = np.concatenate([audio["neg"][:, :3000], audio["pos"], noise(1, 500, 9), audio["neg"][:, 3000:]], axis=1)
    rec = write_wav(tmp_path / "meeting.wav", recording, SR)
    segs = tmp_path / "meeting.segments"
    segs.write_text("n1 meeting 0.000 0.375 neg\np1 meeting 0.375 1.125 pos\nn2 meeting 1.1875 1.5625 neg\n")
    out = tmp_path / "from_segments.wav"
    assert main(["--checkpoint", str(ckpt), "--mix", str(files["mix"]), "--enroll", str(rec),
                 "--enroll-segments", str(segs), "--out", str(out)]) == 0
    assert run(ckpt, files, tmp_path / "from_files.wav") == 0
    np.testing.assert_array_equal(read_wav(out)[0], read_wav(tmp_path / "from_files.wav")[0])


def test_binaural_model_writes_two_channels(tmp_path):
    model = tiny_posneg(channels=2)
    save_model(tmp_path / "bin.pt", model)
    files = {n: write_wav(tmp_path / f"{n}.wav", noise(2, 4000, i), SR) for i, n in enumerate(("mix", "pos", "neg"))}
    assert run(tmp_path / "bin.pt", files, tmp_path / "out.wav") == 0
    assert sf.info(str(tmp_path / "out.wav")).channels == 2


def test_improved_authors_file_with_arch(tmp_path):
    """An authors'-format improved-monaural file runs through --arch improved-monaural."""
    model = build_model("improved-monaural").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "improved-monaural.pt")
    audio = {"mix": noise(1, 4000, 1), "pos": noise(1, 8000, 2), "neg": noise(1, 8000, 3)}
    files = {name: write_wav(tmp_path / f"{name}.wav", a, 16000) for name, a in audio.items()}
    out = tmp_path / "out.wav"
    assert run(tmp_path / "improved-monaural.pt", files, out, "--arch", "improved-monaural") == 0
    with torch.inference_mode():
        cond = model.encode(*(torch.from_numpy(audio[n])[None] for n in ("pos", "neg")))
        expected, _ = model(torch.from_numpy(audio["mix"])[None], cond)
    got, sr = read_wav(out)
    assert sr == 16000 and np.abs(got - expected[0].numpy()).max() <= 1e-5


# ------------------------------------------------------------------ the authors' golden fixture


@pytest.fixture(scope="module")
def authors_inputs(upstream_dir, tmp_path_factory):
    io = torch.load(upstream_dir / "proposed-monaural.io.pt", weights_only=True)
    folder = tmp_path_factory.mktemp("authors")
    files = {name: write_wav(folder / f"{name}.wav", io[name][0].numpy(), 16000) for name in ("mix", "pos", "neg")}
    return io, files, folder


@pytest.mark.parametrize("chunk, expected", [(None, "out_full"), (1, "out_chunked_1s")])
def test_authors_proposed_monaural_matches_fixture(upstream_dir, authors_inputs, chunk, expected):
    io, files, folder = authors_inputs
    out = folder / f"out_{expected}.wav"
    extra = ["--arch", "proposed-monaural"] + (["--chunk-seconds", chunk] if chunk else [])
    assert run(upstream_dir / "proposed-monaural.pt", files, out, *extra) == 0
    got, sr = read_wav(out)
    error = np.abs(got - io[expected][0].numpy()).max()
    print(f"proposed-monaural {expected}: max abs error {error:.3g}")
    assert sr == 16000 and got.shape == (1, 32000) and error <= 1e-4


# ------------------------------------------------------------------ bad input: clear error, no output


def fails(capsys, tmp_path, argv, message):
    """main(argv) returns 1, prints `message`, and leaves no output (nor temporary) file behind."""
    before = set(tmp_path.rglob("*"))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err, err
    assert set(tmp_path.rglob("*")) == before


def argv(ckpt, files, out, **replace):
    paths = {**files, **replace}
    return ["--checkpoint", str(ckpt), "--mix", str(paths["mix"]), "--pos", str(paths["pos"]),
            "--neg", str(paths["neg"]), "--out", str(out)]


def test_missing_files(tiny, tmp_path, capsys):
    _, ckpt, _, files = tiny
    out = tmp_path / "out.wav"
    fails(capsys, tmp_path, argv(tmp_path / "nope.pt", files, out), "nope.pt: checkpoint not found")
    fails(capsys, tmp_path, argv(ckpt, files, out, mix=tmp_path / "nope.wav"), "nope.wav: audio file not found")
    fails(capsys, tmp_path, argv(ckpt, files, out, neg=tmp_path / "gone.wav"), "gone.wav: audio file not found")


def test_sample_rate_mismatches(tiny, tmp_path, capsys):
    _, ckpt, audio, files = tiny
    pos16 = write_wav(tmp_path / "pos16k.wav", audio["pos"], 16000)
    fails(capsys, tmp_path, argv(ckpt, files, tmp_path / "out.wav", pos=pos16),
          "pos16k.wav: sample rate 16000 Hz, but the model runs at 8000 Hz")
    all16 = {n: write_wav(tmp_path / f"{n}16.wav", a, 16000) for n, a in audio.items()}
    fails(capsys, tmp_path, argv(ckpt, all16, tmp_path / "out.wav"), "mix16.wav: sample rate 16000 Hz")


def test_channel_count_must_fit_the_model(tiny, tmp_path, capsys):
    _, ckpt, audio, files = tiny
    stereo = write_wav(tmp_path / "stereo.wav", np.repeat(audio["mix"], 2, axis=0), SR)
    fails(capsys, tmp_path, argv(ckpt, files, tmp_path / "out.wav", mix=stereo),
          "stereo.wav: 2 channel(s), but the model is monaural")
    save_model(tmp_path / "bin.pt", tiny_posneg(channels=2))
    fails(capsys, tmp_path, argv(tmp_path / "bin.pt", files, tmp_path / "out.wav"),
          "mix.wav: 1 channel(s), but the model is binaural")


def test_empty_short_and_non_finite_enrollments(tiny, tmp_path, capsys):
    _, ckpt, audio, files = tiny
    out = tmp_path / "out.wav"
    empty = write_wav(tmp_path / "empty.wav", np.zeros((1, 0), np.float32), SR)
    fails(capsys, tmp_path, argv(ckpt, files, out, pos=empty), "empty.wav: audio has no samples")
    short = write_wav(tmp_path / "short.wav", audio["neg"][:, :800], SR)
    fails(capsys, tmp_path, argv(ckpt, files, out, neg=short), "negative enrollment: 800 samples (0.100 s) is too short")
    bad = audio["pos"].copy()
    bad[0, 10] = np.inf
    inf = write_wav(tmp_path / "inf.wav", bad, SR)
    fails(capsys, tmp_path, argv(ckpt, files, out, pos=inf), "inf.wav: audio holds NaN or Inf samples")
    bad[0, 10] = np.nan
    nan = write_wav(tmp_path / "nan.wav", bad, SR)
    fails(capsys, tmp_path, argv(ckpt, files, out, mix=nan), "nan.wav: audio holds NaN or Inf samples")


def test_bad_segments_file(tiny, tmp_path, capsys):
    _, ckpt, audio, files = tiny
    rec = write_wav(tmp_path / "rec.wav", np.concatenate([audio["pos"], audio["neg"]], axis=1), SR)
    segs = tmp_path / "rec.segments"
    segs.write_text("a rec 0 0.75 pos\nb rec 0.75 2.5 neg\n")
    fails(capsys, tmp_path, ["--checkpoint", str(ckpt), "--mix", str(files["mix"]), "--enroll", str(rec),
                             "--enroll-segments", str(segs), "--out", str(tmp_path / "out.wav")],
          "rec.segments:2: span 0.75-2.5 s ends after the recording (1.500 s)")


def test_bad_checkpoints(tiny, tmp_path, capsys):
    _, ckpt, _, files = tiny
    out = tmp_path / "out.wav"
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    fails(capsys, tmp_path, argv(text, files, out), "notes.pt: not a loadable checkpoint")
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    fails(capsys, tmp_path, argv(tmp_path / "list.pt", files, out), "list.pt: expected a dict")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "nostate.pt")
    fails(capsys, tmp_path, argv(tmp_path / "nostate.pt", files, out), "no 'state_dict' entry")
    torch.save({"state_dict": {"x": torch.zeros(3)}}, tmp_path / "bare.pt")
    fails(capsys, tmp_path, argv(tmp_path / "bare.pt", files, out), "not a tsepn checkpoint")
    fails(capsys, tmp_path, argv(tmp_path / "bare.pt", files, out) + ["--arch", "improved-monaural"],
          "state_dict does not fit EarlyFusionTSE")
    fails(capsys, tmp_path, argv(ckpt, files, out) + ["--arch", "proposed-monaural"], "is a tsepn checkpoint")
    with pytest.raises(SystemExit) as err:
        main(argv(tmp_path / "bare.pt", files, out) + ["--arch", "mystery"])
    assert err.value.code == 2 and "invalid choice: 'mystery'" in capsys.readouterr().err


@pytest.mark.parametrize("enrollment", [
    ["--pos", "p.wav", "--neg", "n.wav", "--enroll", "r.wav", "--enroll-segments", "r.segments"],  # both kinds
    ["--pos", "p.wav"],  # --neg missing
    ["--enroll", "r.wav"],  # --enroll-segments missing
    [],  # none
])
def test_enrollment_options_are_checked(tiny, tmp_path, capsys, enrollment):
    _, ckpt, _, files = tiny
    with pytest.raises(SystemExit) as err:
        main(["--checkpoint", str(ckpt), "--mix", str(files["mix"]), "--out", str(tmp_path / "out.wav"), *enrollment])
    assert err.value.code == 2 and not (tmp_path / "out.wav").exists()
    assert "give either --pos and --neg, or --enroll and --enroll-segments" in capsys.readouterr().err


def test_chunk_size_must_fit_a_streaming_model(tiny, tmp_path, capsys):
    _, ckpt, _, files = tiny
    fails(capsys, tmp_path, argv(ckpt, files, tmp_path / "out.wav") + ["--chunk-seconds", "0.2501"],
          "not a multiple of the model's hop (16 samples at 8000 Hz)")


def test_output_must_be_wav_and_device_must_exist(tiny, tmp_path, capsys):
    _, ckpt, _, files = tiny
    with pytest.raises(SystemExit) as err:
        main(argv(ckpt, files, tmp_path / "out.flac"))
    assert err.value.code == 2 and "--out must name a .wav file" in capsys.readouterr().err
    fails(capsys, tmp_path, argv(ckpt, files, tmp_path / "out.wav") + ["--device", "toaster"], "--device 'toaster'")
