"""Per-example evaluation metrics for target speaker extraction.

Every function takes numpy float arrays, mono `[T]` or multichannel `[C, T]`
(estimate first, reference second); multichannel metrics are computed per
channel and averaged. A metric that is mathematically undefined for an
example (a silent reference for the SNR family, say) returns None: callers
record it as undefined and leave it out of means, never as NaN.

Definitions (all in dB unless noted):
- snr:    10 log10(|s|^2 / |s - s_hat|^2), no scaling, no mean removal.
- si_sdr: scale-invariant SDR of Le Roux et al. 2019 ("SDR - half-baked or
          well done?"): both signals made zero-mean, s_hat projected on s.
- si_snr: the same quantity under the name the TSE literature (and the
          paper) uses; zero-mean SI-SNR and zero-mean SI-SDR coincide, both
          are reported so that tables of either tradition can be filled.
- sdr:    BSS-eval (v4 style) SDR for one source: the reference may be
          filtered by a 512-tap FIR distortion filter before the error is
          measured. This is what the authors' script prints as "SISDRi"
          (torchmetrics signal_distortion_ratio, zero_mean=True).
- pesq:   ITU-T P.862.2 wide-band MOS-LQO (`pesq` package), 16 kHz.
- stoi / estoi: (extended) short-time objective intelligibility (`pystoi`).
- dnsmos: DNSMOS P.835 overall MOS from a local ONNX model (never downloaded).
- wer:    word error rate of an ASR back end's transcript of the estimate.
- itd_err_us / ild_err_db: binaural cue errors as LookOnceToHear reports
          them: |ITD(est) - ITD(ref)| in microseconds (cross-correlation peak
          within +-1 ms) and |ILD(est) - ILD(ref)| in dB (energy ratio L/R).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.linalg

from tsepn.fileio import read_table
from tsepn.registry import Registry

log = logging.getLogger(__name__)

# Mean power below which a signal counts as silent (about -120 dBFS).
SILENCE_POWER = 1e-12
# Floor on ratios before taking logs, so that a perfect estimate gives a large
# finite number (about 150 dB) rather than infinity.
_TINY = 1e-15


class MetricError(ValueError):
    """A metric could not be computed for one example; the message says why."""


# --------------------------------------------------------------------------- helpers


def _as_channels(x: np.ndarray) -> np.ndarray:
    """View `[T]` or `[C, T]` as float64 `[C, T]`."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x[None]
    if x.ndim != 2:
        raise MetricError(f"expected audio of shape [T] or [C, T], got {x.shape}")
    return x


