"""Enrollment segments: cut the positive and negative enrollments out of ONE recording (numpy only).

A segments file holds lines `<seg-id> <rec-id> <start_s> <end_s> <pos|neg>` (see
`read_enroll_segments`); the API also takes the spans as a list of (start_s, end_s, label).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from tsepn.fileio import TableError, iter_table

# Shortest enrollment accepted: below this the "who is the target" comparison has too
# little speech to work with (the paper uses 3 s enrollments).
MIN_ENROLL_SECONDS = 0.5


@dataclass(frozen=True)
class EnrollSpan:
    seg_id: str
    start: float
    end: float
    label: str  # "pos" or "neg"
    lineno: int


LABELS = ("pos", "neg")


def read_enroll_segments(path, rec_id: Optional[str] = None) -> List[EnrollSpan]:
    """Read an enrollment segments file: one span per line,

        <seg-id> <rec-id> <start_s> <end_s> <pos|neg>

    like a Kaldi `segments` file with a fifth field: `pos` = the target talks in this
    span, `neg` = the target is silent. Times are seconds from the start of the recording.
    Blank lines and duplicate seg-ids are errors. All lines must name one recording, or,
    if `rec_id` is given, only its lines are used. Errors name the file and line.
    """
    path = Path(path)
    spans: List[EnrollSpan] = []
    seen = {}
    recordings = {}
    for lineno, (seg_id, rec, start_s, end_s, label) in iter_table(path, min_fields=5, max_fields=5):
        where = f"{path}:{lineno}"
        if seg_id in seen:
            raise TableError(f"{where}: duplicate segment id {seg_id!r} (first on line {seen[seg_id]})")
        seen[seg_id] = lineno
        if label not in LABELS:
            raise TableError(f"{where}: label must be 'pos' or 'neg', got {label!r}")
        start, end = _seconds(start_s, where, "start"), _seconds(end_s, where, "end")
        if start < 0:
            raise TableError(f"{where}: start {start} s is negative")
        if not start < end:
            raise TableError(f"{where}: start {start} s is not before end {end} s")
        if rec_id is None:
            recordings.setdefault(rec, lineno)
            if len(recordings) > 1:
                first = next(iter(recordings))
                raise TableError(
                    f"{where}: recording {rec!r} differs from {first!r} (line {recordings[first]});"
                    " a segments file for extraction describes one recording"
                )
        elif rec != rec_id:
            continue
        spans.append(EnrollSpan(seg_id, start, end, label, lineno))
    if not spans:
        which = f" for recording {rec_id!r}" if rec_id is not None else ""
        raise TableError(f"{path}: no segments{which}")
    return spans


def _seconds(text: str, where: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TableError(f"{where}: {what} time {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TableError(f"{where}: {what} time {text!r} is not finite")
    return value


def cut_enrollments(
    audio: np.ndarray,
    sample_rate: int,
    segments_path,
    rec_id: Optional[str] = None,
    min_seconds: float = MIN_ENROLL_SECONDS,
) -> Tuple[np.ndarray, np.ndarray]:
    """Cut (positive, negative) enrollments `[C, T]` out of one recording `audio` `[C, N]`.

    All `pos` spans, in time order, are concatenated into the positive enrollment and all
    `neg` spans into the negative one. Spans must lie inside the recording (a rounding
    slack of one millisecond is allowed past the end), must not overlap each other, and
    each label needs at least `min_seconds` in total.
    """
    path = Path(segments_path)
    return cut_spans(audio, sample_rate, read_enroll_segments(path, rec_id=rec_id), str(path), min_seconds)


def spans_from(segments, rec_id: Optional[str] = None) -> List[EnrollSpan]:
    """A segments file path, or a list of (start_s, end_s, "pos"|"neg") -> spans."""
    if isinstance(segments, (str, Path)):
        return read_enroll_segments(segments, rec_id=rec_id)
    spans = []
    for i, item in enumerate(segments, start=1):
        try:
            start, end, label = item
            start, end = float(start), float(end)
        except (TypeError, ValueError):
            raise TableError(f"segments[{i - 1}]: expected (start_s, end_s, 'pos'|'neg'), got {item!r}") from None
        if label not in LABELS:
            raise TableError(f"segments[{i - 1}]: label must be 'pos' or 'neg', got {label!r}")
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or not start < end:
            raise TableError(f"segments[{i - 1}]: need 0 <= start < end, got {start}, {end}")
        spans.append(EnrollSpan(f"seg{i}", start, end, label, i))
    if not spans:
        raise TableError("segments: empty list")
    return spans


def cut_spans(audio: np.ndarray, sample_rate: int, spans: Sequence[EnrollSpan], source: str = "segments",
              min_seconds: float = MIN_ENROLL_SECONDS) -> Tuple[np.ndarray, np.ndarray]:
    """`cut_enrollments` on already-read spans; errors name `source` and the span's line."""
    path = source
    duration = audio.shape[-1] / sample_rate
    for span in spans:
        if span.end > duration + 1e-3:
            raise TableError(
                f"{path}:{span.lineno}: span {span.start}-{span.end} s ends after the recording ({duration:.3f} s)"
            )
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for before, after in zip(ordered, ordered[1:]):
        if after.start < before.end:
            raise TableError(
                f"{path}:{after.lineno}: span {after.start}-{after.end} s overlaps line {before.lineno}"
                f" ({before.start}-{before.end} s)"
            )
    parts = {}
    for label in LABELS:
        chosen = [s for s in ordered if s.label == label]
        if not chosen:
            raise TableError(f"{path}: no '{label}' segment; need at least one 'pos' and one 'neg'")
        pieces = [audio[:, _sample(s.start, sample_rate) : _sample(s.end, sample_rate)] for s in chosen]
        joined = np.concatenate(pieces, axis=-1)
        total = joined.shape[-1] / sample_rate
        if total < min_seconds:
            raise TableError(
                f"{path}: '{label}' segments total {total:.3f} s, at least {min_seconds:.3f} s are needed"
            )
        parts[label] = np.ascontiguousarray(joined, dtype=np.float32)
    return parts["pos"], parts["neg"]


def _sample(seconds: float, sample_rate: int) -> int:
    return int(round(seconds * sample_rate))
