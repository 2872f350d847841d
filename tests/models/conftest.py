"""Shared fixtures for the model tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine busy-waiting
    OpenMP threads slow them down many times over; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
FIXTURE_FILES = ("proposed-monaural.pt", "proposed-monaural.io.pt", "proposed-monaural.keys.txt",
                 "proposed-binaural.keys.txt")


@pytest.fixture(scope="session")
def upstream_dir(find_upstream_dir) -> Path:
    """Folder of the authors' golden fixtures (see tests/conftest.py); missing fixtures fail the test."""
    return find_upstream_dir(FIXTURE_FILES)


# A model small enough for option grids on CPU: 17 frequency bins, 8 channels, 2 heads.
TINY = dict(
    n_fft=32, hop=16, n_layers=2, lstm_hidden=8, emb_dim=8, n_heads=2, approx_qk_dim=32, attention_span=4,
    fusion_args=dict(n_heads=2, approx_qk_dim=32, pooling_size=4, pooling_stride=2),
    encoder_layers=1, encoder_lstm_hidden=8, encoder_emb_dim=8, head_layers=2, head_heads=2,
)
ENROLL_SAMPLES = 640  # 41 encoder frames at hop 16
MIX_SAMPLES = 480


def tiny_args(**overrides) -> dict:
    args = dict(TINY)
    args.update(overrides)
    return args


def seeded_audio(*shape, seed: int = 0):
    import torch

    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