def _paired(est: np.ndarray, ref: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    est, ref = _as_channels(est), _as_channels(ref)
    if est.shape != ref.shape:
        raise MetricError(f"estimate {est.shape} and reference {ref.shape} differ in shape")
    return est, ref


def _is_silent(x: np.ndarray) -> bool:
    return float(np.mean(np.square(x))) <= SILENCE_POWER


def _ratio_db(num: float, den: float) -> float:
    return float(10.0 * np.log10(max(num, _TINY) / max(den, _TINY)))


def _per_channel(fn: Callable[[np.ndarray, np.ndarray], Optional[float]], est, ref) -> Optional[float]:
    """Average `fn` over channels; undefined if it is undefined on any channel."""
    est, ref = _paired(est, ref)
    values = [fn(e, r) for e, r in zip(est, ref)]
    if any(v is None for v in values):
        return None
    return float(np.mean(values))


# --------------------------------------------------------------------------- SNR family


def snr(est: np.ndarray, ref: np.ndarray) -> Optional[float]:
    """Plain SNR; undefined for a silent reference."""

    def one(e, r):
        if _is_silent(r):
            return None
        return _ratio_db(np.sum(r**2), np.sum((e - r) ** 2))

    return _per_channel(one, est, ref)


def si_sdr(est: np.ndarray, ref: np.ndarray, zero_mean: bool = True) -> Optional[float]:
    """Scale-invariant SDR (Le Roux et al. 2019); undefined for a silent reference
    or a silent estimate (no scale makes a silent estimate comparable)."""

    def one(e, r):
        if zero_mean:
            e, r = e - e.mean(), r - r.mean()
        if _is_silent(r) or _is_silent(e):
            return None
        alpha = np.dot(e, r) / np.dot(r, r)
        target = alpha * r
        return _ratio_db(np.sum(target**2), np.sum((e - target) ** 2))

    return _per_channel(one, est, ref)


def si_snr(est: np.ndarray, ref: np.ndarray) -> Optional[float]:
    """Zero-mean SI-SNR; identical to zero-mean SI-SDR (see the module docstring)."""
    return si_sdr(est, ref, zero_mean=True)


def sdr(est: np.ndarray, ref: np.ndarray, filter_length: int = 512, zero_mean: bool = True) -> Optional[float]:
    """BSS-eval SDR with a `filter_length`-tap distortion filter, one source.

    The reference's delayed copies (lags 0..L-1) span the allowed distortion;
    the estimate is projected on that span and SDR = |projection|^2 /
    |estimate - projection|^2. With unit-norm signals the projection energy is
    the coherence c = b' R^-1 b (R: Toeplitz autocorrelation of the
    reference, b: cross-correlation), so SDR = 10 log10(c / (1 - c)).
    zero_mean=True matches torchmetrics as called by the authors' script;
    zero_mean=False matches mir_eval's bss_eval_sources.
    """

    def one(e, r):
        if zero_mean:
            e, r = e - e.mean(), r - r.mean()
        if _is_silent(r) or _is_silent(e):
            return None
        e = e / np.linalg.norm(e)
        r = r / np.linalg.norm(r)
        n_fft = 1 << int(np.ceil(np.log2(2 * len(r) - 1)))  # linear, not circular, correlations
        spec_r = np.fft.rfft(r, n_fft)
        spec_e = np.fft.rfft(e, n_fft)
        autocorr = np.fft.irfft(np.abs(spec_r) ** 2, n_fft)[:filter_length]
        crosscorr = np.fft.irfft(np.conj(spec_r) * spec_e, n_fft)[:filter_length]
        taps = scipy.linalg.solve_toeplitz(autocorr, crosscorr)
        coherence = float(np.dot(crosscorr, taps))
        return _ratio_db(coherence, 1.0 - coherence)

    return _per_channel(one, est, ref)


# --------------------------------------------------------------------------- perceptual


def _to_16k(x: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == 16000:
        return x
    from tsepn.audio import resample

    return resample(x.astype(np.float32), sample_rate, 16000).astype(np.float64)


def pesq_wb(est: np.ndarray, ref: np.ndarray, sample_rate: int) -> Optional[float]:
    """Wide-band PESQ (P.862.2); other sample rates are resampled to 16 kHz.

    The `pesq` package raises (e.g. NoUtterancesError) on unusable input; the
    caller records that as a failed metric for the example.
    Note: the authors' script used `pypesq`, which returns the narrow-band raw
    P.862 score, so its PESQ figures are not strictly comparable.
    """
    from pesq import pesq

    est, ref = _paired(est, ref)
    est, ref = _to_16k(est, sample_rate), _to_16k(ref, sample_rate)
    if any(_is_silent(r) for r in ref):
        return None
    return float(np.mean([pesq(16000, r, e, "wb") for e, r in zip(est, ref)]))


def stoi(est: np.ndarray, ref: np.ndarray, sample_rate: int, extended: bool = False) -> Optional[float]:
    """(E)STOI via pystoi (which resamples to 10 kHz internally)."""
    from pystoi import stoi as pystoi_stoi

    est, ref = _paired(est, ref)
    if any(_is_silent(r) for r in ref):
        return None
    return float(np.mean([pystoi_stoi(r, e, sample_rate, extended=extended) for e, r in zip(est, ref)]))


def estoi(est: np.ndarray, ref: np.ndarray, sample_rate: int) -> Optional[float]:
    return stoi(est, ref, sample_rate, extended=True)


# --------------------------------------------------------------------------- DNSMOS

# Non-personalised polynomial mapping of the raw "overall" output of the
# DNSMOS P.835 model (sig_bak_ovr.onnx), from Microsoft's DNS-Challenge
# DNSMOS/dnsmos_local.py (numpy.poly1d order: highest power first).
DNSMOS_OVR_POLY = (-0.06766283, 1.11546468, 0.04602535)
DNSMOS_SECONDS = 9.01  # the model's input length at 16 kHz; 1 s hop between windows


class DnsMos:
    """DNSMOS P.835 overall score from a local ONNX model.

    Audio shorter than 9.01 s is tiled to that length (as Microsoft's script
    does); longer audio is scored in 9.01 s windows with a 1 s hop and the
    mapped scores are averaged. `session` lets tests inject a stand-in for
    onnxruntime.InferenceSession.
    """

    def __init__(self, model_path: Optional[str] = None, session=None):
        if session is None:
            import onnxruntime

            if model_path is None or not Path(model_path).is_file():
                raise MetricError(f"{model_path}: DNSMOS ONNX model not found")
            session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, audio: np.ndarray, sample_rate: int) -> float:
        audio = _to_16k(_as_channels(audio), sample_rate)
        return float(np.mean([self._mono(ch) for ch in audio]))

    def _mono(self, audio: np.ndarray) -> float:
        window = int(DNSMOS_SECONDS * 16000)
        while len(audio) < window:
            audio = np.concatenate([audio, audio])
        n_windows = int(np.floor(len(audio) / 16000 - DNSMOS_SECONDS)) + 1
        scores = []
        for i in range(n_windows):
            segment = audio[i * 16000 : i * 16000 + window]
            if len(segment) < window:
                continue
            feed = {self.input_name: segment.astype(np.float32)[None]}
            raw_ovr = float(np.asarray(self.session.run(None, feed)[0]).reshape(-1)[2])
            scores.append(float(np.polyval(DNSMOS_OVR_POLY, raw_ovr)))
        return float(np.mean(scores))


def load_dnsmos(model_path: Optional[str]) -> Tuple[Optional[DnsMos], str]:
    """(scorer, "") when DNSMOS can run here, else (None, the reason why not)."""
    if not model_path:
        return None, "no DNSMOS model configured (--dnsmos-model)"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None, "onnxruntime is not installed"
    if not Path(model_path).is_file():
        return None, f"{model_path}: DNSMOS model file not found"
    return DnsMos(model_path), ""


# --------------------------------------------------------------------------- WER

_PUNCTUATION = re.compile(r"[^\w\s']|_")


def normalize_text(text: str) -> str:
    """Upper-case, drop punctuation (apostrophes inside words are kept, as in
    LibriSpeech's "DON'T"), collapse whitespace."""
    text = _PUNCTUATION.sub(" ", text.upper())
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def word_errors(ref_words: Sequence[str], hyp_words: Sequence[str]) -> Dict[str, int]:
    """Minimum-edit alignment counts: substitutions, deletions, insertions."""
    n, m = len(ref_words), len(hyp_words)
    # cost[i][j] = (total, sub, del, ins) for ref[:i] vs hyp[:j]
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)] + [None] * m
        for j in range(1, m + 1):
            same = ref_words[i - 1] == hyp_words[j - 1]
            diag = prev[j - 1]
            options = [
                (diag[0] + (0 if same else 1), diag[1] + (0 if same else 1), diag[2], diag[3]),
                (prev[j][0] + 1, prev[j][1], prev[j][2] + 1, prev[j][3]),  # deletion
                (cur[j - 1][0] + 1, cur[j - 1][1], cur[j - 1][2], cur[j - 1][3] + 1),  # insertion
            ]
            cur[j] = min(options)
        prev = cur
    total, sub, dele, ins = prev[m]
    return {"sub": sub, "del": dele, "ins": ins, "errors": total, "ref_words": n}


