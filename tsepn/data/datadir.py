"""Kaldi-style data directories: write, read and validate.

Speech sets (`data/<set>/`):  wav.scp utt2spk spk2utt text utt2dur [activity]
Noise sets (`data/noise_*/`): wav.scp utt2dur

Conventions (Kaldi's): one `<key> <value>` per line, sorted by key in byte
order (LC_ALL=C), unique keys; utterance ids start with the speaker id, so that
sorting by utterance also groups by speaker; spk2utt is utt2spk inverted.
A directory is written to `<dir>.tmp-<pid>/`, validated, then swapped into
place, so a failed preparation leaves the previous directory intact; when the
new tables equal the old ones the old directory is kept untouched (so outputs
of later stages in it, like `activity`, stay valid).
Validation names the first bad `file:line`.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from tsepn.audio import AudioError, AudioInfo, audio_info
from tsepn.data.activity import parse_span_times
from tsepn.fileio import TableError, iter_table, write_table

log = logging.getLogger(__name__)

SPEECH_FILES = ("wav.scp", "utt2spk", "spk2utt", "text", "utt2dur")
NOISE_FILES = ("wav.scp", "utt2dur")
_ARK_SPEC = re.compile(r"^(?P<file>.+\.ark):(?P<offset>\d+)$")


class DataDirError(ValueError):
    """An inconsistent data directory; the message names file and line."""


@dataclass
class DataDir:
    """The tables of one data directory (speech tables are None for noise sets)."""

    path: Path
    wav: Dict[str, str]
    utt2dur: Dict[str, float]
    utt2spk: Optional[Dict[str, str]] = None
    text: Optional[Dict[str, str]] = None
    spk2utt: Optional[Dict[str, List[str]]] = None

    @property
    def kind(self) -> str:
        return "noise" if self.utt2spk is None else "speech"

    @property
    def utts(self) -> List[str]:
        return list(self.wav)


@dataclass
class SpeechEntry:
    utt: str
    speaker: str
    audio: str
    text: str
    duration: float


@dataclass
class NoiseEntry:
    key: str
    audio: str
    duration: float


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
def write_speech_dir(out_dir, entries: Sequence[SpeechEntry]) -> DataDir:
    """Write wav.scp, utt2spk, spk2utt, text, utt2dur; validate; swap into place."""
    spk2utt: Dict[str, List[str]] = {}
    for e in sorted(entries, key=lambda e: e.utt):
        spk2utt.setdefault(e.speaker, []).append(e.utt)
    tables = {
        "wav.scp": [(e.utt, e.audio) for e in entries],
        "utt2spk": [(e.utt, e.speaker) for e in entries],
        "text": [(e.utt, e.text) for e in entries],
        "utt2dur": [(e.utt, f"{e.duration:.3f}") for e in entries],
        "spk2utt": [(spk, " ".join(utts)) for spk, utts in spk2utt.items()],
    }
    return _write_dir(out_dir, tables)


def write_noise_dir(out_dir, entries: Sequence[NoiseEntry]) -> DataDir:
    tables = {
        "wav.scp": [(e.key, e.audio) for e in entries],
        "utt2dur": [(e.key, f"{e.duration:.3f}") for e in entries],
    }
    return _write_dir(out_dir, tables)


def _write_dir(out_dir, tables: Dict[str, List[Tuple[str, str]]]) -> DataDir:
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for name, rows in tables.items():
            write_table(tmp / name, rows)
        validate_data_dir(tmp)
        if all(_same_file(tmp / name, out_dir / name) for name in tables):
            log.info("%s: unchanged, kept as it is (with any later outputs such as activity)", out_dir)
        else:
            replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_data_dir(out_dir, validate=False)


def _same_file(a: Path, b: Path) -> bool:
    return b.is_file() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def replace_dir(new: Path, final: Path) -> None:
    """Put directory `new` at `final`, removing what was there (old one kept until the rename)."""
    old = final.with_name(f"{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------
# Reading and validation
# ---------------------------------------------------------------------------
def load_data_dir(path, validate: bool = True, check_files: bool = False) -> DataDir:
    """Read a data directory (kind from its files: utt2spk present = speech)."""
    if validate:
        return validate_data_dir(path, check_files=check_files)
    path = Path(path)
    tables = {name: _read_sorted(path / name, _FIELDS[name], check_order=False)
              for name in (SPEECH_FILES if (path / "utt2spk").exists() else NOISE_FILES)}
    return _to_datadir(path, tables)


# name -> (min fields, max fields) per line
_FIELDS = {"wav.scp": (2, None), "utt2spk": (2, 2), "spk2utt": (2, None), "text": (1, None), "utt2dur": (2, 2)}


@dataclass
class _Table:
    path: Path
    rows: Dict[str, List[str]] = field(default_factory=dict)
    lines: Dict[str, int] = field(default_factory=dict)


def _read_sorted(path: Path, fields: Tuple[int, Optional[int]], check_order: bool = True) -> _Table:
    if not path.is_file():
        raise DataDirError(f"{path}: missing")
    table = _Table(path)
    prev = None
    try:
        for lineno, parts in iter_table(path, min_fields=fields[0], max_fields=fields[1]):
            key = parts[0]
            if key in table.rows:
                raise DataDirError(f"{path}:{lineno}: duplicate key {key!r} (first at line {table.lines[key]})")
            if check_order and prev is not None and key < prev:
                raise DataDirError(f"{path}:{lineno}: key {key!r} comes after {prev!r}: not sorted "
                                   f"(sort with LC_ALL=C)")
            table.rows[key] = parts[1:]
            table.lines[key] = lineno
            prev = key
    except TableError as err:
        raise DataDirError(str(err)) from None
    return table


def validate_data_dir(path, check_files: bool = True, check_audio: bool = False,
                      sample_rate: Optional[int] = None) -> DataDir:
    """Check a data directory; raise DataDirError naming the first bad file:line.

    Checks: required files present; every table sorted with unique keys; the
    same keys in every per-utterance table; spk2utt is utt2spk inverted and
    utterances of a speaker are contiguous; durations positive; with
    `check_files`, every audio file exists; with `check_audio`, every header
    is readable (and mono for speech); an `activity` file, if present, covers
    the same utterances with ordered spans inside the duration.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataDirError(f"{path}: not a directory")
    speech = (path / "utt2spk").exists() or (path / "text").exists() or (path / "spk2utt").exists()
    names = SPEECH_FILES if speech else NOISE_FILES
    tables = {name: _read_sorted(path / name, _FIELDS[name]) for name in names}
    wav = tables["wav.scp"]
    if not wav.rows:
        raise DataDirError(f"{wav.path}: empty")
    for name in names:
        if name not in ("wav.scp", "spk2utt"):
            _same_keys(wav, tables[name])
    for key, value in tables["utt2dur"].rows.items():
        try:
            seconds = float(value[0])
        except ValueError:
            seconds = float("nan")
        if not seconds > 0:
            raise DataDirError(f"{tables['utt2dur'].path}:{tables['utt2dur'].lines[key]}: duration of {key!r} "
                               f"must be a positive number, got {value[0]!r}")
    if speech:
        _check_speakers(tables["utt2spk"], tables["spk2utt"])
    if check_files or check_audio:
        for key, value in wav.rows.items():
            audio = " ".join(value)
            where = f"{wav.path}:{wav.lines[key]}"
            target = _ARK_SPEC.match(audio)
            file_path = Path(target.group("file") if target else audio)
            if audio.endswith("|"):
                raise DataDirError(f"{where}: piped commands are not supported in wav.scp, use a file path")
            if not file_path.is_file():
                raise DataDirError(f"{where}: audio file not found: {file_path}")
            if check_audio and not target:
                try:
                    audio_info(file_path, sample_rate=sample_rate, channels=1 if speech else None)
                except AudioError as err:
                    raise DataDirError(f"{where}: {err}") from None
    data = _to_datadir(path, tables)
    if (path / "activity").exists():
        _check_activity(path / "activity", data)
    return data


