"""Atomic writes and Kaldi-style text tables (scp, utt2spk, segments...).

Every output of tsepn is written to a temporary name in the same folder and
renamed into place, so a crash never leaves a half-written file under the
final name. Every table reader names the file and line of the first bad line.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]


class TableError(ValueError):
    """A malformed line in a Kaldi-style table; the message names file and line."""


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs):
    """open() whose result appears under `path` only once the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle


def write_text_atomic(path: PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def iter_table(path: PathLike, min_fields: int = 2, max_fields: int | None = None) -> Iterator[Tuple[int, List[str]]]:
    """Yield (line number, fields) of a whitespace-separated table, checking field counts."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                raise TableError(f"{path}:{lineno}: empty line")
            if len(fields) < min_fields or (max_fields is not None and len(fields) > max_fields):
                want = f"{min_fields}" if max_fields == min_fields else f">= {min_fields}"
                raise TableError(f"{path}:{lineno}: expected {want} fields, got {len(fields)}: {line.rstrip()!r}")
            yield lineno, fields


def read_table(path: PathLike) -> Dict[str, str]:
    """Read `key value...` lines into {key: rest of line}; duplicate keys are an error."""
    path = Path(path)
    table: Dict[str, str] = {}
    with open(path, encoding="utf-8") if path.is_file() else _missing(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            stripped = line.strip()
            if not stripped:
                raise TableError(f"{path}:{lineno}: empty line")
            parts = stripped.split(maxsplit=1)
            if len(parts) != 2:
                raise TableError(f"{path}:{lineno}: expected '<key> <value>', got {stripped!r}")
            key, value = parts
            if key in table:
                raise TableError(f"{path}:{lineno}: duplicate key {key!r}")
            table[key] = value
    return table


def _missing(path: Path):
    raise FileNotFoundError(f"{path}: no such file")


def write_table(path: PathLike, rows: Iterable[Tuple[str, object]], sort: bool = True) -> None:
    """Write `key value` lines atomically (sorted by key, Kaldi's convention)."""
    items = sorted(rows, key=lambda kv: kv[0]) if sort else list(rows)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for key, value in items:
            handle.write(f"{key} {value}\n")
