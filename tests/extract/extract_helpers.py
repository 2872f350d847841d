"""Helpers for the extraction tests: tiny tsepn models, noise, lossless wav files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from tsepn.models import build_model

# A tiny proposed (pos/neg) model whose chunked output equals its whole-call output:
# fixed (enrollment) normalisation and the streaming frame grid.
TINY_POSNEG = dict(n_fft=32, hop=16, n_layers=1, fusion_layers=[0], lstm_hidden=4, emb_dim=4, n_heads=1,
                   approx_qk_dim=8, attention_span=8,
                   fusion_args=dict(n_heads=1, approx_qk_dim=8, pooling_size=4, pooling_stride=4),
                   encoder_layers=1, encoder_lstm_hidden=4, encoder_emb_dim=4, encoder_emb_ks=1,
                   head_layers=1, head_heads=1, normalization="enrollment", framing="streaming", sample_rate=8000)


def tiny_posneg(channels: int = 1, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    model = build_model("posneg", **{**TINY_POSNEG, "channels": channels, **overrides})
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # non-trivial weights: gains != 1, biases != 0
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return model.eval()


def noise(channels: int, samples: int, seed: int, scale: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, samples)) * scale).astype(np.float32)


def write_wav(path: Path, audio: np.ndarray, sr: int) -> Path:
    """Float32 WAV, so what the CLI reads back is bit-identical to `audio`."""
    sf.write(str(path), np.asarray(audio, dtype=np.float32).T, sr, subtype="FLOAT")
    return path


def read_wav(path: Path):
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data.T, sr
