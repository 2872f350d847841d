"""Helpers of the binaural tests."""
from __future__ import annotations

import numpy as np

SR = 16000


def gcc_itd_samples(audio: np.ndarray, max_lag: int = 16) -> int:
    """Lag (samples) of the GCC-PHAT peak between the ears; > 0: the left ear lags."""
    left, right = audio[0].astype(np.float64), audio[1].astype(np.float64)
    n = 1 << int(np.ceil(np.log2(2 * len(left))))
    cross = np.fft.rfft(left, n) * np.conj(np.fft.rfft(right, n))
    corr = np.fft.irfft(cross / np.maximum(np.abs(cross), 1e-12), n)
    window = np.concatenate([corr[-max_lag:], corr[: max_lag + 1]])
    return int(np.argmax(window)) - max_lag
