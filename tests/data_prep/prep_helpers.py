"""Small builders shared by the data-preparation tests."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, Sequence

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
UTILS = REPO / "utils"
RECIPE = REPO / "egs" / "librispeech_wham" / "mono"


def tone(seconds: float, sr: int = 16000, freq: float = 220.0, amp: float = 0.3, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def write_flac(path: Path, audio: np.ndarray, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sr, format="FLAC", subtype="PCM_16")
    return path


def make_librispeech(root: Path, subset: str, layout: Dict[str, Dict[str, int]], sr: int = 16000) -> Path:
    """A tiny LibriSpeech tree: layout = {speaker: {chapter: n_utterances}}."""
    subset_dir = root / "LibriSpeech" / subset
    for spk, chapters in layout.items():
        for chapter, n in chapters.items():
            chapter_dir = subset_dir / spk / chapter
            chapter_dir.mkdir(parents=True, exist_ok=True)
            lines = []
            for i in range(n):
                utt = f"{spk}-{chapter}-{i:04d}"
                write_flac(chapter_dir / f"{utt}.flac", tone(0.5 + 0.1 * i, sr), sr)
                lines.append(f"{utt} HELLO WORLD {i}\n")
            (chapter_dir / f"{spk}-{chapter}.trans.txt").write_text("".join(lines))
    return root


def make_wham(root: Path, splits: Sequence[str] = ("tr", "cv", "tt"), files: int = 2, channels: int = 2) -> Path:
    for split in splits:
        for i in range(files):
            path = root / "wham_noise" / split / f"n{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), tone(1.0, freq=100 + i, channels=channels), 16000)
    return root


def run_bash(script: str, cwd: Path, env_extra: Dict[str, str] | None = None, timeout: int = 60):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