def _same_keys(ref: _Table, other: _Table) -> None:
    for key in other.rows:
        if key not in ref.rows:
            raise DataDirError(f"{other.path}:{other.lines[key]}: utterance {key!r} is not in {ref.path.name}")
    for key in ref.rows:
        if key not in other.rows:
            raise DataDirError(f"{ref.path}:{ref.lines[key]}: utterance {key!r} has no line in {other.path.name}")


def _check_speakers(utt2spk: _Table, spk2utt: _Table) -> None:
    seen_speakers: List[str] = []
    for utt, (spk,) in utt2spk.rows.items():
        if seen_speakers and spk != seen_speakers[-1]:
            if spk in seen_speakers:
                raise DataDirError(f"{utt2spk.path}:{utt2spk.lines[utt]}: utterances of speaker {spk!r} are not "
                                   f"contiguous: utterance ids must start with the speaker id")
            if spk < seen_speakers[-1]:
                raise DataDirError(f"{utt2spk.path}:{utt2spk.lines[utt]}: speaker {spk!r} sorts before "
                                   f"{seen_speakers[-1]!r}: utterance ids must start with the speaker id")
        if not seen_speakers or spk != seen_speakers[-1]:
            seen_speakers.append(spk)
    listed: Dict[str, str] = {}
    for spk, utts in spk2utt.rows.items():
        where = f"{spk2utt.path}:{spk2utt.lines[spk]}"
        if utts != sorted(utts):
            raise DataDirError(f"{where}: utterances of {spk!r} are not sorted")
        for utt in utts:
            if utt in listed:
                raise DataDirError(f"{where}: utterance {utt!r} already listed for speaker {listed[utt]!r}")
            listed[utt] = spk
            if utt not in utt2spk.rows:
                raise DataDirError(f"{where}: utterance {utt!r} is not in utt2spk")
            if utt2spk.rows[utt][0] != spk:
                raise DataDirError(f"{where}: utterance {utt!r} belongs to {utt2spk.rows[utt][0]!r} in "
                                   f"utt2spk:{utt2spk.lines[utt]}")
    for utt in utt2spk.rows:
        if utt not in listed:
            raise DataDirError(f"{utt2spk.path}:{utt2spk.lines[utt]}: utterance {utt!r} is missing from spk2utt")


