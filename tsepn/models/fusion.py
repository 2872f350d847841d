"""How the enrollment embedding enters the extractor (`FUSIONS` registry).

Every fusion works in two steps so that the enrollment side is computed once per
utterance, never per streaming chunk:
- `prepare(cond)`: conditioning embedding, channels-last [B, T_c, F, C_c] -> whatever the
  fusion needs later (pooled keys/values, FiLM coefficients...);
- `forward(x, prepared)`: mixture features [B, T, F, C] -> a term the extractor adds to x.

Fusions are built as `FUSIONS.build(name, channels=, cond_channels=, n_freqs=, **options)`.
- `cross_attention` (the authors'): the embedding is average-pooled over time, then each
  mixture frame attends to the pooled frames (full-band multi-head attention).
- `film`, `concat`, `add`: the paper's ablation alternatives, driven by the embedding's
  time average: feature-wise scale and shift / a projection of [features, embedding] /
  an added projection of the embedding.
"""
from __future__ import annotations

import inspect
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from tsepn.models.attention import FullBandAttention, attend
from tsepn.models.tfgridnet import use_fast_frame
from tsepn.registry import Registry

FUSIONS: Registry[nn.Module] = Registry("fusion")


def time_average(cond: torch.Tensor) -> torch.Tensor:
    """[B, T, F, C] -> [B, 1, F, C]: the embedding summarised over time."""
    return cond.mean(dim=1, keepdim=True)


@FUSIONS.register("cross_attention")
class CrossAttentionFusion(nn.Module):
    """Mixture frames (queries) attend to time-pooled enrollment frames (keys/values)."""

    def __init__(self, channels: int, cond_channels: int, n_freqs: int, n_heads: int = 4, approx_qk_dim: int = 512,
                 pooling_size: int = 40, pooling_stride: int = 40, eps: float = 1e-5):
        super().__init__()
        if pooling_size < 1 or pooling_stride < 1:
            raise ValueError(f"pooling_size and pooling_stride must be >= 1, got {pooling_size}, {pooling_stride}")
        self.model = FullBandAttention(channels, n_freqs, n_heads=n_heads, approx_qk_dim=approx_qk_dim, eps=eps,
                                       kv_channels=cond_channels)
        self.pooling_size, self.pooling_stride = pooling_size, pooling_stride

    def pool(self, cond: torch.Tensor) -> torch.Tensor:
        """Average-pool [B, T, F, C] over time with the configured window and stride."""
        batch, frames, freqs, channels = cond.shape
        if frames < self.pooling_size:
            raise ValueError(f"enrollment embedding has {frames} frames, fewer than the fusion's pooling window "
                             f"({self.pooling_size} frames): use a longer enrollment")
        x = cond.permute(0, 2, 3, 1).reshape(batch, freqs * channels, frames)
        x = F.avg_pool1d(x, self.pooling_size, self.pooling_stride)
        return x.view(batch, freqs, channels, -1).permute(0, 3, 1, 2)

    def prepare(self, cond: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.model.keys_values(self.pool(cond))

    def forward(self, x: torch.Tensor, prepared: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        keys, values = prepared
        if use_fast_frame(x):
            return self.model.frame_cross(x, keys, values)
        return self.model.output(attend(self.model.queries(x), keys, values))


@FUSIONS.register("film")
class FiLMFusion(nn.Module):
    """Feature-wise linear modulation: adds x * gamma + beta, both predicted per (freq, channel)."""

    def __init__(self, channels: int, cond_channels: int, n_freqs: int):
        super().__init__()
        self.proj = nn.Linear(cond_channels, 2 * channels)

    def prepare(self, cond: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        gamma, beta = self.proj(time_average(cond)).chunk(2, dim=-1)
        return gamma, beta

    def forward(self, x: torch.Tensor, prepared: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        gamma, beta = prepared
        return x * gamma + beta


@FUSIONS.register("concat")
class ConcatFusion(nn.Module):
    """PReLU(Linear([x, embedding])); the embedding's share of the matmul is done once in prepare."""

    def __init__(self, channels: int, cond_channels: int, n_freqs: int):
        super().__init__()
        self.channels = channels
        self.proj = nn.Linear(channels + cond_channels, channels)
        self.act = nn.PReLU()

    def prepare(self, cond: torch.Tensor) -> torch.Tensor:
        return F.linear(time_average(cond), self.proj.weight[:, self.channels:], self.proj.bias)

    def forward(self, x: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        return self.act(F.linear(x, self.proj.weight[:, : self.channels]) + prepared)


@FUSIONS.register("add")
class AdditiveFusion(nn.Module):
    """Adds a projection of the time-averaged embedding to every frame."""

    def __init__(self, channels: int, cond_channels: int, n_freqs: int):
        super().__init__()
        self.proj = nn.Linear(cond_channels, channels)

    def prepare(self, cond: torch.Tensor) -> torch.Tensor:
        return self.proj(time_average(cond))

    def forward(self, x: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        return prepared.expand_as(x)


def build_fusion(name: str, channels: int, cond_channels: int, n_freqs: int, options: dict) -> nn.Module:
    """Build fusion `name`; an option the fusion does not take is an error naming both."""
    constructor = FUSIONS.get(name)
    kwargs = dict(channels=channels, cond_channels=cond_channels, n_freqs=n_freqs, **options)
    try:
        inspect.signature(constructor).bind(**kwargs)
    except TypeError as err:
        raise TypeError(f"fusion {name!r}: bad fusion_args {sorted(options)}: {err}") from None
    return constructor(**kwargs)
