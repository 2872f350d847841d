"""Shared fixtures for the model tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE_FILES = ("proposed-monaural.pt", "proposed-monaural.io.pt", "proposed-monaural.keys.txt",
                 "proposed-binaural.keys.txt")


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """Folder of the authors' golden fixtures: $TSEPN_UPSTREAM_DIR, else ../shared/upstream next to the repo.

    Missing fixtures fail the test (never a silent skip): they pin checkpoint compatibility.
    """
    candidates = [Path(os.environ["TSEPN_UPSTREAM_DIR"])] if os.environ.get("TSEPN_UPSTREAM_DIR") else []
    candidates.append(REPO.parent / "shared" / "upstream")
    for folder in candidates:
        if all((folder / name).is_file() for name in FIXTURE_FILES):
            return folder
    pytest.fail(f"golden fixtures {FIXTURE_FILES} not found in {[str(c) for c in candidates]}; "
                "set TSEPN_UPSTREAM_DIR to the folder holding them")
