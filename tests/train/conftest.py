"""Fixtures of the trainer tests; the toy models and data live in train_helpers.py."""
from __future__ import annotations

import pytest
import torch
from train_helpers import TOYS, toy_build, toy_load, toy_save

from tsepn.train import model_io


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the tiny ops here only lose from threads on a shared, busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setattr(model_io, "build_model", toy_build)
    monkeypatch.setattr(model_io, "save_model", toy_save)
    monkeypatch.setattr(model_io, "load_model", toy_load)
    return TOYS