def _check_activity(path: Path, data: DataDir) -> None:
    try:
        lines = list(iter_table(path, min_fields=1))
    except TableError as err:
        raise DataDirError(str(err)) from None
    seen: Dict[str, int] = {}
    for lineno, fields in lines:
        utt, times = fields[0], fields[1:]
        where = f"{path}:{lineno}"
        if utt in seen:
            raise DataDirError(f"{where}: duplicate key {utt!r} (first at line {seen[utt]})")
        seen[utt] = lineno
        if utt not in data.wav:
            raise DataDirError(f"{where}: utterance {utt!r} is not in wav.scp")
        try:
            values = parse_span_times(times, where)
        except TableError as err:
            raise DataDirError(str(err)) from None
        if any(b <= a for a, b in zip(values, values[1:])) or (values and values[0] < 0):
            raise DataDirError(f"{where}: spans must be increasing and non-negative")
        if values and values[-1] > data.utt2dur[utt] + 0.011:
            raise DataDirError(f"{where}: span ends at {values[-1]} s after the utterance ({data.utt2dur[utt]} s)")
    for utt in data.wav:
        if utt not in seen:
            raise DataDirError(f"{path}: utterance {utt!r} of wav.scp has no line")


def _to_datadir(path: Path, tables: Dict[str, _Table]) -> DataDir:
    data = DataDir(
        path=path,
        wav={k: " ".join(v) for k, v in tables["wav.scp"].rows.items()},
        utt2dur={k: float(v[0]) for k, v in tables["utt2dur"].rows.items()},
    )
    if "utt2spk" in tables:
        data.utt2spk = {k: v[0] for k, v in tables["utt2spk"].rows.items()}
        data.text = {k: " ".join(v) for k, v in tables["text"].rows.items()}
        data.spk2utt = {k: list(v) for k, v in tables["spk2utt"].rows.items()}
    return data


