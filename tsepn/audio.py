"""Audio I/O, resampling and level arithmetic shared by every stage.

Arrays are float32 numpy `[channels, samples]`. Reading goes through soundfile
(any format it knows, flac and wav included) or kaldiio for `file.ark:offset`
specs; resampling through soxr. Writing is atomic (temporary name, rename).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import NamedTuple, Optional, Tuple

import numpy as np
import soundfile as sf

from tsepn.fileio import atomic_path

log = logging.getLogger(__name__)

_ARK_SPEC = re.compile(r"^(?P<file>.+\.ark):(?P<offset>\d+)$")
EPS = 1e-8


class AudioError(ValueError):
    """Unreadable, corrupt or unsuitable audio; the message names the file."""


def read_audio(
    spec: str,
    sample_rate: Optional[int] = None,
    strict: bool = False,
    channels: Optional[int] = None,
) -> Tuple[np.ndarray, int]:
    """Read `spec` (a path or `file.ark:offset`) as float32 `[C, T]`.

    sample_rate: resample to this rate (logged warning), or raise if `strict`.
    channels: require this many channels (1 = mono expected: stereo is an error).
    """
    match = _ARK_SPEC.match(spec)
    if match:
        audio, sr = _read_ark(spec)
    else:
        path = Path(spec)
        if not path.is_file():
            raise AudioError(f"{spec}: audio file not found")
        try:
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            raise AudioError(f"{spec}: unreadable or corrupt audio ({err})") from None
        audio = np.ascontiguousarray(data.T)
    if audio.shape[-1] == 0:
        raise AudioError(f"{spec}: audio has no samples")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{spec}: audio holds NaN or Inf samples")
    if channels is not None and audio.shape[0] != channels:
        raise AudioError(f"{spec}: expected {channels} channel(s), found {audio.shape[0]}")
    if sample_rate is not None and sr != sample_rate:
        if strict:
            raise AudioError(f"{spec}: sample rate {sr} Hz, expected {sample_rate} Hz (--strict)")
        log.warning("%s: resampling %d Hz -> %d Hz", spec, sr, sample_rate)
        audio, sr = resample(audio, sr, sample_rate), sample_rate
    return audio, sr


class AudioInfo(NamedTuple):
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path, sample_rate: Optional[int] = None, strict: bool = False,
               channels: Optional[int] = None) -> AudioInfo:
    """Header of an audio file (no decoding), checked like `read_audio` checks data.

    A rate other than `sample_rate` is a logged warning (it will be resampled on
    reading), or an error with `strict`. Errors (AudioError) name the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioError(f"{path}: unreadable or corrupt audio ({err})") from None
    if info.frames <= 0:
        raise AudioError(f"{path}: audio has no samples")
    if channels is not None and info.channels != channels:
        raise AudioError(f"{path}: expected {channels} channel(s), found {info.channels}")
    if sample_rate is not None and info.samplerate != sample_rate:
        if strict:
            raise AudioError(f"{path}: sample rate {info.samplerate} Hz, expected {sample_rate} Hz (--strict)")
        log.warning("%s: sample rate %d Hz, will be resampled to %d Hz", path, info.samplerate, sample_rate)
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))


def _read_ark(spec: str) -> Tuple[np.ndarray, int]:
    import kaldiio

    try:
        sr, data = kaldiio.load_mat(spec)
    except Exception as err:  # kaldiio raises many kinds for bad offsets/files
        raise AudioError(f"{spec}: cannot read kaldi ark entry ({err})") from None
    data = np.asarray(data)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    data = data.astype(np.float32, copy=False)
    audio = data[None, :] if data.ndim == 1 else np.ascontiguousarray(data.T)
    return audio, int(sr)


def write_audio(path, audio: np.ndarray, sample_rate: int, subtype: Optional[str] = None) -> None:
    """Write `[C, T]` (or `[T]`) audio atomically; format from the suffix (flac, wav)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    path = Path(path)
    fmt = path.suffix.lstrip(".").upper() or "WAV"
    if subtype is None:
        subtype = "PCM_16" if fmt == "FLAC" else "FLOAT"
    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio.T, sample_rate, format=fmt, subtype=subtype)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample `[C, T]` float32 audio with soxr (high quality)."""
    if orig_sr == target_sr:
        return audio
    import soxr

    out = soxr.resample(np.ascontiguousarray(audio.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, audio.shape[0]).T)


def power(x: np.ndarray) -> float:
    """Mean power over all samples."""
    return float(np.mean(np.square(x, dtype=np.float64)))


def db(ratio: float) -> float:
    return 10.0 * np.log10(max(ratio, EPS))


def gain_for_snr(signal: np.ndarray, other: np.ndarray, snr_db: float) -> float:
    """Gain for `other` so that power(signal) / power(gain * other) equals snr_db."""
    p_sig, p_other = power(signal), power(other)
    if p_other <= EPS:
        return 0.0
    return float(np.sqrt(p_sig / (p_other * 10.0 ** (snr_db / 10.0))))
