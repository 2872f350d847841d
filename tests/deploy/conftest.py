"""Fixtures for the deploy tests (export, runtime, API, long recordings)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extract"))  # extract_helpers: tiny models

UPSTREAM_FILES = ("proposed-monaural.pt", "proposed-monaural.io.pt")


@pytest.fixture(scope="session")
def upstream_dir(find_upstream_dir) -> Path:
    """The authors' golden fixtures (see tests/conftest.py). Missing = failure."""
    return find_upstream_dir(UPSTREAM_FILES)
