"""What a set may draw from: the speech and noise of one Kaldi data directory.

`SpeechPool` reads `wav.scp`, `utt2spk`, `utt2dur` and `activity` (validated by
tsepn.data.datadir) and turns every utterance into a *trimmed* utterance: the
pieces that tsepn.data.activity.kept_pieces keeps (pauses longer than
`max_pause_s` shortened to it, at most `edge_s` before the first and after the
last span), joined together, so long silences disappear (the paper trims them). Everything is in samples and computed from the tables alone: the sampler
(tsepn.data.scenario) never touches audio, the renderer (tsepn.data.render) reads
only the pieces it needs.

`NoisePool` reads `wav.scp` and `utt2dur` of a noise directory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from tsepn.data.activity import kept_pieces, read_activity
from tsepn.data.datadir import validate_data_dir

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


def trim(spans: List[Span], num_samples: int, sample_rate: int, max_pause_s: float,
         edge_s: float) -> Tuple[Tuple[Span, ...], Tuple[Span, ...]]:
    """Kept pieces (tsepn.data.activity.kept_pieces, in samples) and the spans in trimmed coordinates."""
    seconds = [(s / sample_rate, e / sample_rate) for s, e in spans]
    pieces = []
    for lo, hi in kept_pieces(seconds, num_samples / sample_rate, max_pause_s, edge_s) if spans else []:
        lo, hi = max(0, round(lo * sample_rate)), min(num_samples, round(hi * sample_rate))
        if hi > lo:
            pieces.append((lo, hi))
    trimmed_spans: List[Span] = []
    shift = 0
    for lo, hi in pieces:
        for start, end in spans:
            start, end = max(start, lo), min(end, hi)
            if end > start:
                trimmed_spans.append((start - lo + shift, end - lo + shift))
        shift += hi - lo
    return tuple(pieces), tuple(merge_sample_spans(trimmed_spans))


def merge_sample_spans(spans: List[Span]) -> List[Span]:
    """Sort [start, end) sample spans and join those that overlap or touch."""
    merged: List[List[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


class SpeechPool:
    """Speakers and their trimmed utterances of one data directory (validated first)."""

    def __init__(self, data_dir, sample_rate: int, max_pause_s: float = 0.3, edge_s: float = 0.1):
        self.data_dir = Path(data_dir)
        self.sample_rate = sample_rate
        self.trim = (max_pause_s, edge_s)
        self.utts: Dict[str, TrimmedUtt] = {}
        self.by_speaker: Dict[str, List[str]] = {}
        self._load()

    def _load(self) -> None:
        d, sr = self.data_dir, self.sample_rate
        if not d.is_dir():
            raise PoolError(f"{d}: speech data directory not found")
        if not (d / "activity").is_file():
            raise PoolError(f"{d / 'activity'}: missing (speech activity is computed by recipe stage 2)")
        data = validate_data_dir(d, check_files=False)  # tables, keys, activity spans: errors name file:line
        activity = read_activity(d / "activity")
        silent = 0
        for utt in data.wav:
            n = round(data.utt2dur[utt] * sr)
            spans = [(round(s * sr), min(n, round(e * sr))) for s, e in activity[utt]]
            pieces, trimmed = trim([(s, e) for s, e in spans if e > s], n, sr, *self.trim)
            length = sum(hi - lo for lo, hi in pieces)
            if length == 0:
                silent += 1
                continue
            speaker = data.utt2spk[utt]
            self.utts[utt] = TrimmedUtt(utt, speaker, data.wav[utt], pieces, trimmed, length)
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
        data = validate_data_dir(self.data_dir, check_files=False)  # an empty wav.scp is an error there
        self.audio = dict(data.wav)
        self.samples = {utt: round(data.utt2dur[utt] * sample_rate) for utt in self.audio}
        self.names = sorted(self.audio)
