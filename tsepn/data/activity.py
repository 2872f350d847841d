"""Energy-based speech activity detection and silence trimming.

Stage 2 stores, once per set, `data/<set>/activity`: one line per utterance,
`<utt> <start_s> <end_s> [<start_s> <end_s> ...]` (seconds, 3 decimals, spans
sorted and disjoint); an utterance where nothing was detected has the key alone.

The detector works on one utterance at a time and needs no training:
1. frame energies (dBFS) over `frame_s` windows every `hop_s`;
2. the utterance's loud level = the `reference_percentile` percentile of them;
3. a frame is active when it is within `threshold_db` of that level and above
   the absolute `floor_db` (digital silence is never speech);
4. runs of active frames shorter than `min_speech_s` are dropped (clicks);
5. each run is widened by `onset_s` before and `hangover_s` after, so weak
   onsets and word endings stay inside;
6. pauses shorter than `min_pause_s` are bridged (pauses between words stay
   inside a span, pauses between phrases separate spans).
Relative thresholds make it level independent; it is not meant for noisy
audio (it runs on the clean corpus, before any mixing).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tsepn.fileio import TableError, atomic_open, iter_table

log = logging.getLogger(__name__)

Span = Tuple[float, float]  # seconds


@dataclass
class ActivityConfig:
    frame_s: float = 0.025  # analysis window
    hop_s: float = 0.010  # frame step
    reference_percentile: float = 95.0  # "loud frames" level of the utterance
    threshold_db: float = 35.0  # active: energy >= reference - threshold_db
    floor_db: float = -70.0  # active only above this absolute level (dBFS)
    min_speech_s: float = 0.08  # shorter active runs (window included) are dropped
    onset_s: float = 0.03  # widen each run before its start
    hangover_s: float = 0.10  # widen each run after its end
    min_pause_s: float = 0.25  # shorter gaps are bridged


def frame_energies_db(audio: np.ndarray, sample_rate: int, frame_s: float, hop_s: float) -> np.ndarray:
    """Mean power per frame in dB (full-scale sine ~ -3 dB); `audio` is [T] or [C, T] (channels averaged)."""
    x = np.asarray(audio, dtype=np.float64)
    power = np.square(x) if x.ndim == 1 else np.mean(np.square(x), axis=0)
    frame, hop = max(1, int(round(frame_s * sample_rate))), max(1, int(round(hop_s * sample_rate)))
    if len(power) < frame:
        return 10 * np.log10(np.array([power.mean() if len(power) else 0.0]) + 1e-12)
    starts = np.arange(0, len(power) - frame + 1, hop)
    csum = np.concatenate([[0.0], np.cumsum(power)])
    return 10 * np.log10((csum[starts + frame] - csum[starts]) / frame + 1e-12)


def detect_speech(audio: np.ndarray, sample_rate: int, cfg: Optional[ActivityConfig] = None) -> List[Span]:
    """Speech spans (seconds) of one utterance, following the steps in the module docstring."""
    cfg = cfg or ActivityConfig()
    n = np.asarray(audio).shape[-1]
    duration = n / sample_rate
    energy = frame_energies_db(audio, sample_rate, cfg.frame_s, cfg.hop_s)
    audible = energy > cfg.floor_db
    if not audible.any():
        return []
    reference = np.percentile(energy[audible], cfg.reference_percentile)
    active = audible & (energy >= reference - cfg.threshold_db)
    frame = cfg.frame_s if n >= cfg.frame_s * sample_rate else duration
    spans = []
    for first, last in _runs(active):
        start, end = first * cfg.hop_s, last * cfg.hop_s + frame
        if end - start >= cfg.min_speech_s:
            spans.append((max(0.0, start - cfg.onset_s), min(duration, end + cfg.hangover_s)))
    return merge_spans(spans, cfg.min_pause_s)


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
    """(first, last) indices of each run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2] - 1))


def merge_spans(spans: Sequence[Span], min_gap: float = 0.0) -> List[Span]:
    """Sort spans and join those that overlap or are separated by less than `min_gap`."""
    merged: List[List[float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] < min_gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(round(s, 3), round(e, 3)) for s, e in merged]


# ---------------------------------------------------------------------------
# Trimming long silences (the paper trims them from every utterance)
# ---------------------------------------------------------------------------
def kept_pieces(spans: Sequence[Span], duration: float, max_pause_s: float = 0.3,
                edge_s: float = 0.1) -> List[Span]:
    """Pieces of [0, duration] to keep so that no silence is longer than `max_pause_s`.

    Every span is kept whole; a pause between spans keeps at most `max_pause_s`
    (half after the previous span, half before the next); at most `edge_s` is
    kept before the first and after the last span. No spans: nothing is kept.
    """
    if not spans:
        return []
    spans = merge_spans(spans)
    half = max_pause_s / 2
    pieces = [[max(0.0, spans[0][0] - edge_s), spans[0][1]]]
    for (_, prev_end), (start, end) in zip(spans, spans[1:]):
        if start - prev_end <= max_pause_s:
            pieces[-1][1] = end
        else:
            pieces[-1][1] = prev_end + half
            pieces.append([start - half, end])
    pieces[-1][1] = min(duration, spans[-1][1] + edge_s)
    return [(s, e) for s, e in pieces]


