"""Per-example signal metrics for target speaker extraction.

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
- pesq_nb: ITU-T P.862.1 narrow-band MOS-LQO (`pesq` package, mode "nb").
- pesq_nb_raw: the raw P.862 narrow-band score, what `pypesq` returns and the
          paper reports; recovered exactly from pesq_nb by inverting the
          P.862.1 mapping MOS-LQO = 0.999 + 4 / (1 + exp(-1.4945 raw + 4.6607)).
- stoi / estoi: (extended) short-time objective intelligibility (`pystoi`).
- itd_err_us / ild_err_db: binaural cue errors as LookOnceToHear reports
          them: |ITD(est) - ITD(ref)| in microseconds (cross-correlation peak
          within +-1 ms) and |ILD(est) - ILD(ref)| in dB (energy ratio L/R).
- out_energy_rel_db: 10 log10(|s_hat|^2 / |mixture|^2), for examples whose
          target is absent (the reference is silent and SI-SNR undefined):
          how much of the mixture the model lets through; lower is better.
DNSMOS is in tsepn.scoring.dnsmos, WER and the ASR back ends in tsepn.scoring.asr.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Tuple

import numpy as np
import scipy.linalg

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


def _pesq_mode(est: np.ndarray, ref: np.ndarray, sample_rate: int, mode: str) -> Optional[float]:
    """Mean over channels of the `pesq` package's score in `mode` ("wb" or "nb").

    Wide band runs at 16 kHz (other rates resampled to it); narrow band at
    8 kHz when the audio is at 8 kHz, else at 16 kHz (the `pesq` package
    filters 16-kHz input to the narrow band itself, as pypesq does). The
    package raises (e.g. NoUtterancesError) on unusable input; the caller
    records that as a failed metric for the example.
    """
    from pesq import pesq

    est, ref = _paired(est, ref)
    rate = 8000 if (mode == "nb" and sample_rate == 8000) else 16000
    if rate == 16000:
        est, ref = _to_16k(est, sample_rate), _to_16k(ref, sample_rate)
    if any(_is_silent(r) for r in ref):
        return None
    return float(np.mean([pesq(rate, r, e, mode) for e, r in zip(est, ref)]))


def pesq_wb(est: np.ndarray, ref: np.ndarray, sample_rate: int) -> Optional[float]:
    """Wide-band PESQ (P.862.2 MOS-LQO); other sample rates are resampled to 16 kHz."""
    return _pesq_mode(est, ref, sample_rate, "wb")


def pesq_nb(est: np.ndarray, ref: np.ndarray, sample_rate: int) -> Optional[float]:
    """Narrow-band PESQ as MOS-LQO (P.862.1 mapping of the raw P.862 score)."""
    return _pesq_mode(est, ref, sample_rate, "nb")


# P.862.1: MOS-LQO = A + B / (1 + exp(C * raw + D))
_P862_1 = (0.999, 4.0, -1.4945, 4.6607)


def mos_lqo_from_raw(raw: float) -> float:
    """ITU-T P.862.1 mapping of a raw narrow-band P.862 score to MOS-LQO."""
    a, b, c, d = _P862_1
    return a + b / (1.0 + np.exp(c * raw + d))


def raw_from_mos_lqo(mos: float) -> float:
    """Inverse of `mos_lqo_from_raw`: the raw P.862 score (what pypesq returns).

    Exact for every MOS-LQO strictly inside (0.999, 4.999), which is every
    value the mapping produces; other values are an error.
    """
    a, b, c, d = _P862_1
    if not a < mos < a + b:
        raise MetricError(f"MOS-LQO {mos} lies outside the P.862.1 range ({a}, {a + b}): no raw score maps to it")
    return float((np.log(b / (mos - a) - 1.0) - d) / c)


def pesq_nb_raw(est: np.ndarray, ref: np.ndarray, sample_rate: int) -> Optional[float]:
    """The paper's PESQ: raw narrow-band P.862 (pypesq's number), per channel
    recovered from the `pesq` package's MOS-LQO and averaged."""
    from pesq import pesq

    est, ref = _paired(est, ref)
    rate = 8000 if sample_rate == 8000 else 16000
    if rate == 16000:
        est, ref = _to_16k(est, sample_rate), _to_16k(ref, sample_rate)
    if any(_is_silent(r) for r in ref):
        return None
    return float(np.mean([raw_from_mos_lqo(pesq(rate, r, e, "nb")) for e, r in zip(est, ref)]))


def stoi(est: np.ndarray, ref: np.ndarray, sample_rate: int, extended: bool = False) -> Optional[float]:
    """(E)STOI via pystoi (which resamples to 10 kHz internally)."""
    from pystoi import stoi as pystoi_stoi

    est, ref = _paired(est, ref)
    if any(_is_silent(r) for r in ref):
        return None
    return float(np.mean([pystoi_stoi(r, e, sample_rate, extended=extended) for e, r in zip(est, ref)]))


def estoi(est: np.ndarray, ref: np.ndarray, sample_rate: int) -> Optional[float]:
    return stoi(est, ref, sample_rate, extended=True)

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


# --------------------------------------------------------------------------- target absent


def out_energy_rel_db(est: np.ndarray, mix: np.ndarray) -> Optional[float]:
    """Output energy relative to the mixture, dB: 10 log10(|est|^2 / |mix|^2),
    summed over channels. For examples without the target (the ideal output is
    silence): -inf would be perfect, so a silent output gives a large negative
    finite number (floored like the other ratios). Undefined for a silent mixture."""
    est, mix = _paired(est, mix)
    if _is_silent(mix):
        return None
    return _ratio_db(float(np.sum(est**2)), float(np.sum(mix**2)))
