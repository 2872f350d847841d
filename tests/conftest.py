"""Fixtures shared by several test areas."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def find_upstream_dir() -> Callable[[Sequence[str]], Path]:
    """`find(files)` -> the folder of the authors' golden fixtures that holds all of `files`:
    $TSEPN_UPSTREAM_DIR, else ../shared/upstream next to the repo.

    Missing fixtures fail the test (never a silent skip): they pin checkpoint compatibility.
    """

    def find(files: Sequence[str]) -> Path:
        candidates = [Path(os.environ["TSEPN_UPSTREAM_DIR"])] if os.environ.get("TSEPN_UPSTREAM_DIR") else []
        candidates.append(REPO.parent / "shared" / "upstream")
        for folder in candidates:
            if all((folder / name).is_file() for name in files):
                return folder
        pytest.fail(f"golden fixtures {tuple(files)} not found in {[str(c) for c in candidates]}; "
                    "set TSEPN_UPSTREAM_DIR to the folder holding them")

    return find
