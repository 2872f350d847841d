"""Real English speech for the scoring tests: eSpeak NG (the `espeakng-loader` wheel bundles the
library and its voice data) driven through its C API with ctypes, resampled to 16 kHz.

Deterministic for a given text, voice and rate. The "+f2" voice variant at 175 words per minute is
the one PocketSphinx's US English model recognises best among the variants tried (WER 0 on the
sentences below; the default male voice gave WER ~0.9).
"""
from __future__ import annotations

import ctypes
from typing import List, Optional

import numpy as np

SENTENCES = (
    "i would like to buy a ticket to new york city",
    "please call me tomorrow morning at nine o'clock",
    "the weather is nice today and the sun is shining",
)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE = 1
_ESPEAK_ENDPAUSE = 0x1000
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class Espeak:
    """One eSpeak NG instance of this process (the C library keeps global state)."""

    _instance: Optional["Espeak"] = None

    def __init__(self):
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({self.sample_rate})")
        self._chunks: List[np.ndarray] = []

        def collect(wav, n, events):
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._callback = _CALLBACK(collect)  # kept alive as long as the instance
        self.lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> "Espeak":
        if cls._instance is None:
            cls._instance = Espeak()
        return cls._instance

    def say(self, text: str, voice: str = "en-us+f2", rate: int = 175, sample_rate: int = 16000) -> np.ndarray:
        import soxr

        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"eSpeak NG has no voice {voice!r}")
        self.lib.espeak_SetParameter(_ESPEAK_RATE, rate, 0)
        self._chunks.clear()
        data = text.encode() + b"\0"
        if self.lib.espeak_Synth(data, len(data), 0, 0, 0, _ESPEAK_ENDPAUSE, None, None) != 0:
            raise RuntimeError(f"espeak_Synth failed on {text!r}")
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        return soxr.resample(audio, self.sample_rate, sample_rate).astype(np.float32)


def say(text: str, **kwargs) -> np.ndarray:
    return Espeak.get().say(text, **kwargs)


def add_white_noise(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """clean + white noise at exactly `snr_db` (energy ratio over the whole signal)."""
    noise = np.random.default_rng(seed).standard_normal(clean.shape)
    noise *= np.sqrt(np.sum(clean.astype(np.float64) ** 2) / (np.sum(noise**2) * 10 ** (snr_db / 10)))
    return (clean + noise).astype(np.float32)
