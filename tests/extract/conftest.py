"""Fixtures for the extraction tests."""
from __future__ import annotations

from pathlib import Path

import pytest

UPSTREAM_FILES = ("proposed-monaural.pt", "proposed-monaural.io.pt")


@pytest.fixture(scope="session")
def upstream_dir(find_upstream_dir) -> Path:
    """The authors' golden fixtures the extraction tests need (see tests/conftest.py). Missing = failure."""
    return find_upstream_dir(UPSTREAM_FILES)
