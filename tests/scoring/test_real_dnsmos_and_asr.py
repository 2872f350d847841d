"""DNSMOS and WER on real speech (eSpeak NG sentences): the shipped DNSMOS model agrees with the
`speechmos` package called directly, PocketSphinx recognises clean speech, and both metrics get
worse with noise. Nothing is downloaded: the models come with the pip wheels."""
import numpy as np
import pytest

from scoring_speech import SENTENCES, add_white_noise, say
from tsepn.scoring import asr as asr_mod
from tsepn.scoring import scorer as suite
from tsepn.scoring.dnsmos import DnsMos, load_dnsmos, speechmos_model_path

SR = 16000


@pytest.fixture(scope="module")
def sentences():
    return [say(text) for text in SENTENCES]


@pytest.fixture(scope="module")
def dnsmos():
    scorer, reason = load_dnsmos()
    assert scorer is not None, reason
    return scorer


def test_default_dnsmos_is_the_speechmos_model(dnsmos):
    assert speechmos_model_path() is not None and dnsmos.model_path == str(speechmos_model_path())


def test_dnsmos_agrees_with_speechmos_called_directly(sentences, dnsmos):
    from speechmos import dnsmos as speechmos_dnsmos

    clean = sentences[0]
    noisy = add_white_noise(clean, 5.0, seed=3)
    noisy = noisy / np.abs(noisy).max() * 0.9  # speechmos refuses samples outside [-1, 1]
    long = np.concatenate([clean, sentences[1], clean, sentences[2]])[: int(10.5 * SR)]  # 2 windows, no tiling
    for signal in (clean, noisy, long):
        ours = dnsmos(signal, SR)
        theirs = speechmos_dnsmos.run(signal.astype(np.float32), SR)
        assert ours["ovrl"] == pytest.approx(theirs["ovrl_mos"], abs=1e-3)
        assert ours["sig"] == pytest.approx(theirs["sig_mos"], abs=1e-3)
        assert ours["bak"] == pytest.approx(theirs["bak_mos"], abs=1e-3)


def test_dnsmos_ranks_clean_speech_above_noisy_speech(sentences, dnsmos):
    for clean in sentences:
        noisy = add_white_noise(clean, 0.0, seed=4)
        clean_scores, noisy_scores = dnsmos(clean, SR), dnsmos(noisy, SR)
        assert clean_scores["ovrl"] > noisy_scores["ovrl"] + 0.5
        assert clean_scores["bak"] > noisy_scores["bak"] + 1.0
    # the two-channel score is the mean of the channels
    both = dnsmos(np.stack([sentences[0], add_white_noise(sentences[0], 0.0, seed=4)]), SR)
    one, other = dnsmos(sentences[0], SR), dnsmos(add_white_noise(sentences[0], 0.0, seed=4), SR)
    assert both["ovrl"] == pytest.approx((one["ovrl"] + other["ovrl"]) / 2, abs=1e-6)


def test_pocketsphinx_wer_is_low_on_clean_speech_and_rises_with_noise(sentences):
    recogniser = asr_mod.build_asr("pocketsphinx")
    clean = [asr_mod.wer(text, recogniser.transcribe(f"c{i}", audio[None], SR)) for i, (text, audio) in enumerate(zip(SENTENCES, sentences))]
    noisy = [asr_mod.wer(text, recogniser.transcribe(f"n{i}", add_white_noise(audio, 5.0, seed=i)[None], SR))
             for i, (text, audio) in enumerate(zip(SENTENCES, sentences))]
    print(f"pocketsphinx WER clean {np.round(clean, 2)}, white noise at 5 dB {np.round(noisy, 2)}")
    assert np.mean(clean) <= 0.2
    assert np.mean(noisy) >= np.mean(clean) + 0.3


def test_example_scorer_wer_against_the_asr_of_the_reference(sentences):
    recogniser = asr_mod.build_asr("pocketsphinx")
    clean = sentences[2]
    scorer = suite.ExampleScorer(["wer"], SR, asr=recogniser, wer_reference="asr_of_reference")
    same, _ = scorer("k", clean[None], clean[None])
    assert same["wer"] == 0.0
    noisy, errors = scorer("k", add_white_noise(clean, 0.0, seed=9)[None], clean[None])
    assert not errors and noisy["wer"] >= 0.5
    silent, _ = scorer("k", clean[None], np.zeros((1, len(clean))))
    assert silent["wer"] is None  # no reference speech: undefined, not an error


def test_score_cli_with_dnsmos_and_wer_in_parallel_workers(sentences, tmp_path):
    """tsepn-score --metrics dnsmos wer with no file brought by hand; --nj 2 (each worker loads the
    ONNX session and the recogniser once) gives the same table as one process."""
    import soundfile as sf

    from tsepn.bin import score

    lines = {"ref": [], "est": []}
    for i, clean in enumerate(sentences[:2]):
        for role, audio in (("ref", clean), ("est", add_white_noise(clean, 20.0, seed=i))):
            path = tmp_path / f"{role}{i}.wav"
            sf.write(path, audio, SR, subtype="FLOAT")
            lines[role].append(f"utt{i} {path}")
    for role, rows in lines.items():
        (tmp_path / f"{role}.scp").write_text("\n".join(rows) + "\n")
    tables = []
    for nj in ("1", "2"):
        argv = ["--ref", str(tmp_path / "ref.scp"), "--est", str(tmp_path / "est.scp"), "--out-dir", str(tmp_path / f"nj{nj}"),
                "--metrics", "dnsmos", "wer", "--asr", "pocketsphinx", "--asr-opt", "maxhmmpf=3000", "--nj", nj]
        summary = score.run(score.parse_args(argv), argv)
        assert summary["dnsmos"]["n"] == 2 and summary["dnsmos_sig"]["n"] == 2 and summary["wer"]["n"] == 2
        assert "unavailable" not in summary
        assert summary["computed"]["wer"] == "ASR pocketsphinx [maxhmmpf=3000]; reference = asr_of_reference"
        assert "speechmos" in summary["computed"]["dnsmos"]
        tables.append((tmp_path / f"nj{nj}" / "per_utt.csv").read_text())
    assert tables[0] == tables[1]
    assert tables[0].splitlines()[0] == "utt,dnsmos,dnsmos_sig,dnsmos_bak,wer"