def wer(ref_text: str, hyp_text: str) -> Optional[float]:
    """Word error rate after normalisation; undefined for an empty reference."""
    ref_words = normalize_text(ref_text).split()
    if not ref_words:
        return None
    counts = word_errors(ref_words, normalize_text(hyp_text).split())
    return counts["errors"] / counts["ref_words"]


class AsrBackend:
    """What an ASR back end provides: a transcript of one example's audio.

    `key` is the example id (oracle back ends look transcripts up by it);
    `audio` is `[C, T]` float; multichannel back ends may average channels.
    Back ends must work offline: load weights only from paths they are given.
    """

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        raise NotImplementedError


ASR_BACKENDS: Registry[AsrBackend] = Registry("ASR back end")


@ASR_BACKENDS.register("transcript")
class TranscriptBackend(AsrBackend):
    """Returns fixed transcripts from a Kaldi `text` file (`<key> <words...>`).

    For tests and oracle runs: with the reference text itself it gives WER 0,
    with a file of hypotheses made elsewhere it scores them.
    """

    def __init__(self, text: str):
        self.path = text
        self.table = read_table(text)

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        if key not in self.table:
            raise MetricError(f"{self.path}: no transcript for {key!r}")
        return self.table[key]


@ASR_BACKENDS.register("whisper")
class WhisperBackend(AsrBackend):
    """openai-whisper from a local checkpoint file (installed by the user;
    tsepn never downloads it). Options: model (path to a .pt), language."""

    def __init__(self, model: str, language: str = "en"):
        try:
            import whisper
        except ImportError:
            raise MetricError("the whisper back end needs `pip install openai-whisper`") from None
        if not Path(model).is_file():
            raise MetricError(f"{model}: whisper checkpoint not found (give a local file; nothing is downloaded)")
        self.model = whisper.load_model(model, device="cpu")
        self.language = language

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        mono = _to_16k(_as_channels(audio), sample_rate).mean(axis=0).astype(np.float32)
        return self.model.transcribe(mono, language=self.language, fp16=False)["text"]


