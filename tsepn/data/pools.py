"""What a set may draw from: the speech and noise of one Kaldi data directory.

`SpeechPool` reads `wav.scp`, `utt2spk`, `utt2dur` and `activity` and turns every
utterance into a *trimmed* utterance: its speech spans (from `activity`) padded by
`trim_pad` samples, joined together, so long silences disappear (the paper trims
them). Everything is in samples and computed from the tables alone: the sampler
(tsepn.data.scenario) never touches audio, the renderer (tsepn.data.render) reads
only the pieces it needs.

`NoisePool` reads `wav.scp` and `utt2dur` of a noise directory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from tsepn.fileio import TableError, iter_table, read_table

log = logging.getLogger(__name__)

Span = Tuple[int, int]  # [start, end) in samples


class PoolError(ValueError):
    """A data directory that cannot feed the simulation; the message names the file."""


@dataclass(frozen=True)
class TrimmedUtt:
    """One utterance with its long silences removed.

    pieces: [start, end) sample ranges of the original file that are kept, in order;
    spans: speech activity in trimmed coordinates (0 = first kept sample);
    length: number of samples after trimming.
    """

    utt: str
    speaker: str
    audio: str
    pieces: Tuple[Span, ...]
    spans: Tuple[Span, ...]
    length: int


def read_activity(path: Path, sample_rate: int) -> Dict[str, List[Span]]:
    """Read `<utt> <start_s> <end_s> [...]` into {utt: [(start, end) samples]}.

    An utterance listed with no span has no speech. Errors name file:line.
    """
    spans: Dict[str, List[Span]] = {}
    for lineno, fields in iter_table(path, min_fields=1):
        utt, times = fields[0], fields[1:]
        if utt in spans:
            raise TableError(f"{path}:{lineno}: duplicate key {utt!r}")
        if len(times) % 2:
            raise TableError(f"{path}:{lineno}: expected start/end pairs after the key, got {len(times)} numbers")
        try:
            values = [float(t) for t in times]
        except ValueError:
            raise TableError(f"{path}:{lineno}: non-numeric time in {' '.join(times)!r}") from None
        pairs = []
        for start, end in zip(values[::2], values[1::2]):
            if not 0 <= start < end:
                raise TableError(f"{path}:{lineno}: bad span {start} {end} (need 0 <= start < end)")
            pairs.append((round(start * sample_rate), round(end * sample_rate)))
        spans[utt] = sorted(pairs)
    return spans


def read_durations(path: Path, sample_rate: int) -> Dict[str, int]:
    """Read `utt2dur` (seconds) into {utt: samples}."""
    out = {}
    for lineno, fields in iter_table(path, min_fields=2, max_fields=2):
        try:
            seconds = float(fields[1])
        except ValueError:
            raise TableError(f"{path}:{lineno}: duration {fields[1]!r} is not a number") from None
        if seconds <= 0:
            raise TableError(f"{path}:{lineno}: duration must be positive, got {seconds}")
        out[fields[0]] = round(seconds * sample_rate)
    return out


def trim(spans: List[Span], num_samples: int, pad: int) -> Tuple[Tuple[Span, ...], Tuple[Span, ...]]:
    """Pad speech spans by `pad`, merge them, and map the spans into trimmed coordinates."""
    pieces: List[List[int]] = []
    for start, end in spans:
        start, end = max(0, min(start, num_samples)), min(end, num_samples)
        if end <= start:
            continue
        lo, hi = max(0, start - pad), min(num_samples, end + pad)
        if pieces and lo <= pieces[-1][1]:
            pieces[-1][1] = max(pieces[-1][1], hi)
        else:
            pieces.append([lo, hi])
    trimmed_spans: List[Span] = []
    shift = 0
    for lo, hi in pieces:
        for start, end in spans:
            start, end = max(start, lo), min(end, hi)
            if end > start:
                trimmed_spans.append((start - lo + shift, end - lo + shift))
        shift += hi - lo
    return tuple((lo, hi) for lo, hi in pieces), _merge(trimmed_spans)


def _merge(spans: List[Span]) -> Tuple[Span, ...]:
    merged: List[List[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


class SpeechPool:
    """Speakers and their trimmed utterances of one data directory."""

    def __init__(self, data_dir, sample_rate: int, trim_pad: int):
        self.data_dir = Path(data_dir)
        self.sample_rate = sample_rate
        self.trim_pad = trim_pad
        self.utts: Dict[str, TrimmedUtt] = {}
        self.by_speaker: Dict[str, List[str]] = {}
        self._load()

    def _load(self) -> None:
        d = self.data_dir
        if not d.is_dir():
            raise PoolError(f"{d}: speech data directory not found")
        wav = read_table(d / "wav.scp")
        utt2spk = read_table(d / "utt2spk")
        durations = read_durations(d / "utt2dur", self.sample_rate)
        activity = read_activity(d / "activity", self.sample_rate)
        for name, table in (("utt2spk", utt2spk), ("utt2dur", durations)):
            missing = sorted(set(wav) - set(table))
            if missing:
                raise PoolError(f"{d / name}: no entry for {len(missing)} utterance(s) of wav.scp, e.g. {missing[0]!r}")
        no_activity = sorted(set(wav) - set(activity))
        if no_activity:
            log.warning("%s: %d utterance(s) have no activity line (treated as silent), e.g. %s",
                        d / "activity", len(no_activity), no_activity[0])
        silent = 0
        for utt in sorted(wav):
            pieces, spans = trim(activity.get(utt, []), durations[utt], self.trim_pad)
            length = sum(hi - lo for lo, hi in pieces)
            if length == 0:
                silent += 1
                continue
            speaker = utt2spk[utt]
            self.utts[utt] = TrimmedUtt(utt, speaker, wav[utt], pieces, spans, length)
            self.by_speaker.setdefault(speaker, []).append(utt)
        if silent:
            log.info("%s: %d utterance(s) without speech are not used", d, silent)
        if not self.utts:
            raise PoolError(f"{d / 'activity'}: no utterance of {d / 'wav.scp'} has any speech")

    def speech_samples(self, speaker: str) -> int:
        return sum(self.utts[u].length for u in self.by_speaker[speaker])


class NoisePool:
    """Noise recordings of one directory: {utt: (audio spec, samples)}."""

    def __init__(self, data_dir, sample_rate: int):
        self.data_dir = Path(data_dir)
        self.sample_rate = sample_rate
        if not self.data_dir.is_dir():
            raise PoolError(f"{self.data_dir}: noise data directory not found")
        wav_scp = self.data_dir / "wav.scp"
        wav = read_table(wav_scp)
        if not wav:
            raise PoolError(f"{wav_scp}: lists no noise file")
        durations = read_durations(self.data_dir / "utt2dur", sample_rate)
        missing = sorted(set(wav) - set(durations))
        if missing:
            raise PoolError(f"{self.data_dir / 'utt2dur'}: no entry for {missing[0]!r} of wav.scp")
        self.audio = {utt: wav[utt] for utt in sorted(wav)}
        self.samples = {utt: durations[utt] for utt in self.audio}
        self.names = list(self.audio)