def trim_silences(audio: np.ndarray, sample_rate: int, spans: Sequence[Span], max_pause_s: float = 0.3,
                  edge_s: float = 0.1) -> Tuple[np.ndarray, List[Span]]:
    """Cut long silences out of `audio` ([T] or [C, T]); returns the audio and its spans in the new timing."""
    duration = np.asarray(audio).shape[-1] / sample_rate
    pieces = kept_pieces(spans, duration, max_pause_s, edge_s)
    if not pieces:
        return np.asarray(audio)[..., :0], []
    bounds = [(int(round(s * sample_rate)), int(round(e * sample_rate))) for s, e in pieces]
    out = np.concatenate([np.asarray(audio)[..., a:b] for a, b in bounds], axis=-1)
    new_spans, offset = [], 0.0
    merged = merge_spans(spans)
    for (p_start, p_end), (a, b) in zip(pieces, bounds):
        for s, e in merged:
            if s < p_end and e > p_start:
                new_spans.append((offset + max(s, p_start) - p_start, offset + min(e, p_end) - p_start))
        offset += (b - a) / sample_rate
    return out, merge_spans(new_spans)


def spans_to_mask(spans: Sequence[Span], n_samples: int, sample_rate: int) -> np.ndarray:
    """Boolean [n_samples] mask, True inside the spans."""
    mask = np.zeros(n_samples, dtype=bool)
    for start, end in spans:
        mask[int(round(start * sample_rate)) : int(round(end * sample_rate))] = True
    return mask


# ---------------------------------------------------------------------------
# The `activity` table
# ---------------------------------------------------------------------------
def write_activity(path, activity: Dict[str, Sequence[Span]]) -> None:
    """Write `<utt> <start> <end> ...` lines, sorted by utterance, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for utt in sorted(activity):
            times = " ".join(f"{s:.3f} {e:.3f}" for s, e in activity[utt])
            handle.write(f"{utt} {times}\n" if times else f"{utt}\n")


def read_activity(path) -> Dict[str, List[Span]]:
    """Read an `activity` table; errors name file:line."""
    out: Dict[str, List[Span]] = {}
    for lineno, fields in iter_table(path, min_fields=1):
        utt, times = fields[0], fields[1:]
        if utt in out:
            raise TableError(f"{path}:{lineno}: duplicate key {utt!r}")
        values = parse_span_times(times, f"{path}:{lineno}")
        out[utt] = list(zip(values[::2], values[1::2]))
    return out


def parse_span_times(times: Sequence[str], where: str) -> List[float]:
    """The fields after an `activity` line's key -> [start, end, start, end, ...] in seconds.

    Also used by tsepn.data.datadir's validation; TableError messages start with `where` (file:line).
    """
    if len(times) % 2:
        raise TableError(f"{where}: expected start/end pairs after the key, got {len(times)} numbers")
    try:
        return [float(t) for t in times]
    except ValueError:
        raise TableError(f"{where}: non-numeric time in {' '.join(times)!r}") from None


# ---------------------------------------------------------------------------
# A whole data directory (stage 2)
# ---------------------------------------------------------------------------
def _detect_one(args) -> Tuple[str, List[Span]]:
    from tsepn.audio import read_audio

    utt, spec, sample_rate, strict, cfg = args
    audio, sr = read_audio(spec, sample_rate=sample_rate, strict=strict, channels=1)
    return utt, detect_speech(audio[0], sr, cfg)


def compute_dir_activity(data_dir, cfg: Optional[ActivityConfig] = None, nj: int = 1, sample_rate: int = 16000,
                         strict: bool = False, progress: bool = True) -> Dict[str, List[Span]]:
    """Detect speech in every utterance of `data_dir/wav.scp` and write `data_dir/activity`."""
    from tsepn.fileio import read_table
    from tsepn.progress import progress as progress_bar

    data_dir = Path(data_dir)
    cfg = cfg or ActivityConfig()
    wav = read_table(data_dir / "wav.scp")
    tasks = [(utt, spec, sample_rate, strict, cfg) for utt, spec in wav.items()]
    results: Dict[str, List[Span]] = {}
    bar = progress_bar(total=len(tasks), desc=f"activity {data_dir.name}", unit="utt", disable=not progress)
    if nj > 1 and len(tasks) > 1:
        import multiprocessing

        with multiprocessing.Pool(nj) as pool:
            for utt, spans in pool.imap_unordered(_detect_one, tasks, chunksize=max(1, min(64, len(tasks) // (4 * nj)))):
                results[utt] = spans
                bar.update()
    else:
        for task in tasks:
            utt, spans = _detect_one(task)
            results[utt] = spans
            bar.update()
    bar.close()
    silent = sorted(u for u, s in results.items() if not s)
    if silent:
        log.warning("%s: no speech detected in %d utterance(s), e.g. %s", data_dir, len(silent), silent[0])
    write_activity(data_dir / "activity", results)
    return results
