"""Long recordings with flat memory: block reads/writes, progress, windowed overlap-add (numpy only).

- `read_blocks(path, block)`: the file as float32 [C, n] blocks (soundfile, never the whole file).
- `BlockWriter(path, sample_rate, channels)`: appends blocks to a float32 WAV written under a
  temporary name and renamed into place on success (no partial output on error).
- `Progress(total, desc)`: a tqdm bar on a terminal, plain "desc: 40% (24.0/60.0 s)" lines
  every 10 % otherwise (logs, CI).
- `overlap_add_windows(blocks, run, window, overlap)`: for models that are not streaming.
  The input is cut into windows of `window` samples starting every `window - overlap`
  samples (the last window ends at the end of the input and may be shorter); each window is
  processed on its own by `run`, and consecutive outputs are cross-faded over the
  `overlap` samples they share with linear ramps (weights (1 - r) and r, r = (i + 0.5) /
  overlap, summing to 1), so a model that gives the same output for a sample in both
  windows is reproduced exactly, and otherwise the seam is a smooth blend. Only one
  window and one overlap of output are held in memory.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy as np

log = logging.getLogger(__name__)


def read_blocks(path, block: int, channels: Optional[int] = None, sample_rate: Optional[int] = None,
                start: int = 0) -> Iterator[np.ndarray]:
    """Yield float32 [C, n] blocks of `block` samples (the last may be shorter) from an audio file."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        if sample_rate is not None and f.samplerate != sample_rate:
            raise ValueError(f"{path}: sample rate {f.samplerate} Hz, the model runs at {sample_rate} Hz "
                             "(resample it first)")
        if channels is not None and f.channels != channels:
            raise ValueError(f"{path}: {f.channels} channel(s), the model takes {channels}")
        if start:
            f.seek(start)
        while True:
            data = f.read(block, dtype="float32", always_2d=True)
            if not len(data):
                return
            yield np.ascontiguousarray(data.T)


def push_blocks(stream, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Feed mixture blocks to a stateful `stream` (push/flush); yields its non-empty output blocks."""
    for block in blocks:
        out = stream.push(block)
        if out.shape[-1]:
            yield out
    tail = stream.flush()
    if tail.shape[-1]:
        yield tail


def file_frames(path) -> int:
    import soundfile as sf

    return sf.info(str(path)).frames


class BlockWriter:
    """Float32 WAV written block by block; appears at `path` only when the `with` block succeeds."""

    def __init__(self, path, sample_rate: int, channels: int, subtype: str = "FLOAT"):
        self.path, self.sample_rate, self.channels, self.subtype = Path(path), sample_rate, channels, subtype
        self.frames = 0

    def __enter__(self) -> "BlockWriter":
        import soundfile as sf

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp.wav", dir=str(self.path.parent))
        os.close(fd)
        self.tmp = Path(tmp)
        self.file = sf.SoundFile(str(self.tmp), "w", samplerate=self.sample_rate, channels=self.channels,
                                 subtype=self.subtype, format="WAV")
        return self

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"block must be [{self.channels}, n], got {block.shape}")
        if not np.all(np.isfinite(block)):
            raise ValueError(f"non-finite output samples after {self.frames} samples; no output written")
        self.file.write(block.T)
        self.frames += block.shape[1]

    def __exit__(self, kind, value, tb) -> None:
        self.file.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


class Progress:
    """Progress over `total` samples: tqdm on a TTY, else a plain line every `every` (fraction)."""

    def __init__(self, total: int, desc: str = "extract", sample_rate: int = 16000, enabled: bool = True,
                 stream=None, every: float = 0.1):
        self.total, self.desc, self.rate, self.done = max(int(total), 1), desc, sample_rate, 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled, self.every, self.next_mark = enabled, every, every
        self.bar = None
        if enabled and hasattr(self.stream, "isatty") and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total / sample_rate, desc=desc, unit="s", file=self.stream,
                            bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]")

    def update(self, samples: int) -> None:
        self.done += int(samples)
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(samples / self.rate)
            return
        share = min(self.done / self.total, 1.0)
        if share >= self.next_mark - 1e-9:
            print(f"{self.desc}: {share * 100:3.0f}% ({self.done / self.rate:.1f}/{self.total / self.rate:.1f} s)",
                  file=self.stream, flush=True)
            self.next_mark = (int(share / self.every + 1e-9) + 1) * self.every

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def rechunk(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup [C, n] blocks into [C, size] blocks (the last may be shorter)."""
    buffer = None
    for block in blocks:
        buffer = block if buffer is None or not buffer.shape[-1] else np.concatenate([buffer, block], axis=-1)
        while buffer.shape[-1] >= size:
            yield buffer[:, :size]
            buffer = buffer[:, size:]
    if buffer is not None and buffer.shape[-1]:
        yield buffer


def crossfade_weights(overlap: int) -> np.ndarray:
    """Fade-in ramp r (float32 [overlap]); the previous window's output gets 1 - r."""
    return ((np.arange(overlap, dtype=np.float64) + 0.5) / overlap).astype(np.float32)


def overlap_add_windows(blocks: Iterable[np.ndarray], run: Callable[[np.ndarray], np.ndarray], window: int,
                        overlap: int) -> Iterator[np.ndarray]:
    """Process input blocks in overlapping windows (see the module docstring); yields output blocks.

    The outputs add up to exactly the input's length.
    """
    if not 0 <= overlap < window:
        raise ValueError(f"need 0 <= overlap < window, got overlap={overlap}, window={window}")
    hop = window - overlap
    ramp = crossfade_weights(overlap) if overlap else None
    pending = None  # input samples not yet part of a processed window, plus the overlap they need
    tail = None  # the last `overlap` output samples of the previous window, not yet emitted
    source = iter(blocks)
    exhausted = False
    while True:
        while not exhausted and (pending is None or pending.shape[-1] < window):
            block = next(source, None)
            if block is None:
                exhausted = True
            else:
                pending = block if pending is None or not pending.shape[-1] else np.concatenate([pending, block], -1)
        if pending is None:
            break
        if tail is not None and pending.shape[-1] <= overlap:
            yield tail  # the previous window reached the end of the input
            break
        last = exhausted and pending.shape[-1] <= window
        segment = pending[:, :window]
        out = np.asarray(run(segment), dtype=np.float32)
        if out.shape[-1] != segment.shape[-1]:
            raise RuntimeError(f"window output has {out.shape[-1]} samples for {segment.shape[-1]} input samples")
        if tail is not None and overlap:
            n = min(overlap, out.shape[-1])
            out = out.copy()
            out[:, :n] = tail[:, :n] * (1.0 - ramp[:n]) + out[:, :n] * ramp[:n]
        if last:
            yield out
            break
        yield out[:, :hop]
        tail = out[:, hop:]
        pending = pending[:, hop:]
