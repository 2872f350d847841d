"""WER, ASR back ends, DNSMOS plumbing and the per-example scorer."""
import numpy as np
import pytest

from tsepn.scoring import asr, dnsmos, metrics, scorer as suite

SR = 16000


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("Hello, world!", "HELLO WORLD"),
        ("  it's   a\ttest. ", "IT'S A TEST"),
        ("'quoted' well-known; (aside)", "QUOTED WELL KNOWN ASIDE"),
        ("", ""),
    ],
)
def test_normalize_text(raw, normalised):
    assert asr.normalize_text(raw) == normalised


def test_word_error_counts():
    ref = "the cat sat on the mat".split()
    assert asr.word_errors(ref, ref)["errors"] == 0
    assert asr.word_errors(ref, "the cat sat on mat".split()) == {"sub": 0, "del": 1, "ins": 0, "errors": 1, "ref_words": 6}
    assert asr.word_errors(ref, "the cat sat on the big mat".split())["ins"] == 1
    assert asr.word_errors(ref, "the dog sat on the hat".split())["sub"] == 2
    assert asr.word_errors(ref, [])["del"] == 6
    assert asr.word_errors([], ["a", "b"])["ins"] == 2


def test_wer_normalises_before_counting():
    assert asr.wer("The cat, sat.", "the CAT sat") == 0.0
    assert asr.wer("a b c d", "a x c") == pytest.approx(2 / 4)  # one substitution, one deletion
    assert asr.wer("a b", "a b c d e") == pytest.approx(3 / 2)  # insertions can exceed 100%
    assert asr.wer("", "anything") is None


def test_transcript_backend_and_registry(tmp_path):
    text = tmp_path / "hyp.txt"
    text.write_text("u1 HELLO THERE\nu2 GOOD BYE\n")
    backend = asr.build_asr("transcript", {"text": str(text)})
    assert backend.transcribe("u2", np.zeros((1, 10)), SR) == "GOOD BYE"
    with pytest.raises(metrics.MetricError, match="no transcript for 'u3'"):
        backend.transcribe("u3", np.zeros((1, 10)), SR)
    assert {"transcript", "pocketsphinx", "whisper", "faster_whisper", "espnet"} <= set(asr.ASR_BACKENDS)
    with pytest.raises(KeyError, match="known: .*pocketsphinx"):
        asr.build_asr("nonexistent")


def test_dnsmos_unavailable_reasons(tmp_path):
    scorer, reason = dnsmos.load_dnsmos(str(tmp_path / "missing.onnx"))
    assert scorer is None and "missing.onnx: DNSMOS model file not found" in reason


class FakeSession:
    """Stands in for onnxruntime.InferenceSession: raw overall score = 3 + mean of the window."""

    def __init__(self):
        self.lengths = []

    def get_inputs(self):
        return [type("Input", (), {"name": "input_1"})()]

    def run(self, outputs, feed):
        window = feed["input_1"]
        self.lengths.append(window.shape[1])
        return [np.array([[1.0, 2.0, 3.0 + float(window.mean())]], dtype=np.float32)]


def test_dnsmos_windows_and_polynomial_mapping():
    session = FakeSession()
    scorer = dnsmos.DnsMos(session=session)
    expected = np.polyval(dnsmos.POLY["ovrl"], 3.0)
    # 3 s of silence: tiled to >= 9.01 s (12 s), then 12 - 9.01 -> 3 windows with a 1 s hop
    scores = scorer(np.zeros(3 * SR), SR)
    assert scores["ovrl"] == pytest.approx(expected, abs=1e-6)
    assert scores["sig"] == pytest.approx(np.polyval(dnsmos.POLY["sig"], 1.0), abs=1e-6)
    assert scores["bak"] == pytest.approx(np.polyval(dnsmos.POLY["bak"], 2.0), abs=1e-6)
    assert session.lengths == [int(9.01 * SR)] * 3
    # two channels are scored separately and averaged
    audio = np.stack([np.zeros(10 * SR), np.full(10 * SR, 0.5)])
    assert scorer(audio, SR)["ovrl"] == pytest.approx((expected + np.polyval(dnsmos.POLY["ovrl"], 3.5)) / 2, abs=1e-5)


def test_metric_columns_order_and_improvements():
    assert suite.metric_columns(["stoi", "snr", "sdr"], with_mixture=True) == ["snr", "snri", "sdr", "sdri", "stoi"]
    assert suite.metric_columns(["si_snr", "itd", "ild"], with_mixture=False) == ["si_snr", "itd_err_us", "ild_err_db"]
    assert suite.metric_columns(["dnsmos", "pesq_nb_raw", "pesq_nb", "pesq"], True) == [
        "pesq", "pesq_nb", "pesq_nb_raw", "dnsmos", "dnsmos_sig", "dnsmos_bak"]
    with pytest.raises(ValueError, match="unknown metric"):
        suite.metric_columns(["snr", "bogus"], True)


def test_example_scorer_improvements_and_recorded_failures(tmp_path):
    rng = np.random.default_rng(0)
    ref = 0.1 * rng.standard_normal((1, 3000))  # 0.19 s: too short for PESQ
    mix = ref + 0.1 * rng.standard_normal(ref.shape)
    est = ref + 0.01 * rng.standard_normal(ref.shape)
    text = tmp_path / "text"
    text.write_text("k ONE TWO THREE\n")
    hyp = tmp_path / "hyp"
    hyp.write_text("k ONE TOO THREE\n")
    scorer = suite.ExampleScorer(
        ["snr", "pesq", "wer"], SR, asr=asr.build_asr("transcript", {"text": str(hyp)}), transcripts={"k": "ONE TWO THREE"},
        wer_reference="transcript_if_whole",
    )
    values, errors = scorer("k", est, ref, mix)
    assert values["snri"] == pytest.approx(metrics.snr(est, ref) - metrics.snr(mix, ref))
    assert values["pesq"] is None and "BufferTooShortError" in errors["pesq"]
    assert values["wer"] == pytest.approx(1 / 3)
    assert set(errors) == {"pesq"}


def test_example_scorer_needs_its_resources():
    with pytest.raises(ValueError, match="wer"):
        suite.ExampleScorer(["wer"], SR)
    with pytest.raises(ValueError, match="transcript_if_whole needs reference transcripts"):
        suite.ExampleScorer(["wer"], SR, asr=object(), wer_reference="transcript_if_whole")
    with pytest.raises(ValueError, match="dnsmos"):
        suite.ExampleScorer(["dnsmos"], SR)