# ---------------------------------------------------------------------------
# Preparation from the corpora
# ---------------------------------------------------------------------------
def probe_all(paths: Sequence[Path], nj: int, sample_rate: Optional[int], strict: bool,
              channels: Optional[Iterable[int]], progress: str = "") -> List[AudioInfo]:
    """audio_info for every file (threads: header reads are I/O bound); errors name the file."""
    from tsepn.progress import progress as progress_bar

    allowed = tuple(channels) if channels is not None else None

    def probe(p: Path) -> AudioInfo:
        info = audio_info(p, sample_rate=sample_rate, strict=strict,
                          channels=allowed[0] if allowed and len(allowed) == 1 else None)
        if allowed and info.channels not in allowed:
            raise AudioError(f"{p}: expected {' or '.join(map(str, allowed))} channel(s), found {info.channels}")
        return info

    with ThreadPoolExecutor(max_workers=max(1, nj)) as pool:
        infos = list(progress_bar(pool.map(probe, paths), total=len(paths), desc=progress or "probe",
                                  disable=not progress, unit="file", min_interval=5.0))
    return infos


def speech_dir_from_librispeech(corpus_root, subset: str, out_dir, sample_rate: int = 16000,
                                strict: bool = False, nj: int = 1) -> DataDir:
    """data/<set> from one LibriSpeech subset (mono required; other rates warned or, strict, refused)."""
    from tsepn.data.corpora import scan_librispeech

    utts = scan_librispeech(corpus_root, subset)
    infos = probe_all([u.path for u in utts], nj, sample_rate, strict, channels=[1], progress=subset)
    entries = [SpeechEntry(u.utt_id, u.speaker, str(Path(u.path).resolve()), u.text, info.duration)
               for u, info in zip(utts, infos)]
    data = write_speech_dir(out_dir, entries)
    log.info("%s: %d utterances, %d speakers from %s", out_dir, len(entries), len(data.spk2utt or {}), subset)
    return data


def noise_dir_from_wham(wham_root, split: str, out_dir, sample_rate: int = 16000, strict: bool = False,
                        nj: int = 1) -> DataDir:
    """data/noise_<split> from one WHAM! noise split (1 or 2 channels accepted)."""
    from tsepn.data.corpora import scan_wham_noise

    files = scan_wham_noise(wham_root, split)
    keys = [p.stem for p in files]
    if len(set(keys)) != len(keys):
        dup = sorted(k for k in keys if keys.count(k) > 1)[0]
        raise DataDirError(f"{files[0].parent}: two noise files named {dup!r}.wav (keys must be unique)")
    infos = probe_all(files, nj, sample_rate, strict, channels=[1, 2], progress=f"noise {split}")
    entries = [NoiseEntry(k, str(p.resolve()), info.duration) for k, p, info in zip(keys, files, infos)]
    data = write_noise_dir(out_dir, entries)
    log.info("%s: %d noise files from %s", out_dir, len(entries), split)
    return data


__all__: Sequence[str] = [
    "DataDir", "DataDirError", "SpeechEntry", "NoiseEntry", "write_speech_dir", "write_noise_dir",
    "load_data_dir", "validate_data_dir", "speech_dir_from_librispeech", "noise_dir_from_wham", "replace_dir",
]