def build_asr(name: str, options: Optional[Dict[str, str]] = None) -> AsrBackend:
    return ASR_BACKENDS.build(name, **(options or {}))


# --------------------------------------------------------------------------- binaural


def _require_binaural(x: np.ndarray, what: str) -> np.ndarray:
    x = _as_channels(x)
    if x.shape[0] != 2:
        raise MetricError(f"{what} needs 2-channel (binaural) audio, got {x.shape[0]} channel(s)")
    return x


def interaural_time_difference(audio: np.ndarray, sample_rate: int, max_lag_ms: float = 1.0, phat: bool = False) -> float:
    """ITD in microseconds: lag of the left/right cross-correlation peak
    (|peak|, within +-max_lag_ms). Positive = left ear lags the right ear.
    phat=True whitens the cross-spectrum (GCC-PHAT); LookOnceToHear uses the
    plain cross-correlation, the default here. Correlation is linear (zero-
    padded), not circular."""
    left, right = _require_binaural(audio, "ITD")
    max_lag = int(round(max_lag_ms * 1e-3 * sample_rate))
    n_fft = 1 << int(np.ceil(np.log2(2 * len(left) - 1)))
    cross = np.fft.rfft(left, n_fft) * np.conj(np.fft.rfft(right, n_fft))
    if phat:
        cross = cross / np.maximum(np.abs(cross), _TINY)
    corr = np.fft.irfft(cross, n_fft)
    window = np.concatenate([corr[-max_lag:], corr[: max_lag + 1]]) if max_lag > 0 else corr[:1]
    lag = int(np.argmax(np.abs(window))) - max_lag
    return lag / sample_rate * 1e6


def interaural_level_difference(audio: np.ndarray) -> Optional[float]:
    """ILD in dB: 10 log10(energy left / energy right); undefined if an ear is silent."""
    left, right = _require_binaural(audio, "ILD")
    if _is_silent(left) or _is_silent(right):
        return None
    return _ratio_db(np.sum(left**2), np.sum(right**2))


def itd_error_us(est: np.ndarray, ref: np.ndarray, sample_rate: int) -> Optional[float]:
    est, ref = _paired(est, ref)
    if _is_silent(ref) or _is_silent(est):
        return None
    return abs(interaural_time_difference(est, sample_rate) - interaural_time_difference(ref, sample_rate))


def ild_error_db(est: np.ndarray, ref: np.ndarray) -> Optional[float]:
    est, ref = _paired(est, ref)
    ild_est, ild_ref = interaural_level_difference(est), interaural_level_difference(ref)
    if ild_est is None or ild_ref is None:
        return None
    return abs(ild_est - ild_ref)


