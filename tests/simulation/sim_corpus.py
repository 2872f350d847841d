"""A tiny corpus on disk (flac speech with exactly known activity, wav noise) for the simulation tests.

The Kaldi files are written with tsepn.data.datadir / tsepn.data.activity (as stage 1-2 do).
Speech is a few harmonic bursts per utterance at a speaker-specific pitch, exact
zeros in between, so activity is known to the sample and energy tests are sharp.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsepn.audio import write_audio
from tsepn.data import datadir
from tsepn.data.activity import write_activity
from tsepn.data.datadir import NoiseEntry, SpeechEntry

SR = 8000
SETS = {"train": 6, "dev": 5, "test": 6}  # speakers per set
UTTS_PER_SPEAKER = 3
NOISES = {"noise_tr": 2, "noise_cv": 2, "noise_tt": 2}


def _utterance(rng, f0: float):
    """~2-3 s of bursts separated by long silences; returns audio and spans (seconds)."""
    t, spans = rng.uniform(0.2, 0.5), []
    for _ in range(int(rng.integers(2, 4))):
        length = rng.uniform(0.5, 0.9)
        spans.append((round(t, 3), round(t + length, 3)))
        t += length + rng.uniform(0.4, 0.8)
    audio = np.zeros(int(round(t * SR)) + SR // 5, dtype=np.float32)
    for start, end in spans:
        a, b = int(round(start * SR)), int(round(end * SR))
        n = np.arange(b - a) / SR
        burst = sum(np.sin(2 * np.pi * f0 * h * n) / h for h in (1, 2, 3))
        audio[a:b] = 0.2 * burst * np.hanning(b - a) ** 0.1
    return audio, spans


def write_speech_dir(root: Path, name: str, speakers: int, utts: int = UTTS_PER_SPEAKER, seed: int = 0) -> Path:
    rng = np.random.default_rng([seed, len(name), speakers])
    entries, activity = [], {}
    for k in range(speakers):
        speaker = f"{name}{k:02d}"
        f0 = 100 + 30 * k
        for j in range(utts):
            utt = f"{speaker}-u{j}"
            audio, spans = _utterance(rng, f0)
            path = root / "audio" / name / f"{utt}.flac"
            write_audio(path, audio[None], SR, subtype="PCM_16")
            entries.append(SpeechEntry(utt, speaker, str(path), "SOME TEXT", len(audio) / SR))
            activity[utt] = spans
    datadir.write_speech_dir(root / name, entries)
    write_activity(root / name / "activity", activity)
    return root / name


def write_noise_dir(root: Path, name: str, files: int, seconds: float = 4.0, seed: int = 1) -> Path:
    rng = np.random.default_rng([seed, len(name), files])
    entries = []
    for k in range(files):
        noise = (0.05 * rng.standard_normal((2, int(seconds * SR)))).astype(np.float32)
        path = root / "audio" / name / f"{name}_{k}.wav"
        write_audio(path, noise, SR, subtype="PCM_16")
        entries.append(NoiseEntry(f"{name}_{k}", str(path), seconds))
    datadir.write_noise_dir(root / name, entries)
    return root / name


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """data/{train,dev,test,noise_tr,noise_cv,noise_tt} in Kaldi layout (read-only for tests)."""
    root = tmp_path_factory.mktemp("corpus")
    data = root / "data"
    for name, speakers in SETS.items():
        write_speech_dir(data, name, speakers)
    for name, files in NOISES.items():
        write_noise_dir(data, name, files)
    return data


def small_scenario(**overrides):
    """A ScenarioConf for the tiny corpus (8 kHz, 1 s enrollments, 1.5 s mixture)."""
    from tsepn.data.scenario import ScenarioConf

    base = dict(sample_rate=SR, mix_seconds=1.5, pos_seconds=1.0, neg_seconds=1.0, mix_speakers=[2, 3],
                enroll_speakers=[2, 3], min_speaker_speech_seconds=0.5)
    base.update(overrides)
    return ScenarioConf(**base)


def sampler(corpus: Path, split: str = "test", noise: str = "noise_tt", seed: int = 0, **overrides):
    from tsepn.data.scenario import ScenarioSampler

    return ScenarioSampler.from_dirs(small_scenario(**overrides), corpus / split, corpus / noise, seed, f"{split}_x")
