"""Synthetic BRIR sets in the on-disk formats of the paper's four sets (mini corpus, stage 0).

So that the real preparation code (tsepn.data.brir) runs in the demo and in CI, this writes
small response sets laid out as the downloads are (tsepn.data.corpora.BRIR_SETS):

    <out>/CIPIC/subject_NNN.sofa                          SOFA SimpleFreeFieldHRIR, 44.1 kHz, 200 taps
    <out>/RRBRIR/UniS_Room_<X>_BRIR_16k.sofa              SOFA GeneralFIR, 16 kHz, azimuths -90..90
    <out>/ASH-Listening-Set-8.0/BRIRs/<Rnn>/BRIR_<Rnn>_E0_A<az>.wav   stereo, 44.1 kHz, azimuths 0..330
    <out>/CATT_RIRs/Binaural/16k/<rt60>/CATT_<rt60>_<az>.wav          stereo, 16 kHz, azimuths -90..90

with the real names where the split rules need them (ASH rooms, CATT reverberation times,
CIPIC subject numbers), so that every split gets scenes of every set.

The responses come from a spherical-head model, so interaural time and level differences
depend on the direction as they do for a listener:
- time: Woodworth's formula per ear for a plane wave on a rigid sphere of radius a: an ear
  facing the source hears it (a/c) cos(beta) early, a shadowed ear (a/c) (beta - pi/2) late,
  beta = angle between the ear axis and the source, hence ITD = (a/c) (theta + sin theta) on
  the horizontal plane (about 0.66 ms at 90 degrees for a = 8.75 cm); fractional delays
  are exact (linear phase in the frequency domain);
- level: Brown & Duda's one-pole / one-zero head-shadow filter per ear,
  H(w) = (1 + j alpha w / (2 w0)) / (1 + j w / (2 w0)), w0 = c / a,
  alpha(beta) = (1 + alpha_min / 2) + (1 - alpha_min / 2) cos(beta / beta_min * 180 deg),
  alpha_min 0.1, beta_min 150 deg: +6 dB at high frequencies for the ear facing the source,
  down to -20 dB behind the head; low frequencies pass both ears alike (frequency-dependent ILD);
- room (RRBRIR, ASH, CATT; CIPIC is anechoic like the real HRIRs): a few early reflections,
  each a copy of the head response from its own direction, later and weaker, then a late
  tail of exponentially decaying noise (decay from the scene's RT60, ears partly correlated,
  a gentle low-pass), scaled to the scene's direct-to-reverberant ratio.
Every scene and response is seeded by (seed, set, scene, response): same config, same bytes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from tsepn.audio import write_audio
from tsepn.fileio import atomic_path

log = logging.getLogger(__name__)

SPEED_OF_SOUND = 343.0
HEAD_RADIUS = 0.0875
ALPHA_MIN, BETA_MIN_DEG = 0.1, 150.0
ONSET_SECONDS = 0.0015  # propagation delay before the direct sound (both ears)


@dataclass
class MiniBrirConfig:
    """Sizes of the synthetic BRIR sets (the binaural recipe's conf/mini.yaml, key `brirs`)."""

    seed: int = 0
    # CIPIC subject numbers (tail split: the last is test, the one before dev)
    cipic_subjects: List[int] = field(default_factory=lambda: [3, 8, 9, 10, 11])
    cipic_azimuths: List[float] = field(default_factory=lambda: [-80.0, -55.0, -30.0, -15.0, 0.0, 15.0, 30.0, 55.0, 80.0])
    cipic_elevations: List[float] = field(default_factory=lambda: [0.0, 45.0])
    rrbrir_rooms: List[str] = field(default_factory=lambda: ["A", "B", "C"])
    ash_rooms: List[str] = field(default_factory=lambda: ["R01", "R03", "R06", "R07"])  # test, dev, train, train
    catt_rt60s: List[str] = field(default_factory=lambda: ["0_2s", "0_3s", "0_4s", "0_6s"])  # train, dev, test, train
    wide_step_deg: float = 15.0  # RRBRIR / CATT azimuth grid over -90..90
    ash_step_deg: float = 30.0  # ASH azimuth grid over 0..360
    seconds: float = 0.3  # length of a room response


def _ear_angles(azimuth_deg: float, elevation_deg: float) -> Tuple[float, float]:
    """Angles (radians) between the source direction and the left (+y) / right (-y) ear axes."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    lateral = np.cos(el) * np.sin(az)  # projection on the interaural axis, +1 = left
    return float(np.arccos(np.clip(lateral, -1, 1))), float(np.arccos(np.clip(-lateral, -1, 1)))


def woodworth_delay(beta: float, radius: float = HEAD_RADIUS) -> float:
    """Arrival time (s) at an ear relative to the head centre, plane wave on a rigid sphere."""
    if beta <= np.pi / 2:
        return -radius / SPEED_OF_SOUND * np.cos(beta)
    return radius / SPEED_OF_SOUND * (beta - np.pi / 2)


def head_shadow(freqs: np.ndarray, beta: float, radius: float = HEAD_RADIUS) -> np.ndarray:
    """Brown & Duda's head-shadow transfer function of one ear at angle `beta` (radians)."""
    w0 = SPEED_OF_SOUND / radius
    alpha = (1 + ALPHA_MIN / 2) + (1 - ALPHA_MIN / 2) * np.cos(np.degrees(beta) / BETA_MIN_DEG * np.pi)
    jw = 1j * 2 * np.pi * freqs / (2 * w0)
    return (1 + alpha * jw) / (1 + jw)


def head_spectrum(freqs: np.ndarray, azimuth: float, elevation: float, radius: float, delay: float) -> np.ndarray:
    """[2, F] spectra (left, right) of the head response from one direction, arriving after `delay` s."""
    out = np.empty((2, freqs.shape[0]), dtype=np.complex128)
    for ear, beta in enumerate(_ear_angles(azimuth, elevation)):
        t = delay + woodworth_delay(beta, radius)
        out[ear] = head_shadow(freqs, beta, radius) * np.exp(-2j * np.pi * freqs * t)
    return out


def synth_response(rng: np.random.Generator, azimuth: float, elevation: float, sample_rate: int, length: int,
                   radius: float = HEAD_RADIUS, rt60: float = 0.0, drr_db: float = 6.0,
                   reflections: int = 0) -> np.ndarray:
    """float32 [2, length]: direct sound (+ early reflections and a late tail when rt60 > 0)."""
    n_fft = 1 << int(np.ceil(np.log2(max(2 * length, 256))))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    spectrum = head_spectrum(freqs, azimuth, elevation, radius, ONSET_SECONDS)
    direct = np.fft.irfft(spectrum, n_fft)[:, :length]
    if rt60 <= 0:
        return _taper(direct).astype(np.float32)
    early = np.zeros_like(spectrum)
    for k in range(reflections):
        extra = float(rng.uniform(0.002, 0.02))
        gain = float(rng.uniform(0.15, 0.45)) * np.exp(-6.91 * extra / rt60)
        early += gain * head_spectrum(freqs, float(rng.uniform(-180, 180)), float(rng.uniform(-30, 30)), radius,
                                      ONSET_SECONDS + extra)
    out = direct + np.fft.irfft(early, n_fft)[:, :length]
    t = np.arange(length) / sample_rate
    start = ONSET_SECONDS + 0.02
    envelope = np.where(t >= start, np.exp(-6.91 * (t - start) / rt60), 0.0)
    envelope *= np.minimum(1.0, np.maximum(0.0, (t - ONSET_SECONDS) / 0.02))  # tail builds up
    common, own = rng.standard_normal(length), rng.standard_normal((2, length))
    tail = 0.4 * common[None] + np.sqrt(1 - 0.4**2) * own  # interaural correlation 0.4
    tail = _lowpass(tail, sample_rate, 5000.0) * envelope[None]
    direct_energy = float(np.sum(direct**2))
    tail_energy = max(float(np.sum(tail**2)), 1e-12)
    tail *= np.sqrt(direct_energy / tail_energy / 10 ** (drr_db / 10))
    return _taper(out + tail).astype(np.float32)


def _lowpass(x: np.ndarray, sample_rate: int, cutoff: float) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(2, cutoff, fs=sample_rate, output="sos"), x, axis=-1)