# --------------------------------------------------------------------------- one example

IMPROVABLE = {"snr": snr, "si_snr": si_snr, "si_sdr": si_sdr, "sdr": sdr}  # also reported as <name>i
METRIC_NAMES = ("snr", "si_snr", "si_sdr", "sdr", "pesq", "stoi", "estoi", "dnsmos", "wer", "itd", "ild")
DEFAULT_METRICS = ("snr", "si_snr", "si_sdr", "sdr", "pesq", "stoi", "estoi")
_OUTPUT_COLUMNS = {"itd": "itd_err_us", "ild": "ild_err_db"}


def metric_columns(metrics: Sequence[str], with_mixture: bool) -> List[str]:
    """CSV columns for `metrics`, in a fixed order; an improvement (`<name>i`,
    estimate minus mixture) follows its metric when the mixture is given."""
    unknown = sorted(set(metrics) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRIC_NAMES)}")
    columns: List[str] = []
    for name in METRIC_NAMES:
        if name not in metrics:
            continue
        columns.append(_OUTPUT_COLUMNS.get(name, name))
        if name in IMPROVABLE and with_mixture:
            columns.append(name + "i")
    return columns


class ExampleScorer:
    """Computes the selected metrics for one (estimate, reference, mixture).

    Returns ({column: value or None}, {metric: error message}). A metric that
    raises is recorded in the error dict and its columns left undefined; the
    other metrics of the example are still computed.
    """

    def __init__(
        self,
        metrics: Sequence[str],
        sample_rate: int,
        asr: Optional[AsrBackend] = None,
        transcripts: Optional[Dict[str, str]] = None,
        dnsmos: Optional[DnsMos] = None,
    ):
        metric_columns(metrics, False)  # rejects unknown names
        self.metrics = [m for m in METRIC_NAMES if m in metrics]
        self.sample_rate = sample_rate
        self.asr, self.transcripts, self.dnsmos = asr, transcripts, dnsmos
        if "wer" in self.metrics and (asr is None or transcripts is None):
            raise ValueError("metric 'wer' needs an ASR back end and reference transcripts")
        if "dnsmos" in self.metrics and dnsmos is None:
            raise ValueError("metric 'dnsmos' needs a DNSMOS model")
        self._single = {
            "pesq": lambda key, est, ref: pesq_wb(est, ref, self.sample_rate),
            "stoi": lambda key, est, ref: stoi(est, ref, self.sample_rate),
            "estoi": lambda key, est, ref: estoi(est, ref, self.sample_rate),
            "dnsmos": lambda key, est, ref: self.dnsmos(est, self.sample_rate),
            "wer": self._wer,
            "itd": lambda key, est, ref: itd_error_us(est, ref, self.sample_rate),
            "ild": lambda key, est, ref: ild_error_db(est, ref),
        }

    def __call__(
        self, key: str, est: np.ndarray, ref: np.ndarray, mix: Optional[np.ndarray] = None
    ) -> Tuple[Dict[str, Optional[float]], Dict[str, str]]:
        values: Dict[str, Optional[float]] = {}
        errors: Dict[str, str] = {}
        for name in self.metrics:
            try:
                produced = self._compute(name, key, est, ref, mix)
            except Exception as err:  # any metric failure is recorded, never fatal
                errors[name] = f"{type(err).__name__}: {err}".strip()
                produced = {c: None for c in metric_columns([name], mix is not None)}
            values.update(produced)
        return values, errors

    def _compute(self, name, key, est, ref, mix) -> Dict[str, Optional[float]]:
        if name in IMPROVABLE:
            fn = IMPROVABLE[name]
            value = fn(est, ref)
            out = {name: value}
            if mix is not None:
                base = fn(mix, ref)
                out[name + "i"] = None if value is None or base is None else value - base
            return out
        return {_OUTPUT_COLUMNS.get(name, name): self._single[name](key, est, ref)}

    def _wer(self, key: str, est: np.ndarray, ref: np.ndarray) -> Optional[float]:
        if key not in self.transcripts:
            raise MetricError(f"no reference transcript for {key!r}")
        return wer(self.transcripts[key], self.asr.transcribe(key, _as_channels(est), self.sample_rate))
