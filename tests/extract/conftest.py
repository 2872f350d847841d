"""Fixtures for the extraction tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UPSTREAM_FILES = ("proposed-monaural.pt", "proposed-monaural.io.pt")


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """The authors' golden fixtures: $TSEPN_UPSTREAM_DIR, else <repo>/../shared/upstream. Missing = failure."""
    candidates = [Path(os.environ["TSEPN_UPSTREAM_DIR"])] if os.environ.get("TSEPN_UPSTREAM_DIR") else []
    candidates.append(REPO.parent / "shared" / "upstream")
    for folder in candidates:
        if all((folder / name).is_file() for name in UPSTREAM_FILES):
            return folder
    pytest.fail(f"golden fixtures {UPSTREAM_FILES} not found in {[str(c) for c in candidates]}; "
                "set TSEPN_UPSTREAM_DIR to the folder holding them")