def _taper(x: np.ndarray) -> np.ndarray:
    n = min(32, x.shape[-1] // 4)
    if n:
        x[..., -n:] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    return x


# --------------------------------------------------------------------------- the four sets


def _rng(seed: int, set_index: int, scene: int, response: int = -1) -> np.random.Generator:
    return np.random.default_rng([seed, 7919, set_index, scene, response + 1])


def _write_sofa(path: Path, convention: str, responses: np.ndarray, azimuths, elevations, sample_rate: int,
                title: str) -> None:
    import sofar

    sofa = sofar.Sofa(convention)
    sofa.Data_IR = responses.astype(np.float64)
    sofa.Data_SamplingRate = float(sample_rate)
    sofa.Data_Delay = np.zeros((1, responses.shape[1]))
    sofa.SourcePosition = np.stack([np.asarray(azimuths, float), np.asarray(elevations, float),
                                    np.full(len(azimuths), 1.5)], axis=1)
    sofa.SourcePosition_Type, sofa.SourcePosition_Units = "spherical", "degree, degree, metre"
    if hasattr(sofa, "ReceiverPosition"):
        sofa.ReceiverPosition = np.array([[0.0, HEAD_RADIUS, 0.0], [0.0, -HEAD_RADIUS, 0.0]])
    sofa.GLOBAL_Title = title
    sofa.GLOBAL_Comment = "tsepn mini corpus: spherical-head model (tsepn.data.mini_brir), not a measurement"
    with atomic_path(path) as tmp:
        sofar.write_sofa(str(tmp.with_suffix(".sofa")), sofa, compression=0)
        tmp.with_suffix(".sofa").replace(tmp)


def _cipic(cfg: MiniBrirConfig, root: Path) -> int:
    sr, length = 44100, 200  # as the real CIPIC HRIRs
    directions = [(a, e) for e in cfg.cipic_elevations for a in cfg.cipic_azimuths]
    for k, subject in enumerate(cfg.cipic_subjects):
        radius = float(_rng(cfg.seed, 0, k).uniform(0.08, 0.095))
        responses = np.stack([synth_response(_rng(cfg.seed, 0, k, m), a, e, sr, length, radius)
                              for m, (a, e) in enumerate(directions)])
        azimuths = [a % 360.0 for a, _ in directions]  # SOFA files store 0..360
        _write_sofa(root / "CIPIC" / f"subject_{subject:03d}.sofa", "SimpleFreeFieldHRIR", responses, azimuths,
                    [e for _, e in directions], sr, f"mini CIPIC subject {subject:03d}")
    return len(cfg.cipic_subjects) * len(directions)


def _grid(low: float, high: float, step: float) -> List[float]:
    return [float(a) for a in np.arange(low, high + 1e-9, step)]


def _room(cfg: MiniBrirConfig, set_index: int, k: int) -> Dict[str, float]:
    rng = _rng(cfg.seed, set_index, k)
    return {"radius": float(rng.uniform(0.08, 0.095)), "drr_db": float(rng.uniform(0.0, 8.0)),
            "reflections": int(rng.integers(3, 7)), "rt60": float(rng.uniform(0.25, 0.7))}


def _rrbrir(cfg: MiniBrirConfig, root: Path) -> int:
    sr = 16000
    azimuths = _grid(-90.0, 90.0, cfg.wide_step_deg)
    for k, room in enumerate(cfg.rrbrir_rooms):
        p = _room(cfg, 1, k)
        responses = np.stack([synth_response(_rng(cfg.seed, 1, k, m), a, 0.0, sr, round(cfg.seconds * sr), p["radius"],
                                             p["rt60"], p["drr_db"], p["reflections"]) for m, a in enumerate(azimuths)])
        _write_sofa(root / "RRBRIR" / f"UniS_Room_{room}_BRIR_16k.sofa", "GeneralFIR", responses,
                    [a % 360.0 for a in azimuths], [0.0] * len(azimuths), sr, f"mini RRBRIR room {room}")
    return len(cfg.rrbrir_rooms) * len(azimuths)


def _ash(cfg: MiniBrirConfig, root: Path) -> int:
    sr = 44100
    azimuths = _grid(0.0, 360.0 - cfg.ash_step_deg, cfg.ash_step_deg)
    for k, room in enumerate(cfg.ash_rooms):
        p = _room(cfg, 2, k)
        for m, a in enumerate(azimuths):
            ir = synth_response(_rng(cfg.seed, 2, k, m), a, 0.0, sr, round(cfg.seconds * sr), p["radius"], p["rt60"],
                                p["drr_db"], p["reflections"])
            path = root / "ASH-Listening-Set-8.0" / "BRIRs" / room / f"BRIR_{room}_E0_A{int(a)}.wav"
            write_audio(path, ir, sr, subtype="FLOAT")
    return len(cfg.ash_rooms) * len(azimuths)


def _catt(cfg: MiniBrirConfig, root: Path) -> int:
    sr = 16000
    azimuths = _grid(-90.0, 90.0, cfg.wide_step_deg)
    for k, name in enumerate(cfg.catt_rt60s):
        p = _room(cfg, 3, k)
        rt60 = max(0.05, float(name.rstrip("s").replace("_", ".")))  # the folder names the reverberation time
        for m, a in enumerate(azimuths):
            ir = synth_response(_rng(cfg.seed, 3, k, m), a, 0.0, sr, round(cfg.seconds * sr), p["radius"], rt60,
                                p["drr_db"], p["reflections"])
            path = root / "CATT_RIRs" / "Binaural" / "16k" / name / f"CATT_{name}_{int(a)}.wav"
            write_audio(path, ir, sr, subtype="FLOAT")
    return len(cfg.catt_rt60s) * len(azimuths)


def make_mini_brirs(cfg: MiniBrirConfig, out_dir) -> Dict[str, int]:
    """Write the four synthetic sets under `out_dir`; returns responses written per set."""
    out_dir = Path(out_dir)
    counts = {"cipic": _cipic(cfg, out_dir), "rrbrir": _rrbrir(cfg, out_dir), "ash": _ash(cfg, out_dir),
              "catt": _catt(cfg, out_dir)}
    log.info("mini BRIR sets under %s: %s responses", out_dir, counts)
    return counts


__all__ = ["MiniBrirConfig", "make_mini_brirs", "synth_response", "woodworth_delay", "head_shadow"]
