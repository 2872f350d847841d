"""Discriminators for adversarial training (registry `DISCRIMINATORS`, used by tsepn.train.adversarial).

The contract: `discriminator(wave [B, C, T]) -> [(score, [feature, ...]), ...]`, one pair per
sub-discriminator: a score map (real is high) and the intermediate feature maps used for
feature matching. A system with its own discriminator registers it here by name.

`waveform`: a small multi-scale discriminator on the waveform in the manner of MelGAN
(Kumar et al., 2019): the same stack of strided, grouped 1-D convolutions applied to the
signal and to 2x and 4x average-pooled copies of it.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn as nn

from tsepn.models.registry import DISCRIMINATORS

Judgement = List[Tuple[torch.Tensor, List[torch.Tensor]]]


class ScaleDiscriminator(nn.Module):
    """Conv1d stack: a wide input layer, `layers` strided grouped layers, a 1-channel score layer."""

    def __init__(self, channels: int = 1, width: int = 16, layers: int = 3, groups: int = 4, slope: float = 0.2):
        super().__init__()
        if width % groups:
            raise ValueError(f"width {width} is not divisible by groups {groups}")
        convs = [nn.Conv1d(channels, width, 15, padding=7)]
        convs += [nn.Conv1d(width, width, 41, stride=4, padding=20, groups=groups) for _ in range(layers)]
        convs.append(nn.Conv1d(width, width, 5, padding=2))
        self.convs = nn.ModuleList(convs)
        self.score = nn.Conv1d(width, 1, 3, padding=1)
        self.slope = slope

    def forward(self, wave: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        features = []
        x = wave
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), self.slope)
            features.append(x)
        return self.score(x), features


@DISCRIMINATORS.register("waveform")
class MultiScaleDiscriminator(nn.Module):
    """`scales` ScaleDiscriminators on the waveform, each on a 2x average-pooled copy of the previous input."""

    def __init__(self, channels: int = 1, scales: int = 3, width: int = 16, layers: int = 3, groups: int = 4):
        super().__init__()
        if scales < 1:
            raise ValueError(f"scales must be >= 1, got {scales}")
        self.in_channels = channels
        self.discriminators = nn.ModuleList(ScaleDiscriminator(channels, width, layers, groups) for _ in range(scales))
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, wave: torch.Tensor) -> Judgement:
        if wave.dim() != 3 or wave.shape[1] != self.in_channels:
            raise ValueError(f"discriminator input must be [batch, {self.in_channels}, samples], got {tuple(wave.shape)}")
        out = []
        for i, disc in enumerate(self.discriminators):
            if i:
                wave = self.pool(wave)
            out.append(disc(wave))
        return out
