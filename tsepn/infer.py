"""Inference: run a trained model on one (mixture, positive, negative) triple.

    extractor = Extractor.from_checkpoint("exp/x/model.pt", chunk_seconds=1.0)
    out = extractor(mix, pos, neg)          # numpy float32 [C, T] in, [Cout, T] out

The enrollments are encoded once; the mixture then goes through the model in one call
(chunk_seconds=None) or in chunks of `chunk_seconds`, carrying the model's streaming state
from chunk to chunk exactly as a live stream would (the last chunk may be shorter).

`cut_enrollments` makes the positive/negative pair from ONE recording and a segments file
(see its docstring for the format).
"""
from __future__ import annotations

import logging
import math
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from tsepn.fileio import TableError  # noqa: F401 - re-exported for callers of the segment helpers
from tsepn.runtime.segments import (  # noqa: F401 - the segments helpers live in the torch-free runtime
    LABELS,
    MIN_ENROLL_SECONDS,
    EnrollSpan,
    cut_enrollments,
    cut_spans,
    read_enroll_segments,
    spans_from,
)

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 16000


class InputError(ValueError):
    """Input audio that does not suit the model (channels, length, values)."""


def model_io(model) -> Tuple[int, int, int]:
    """(input channels, output channels, sample rate) a model declares."""
    in_ch = int(getattr(model, "in_channels", 1))
    out_ch = int(getattr(model, "out_channels", in_ch))
    rate = int(getattr(model, "sample_rate", DEFAULT_SAMPLE_RATE))
    return in_ch, out_ch, rate


class Extractor:
    """Callable wrapper: numpy in, numpy out, enrollment encoded once per call."""

    def __init__(self, model: torch.nn.Module, device="cpu", chunk_seconds: Optional[float] = None):
        if chunk_seconds is not None and not chunk_seconds > 0:
            raise ValueError(f"chunk_seconds must be > 0, got {chunk_seconds}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.chunk_seconds = chunk_seconds
        self.in_channels, self.out_channels, self.sample_rate = model_io(model)
        self._check_chunk_size()

    @classmethod
    def from_checkpoint(cls, path, arch: Optional[str] = None, device="cpu", chunk_seconds: Optional[float] = None):
        """Load a tsepn checkpoint, or the authors' `{"state_dict": ...}` file given `arch`."""
        from tsepn.models.checkpoint import load_model

        return cls(load_model(path, arch=arch), device=device, chunk_seconds=chunk_seconds)

    @property
    def chunk_samples(self) -> Optional[int]:
        if self.chunk_seconds is None:
            return None
        return max(1, int(round(self.chunk_seconds * self.sample_rate)))

    def _check_chunk_size(self) -> None:
        """A streaming model frames its input in hops: every chunk but the last must be whole hops."""
        hop = getattr(self.model, "hop", None)
        if self.chunk_samples is None or hop is None or self.model.init_state(1) is None:
            return  # whole-signal call, or a model without streaming state (any chunk size works)
        if self.chunk_samples % hop:
            rounded = max(1, round(self.chunk_samples / hop)) * hop / self.sample_rate
            raise ValueError(
                f"chunk_seconds={self.chunk_seconds} gives {self.chunk_samples} samples, not a multiple of the"
                f" model's hop ({hop} samples at {self.sample_rate} Hz); use e.g. {rounded:g}"
            )

    def __call__(self, mix: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                 side: Optional[Dict[str, np.ndarray]] = None) -> np.ndarray:
        """`side`: inputs beyond the three a model may take (e.g. refsel's `candidates`, an
        oracle-pitch model's `pitch`), passed to its encode() by name."""
        mix = self._check(mix, "mixture", min_samples=1)
        min_enroll = int(math.ceil(MIN_ENROLL_SECONDS * self.sample_rate))
        pos = self._check(pos, "positive enrollment", min_samples=min_enroll)
        neg = self._check(neg, "negative enrollment", min_samples=min_enroll)
        with torch.inference_mode():
            extra = {name: self._tensor(np.asarray(value, dtype=np.float32)) for name, value in (side or {}).items()}
            cond = self.model.encode(self._tensor(pos), self._tensor(neg), **extra)
            out = self._run(self._tensor(mix), cond)
        return out[0].cpu().numpy().astype(np.float32, copy=False)

    def _run(self, mix: torch.Tensor, cond) -> torch.Tensor:
        state = self.model.init_state(mix.shape[0])
        step = self.chunk_samples or mix.shape[-1]
        outputs = []
        for start in range(0, mix.shape[-1], step):
            out, state = self.model(mix[..., start : start + step], cond, state)
            outputs.append(out)
        out = torch.cat(outputs, dim=-1)
        if out.shape[-2:] != (self.out_channels, mix.shape[-1]):
            raise RuntimeError(
                f"model returned shape {tuple(out.shape)}, expected [1, {self.out_channels}, {mix.shape[-1]}]"
            )
        return out

    def _tensor(self, audio: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(audio).to(self.device)[None]

    def _check(self, audio, name: str, min_samples: int) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2:
            raise InputError(f"{name}: expected [channels, samples], got shape {audio.shape}")
        if audio.shape[0] != self.in_channels:
            raise InputError(
                f"{name}: {audio.shape[0]} channel(s), but the model takes {self.in_channels}"
                f" ({_channel_word(self.in_channels)} input)"
            )
        if audio.shape[1] < min_samples:
            raise InputError(
                f"{name}: {audio.shape[1]} samples ({audio.shape[1] / self.sample_rate:.3f} s) is too short;"
                f" at least {min_samples} samples ({min_samples / self.sample_rate:.3f} s) are needed"
            )
        if not np.all(np.isfinite(audio)):
            raise InputError(f"{name}: holds NaN or Inf samples")
        return np.ascontiguousarray(audio)


def _channel_word(channels: int) -> str:
    return {1: "monaural", 2: "binaural"}.get(channels, f"{channels}-channel")
