"""Waveform discriminators for adversarial refinement (the trainer's `adversarial:` section).

    disc = DISCRIMINATORS.build("multiscale", scales=3, channels=16)
    scores = disc(wave)       # [B, C, T] -> list of score maps [B, 1, T_s], one per scale

`multiscale`: `scales` sub-discriminators of the same shape, the first on the waveform, each
next one on the waveform average-pooled by 2 once more (the MelGAN layout): a wide
first conv, `layers` strided grouped convs (stride 4) widening up to `max_channels`,
a last conv, and a 1-channel score conv; LeakyReLU(0.2) between.
"""
from __future__ import annotations

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from tsepn.registry import Registry

DISCRIMINATORS: Registry[nn.Module] = Registry("discriminator")


class ScaleDiscriminator(nn.Module):
    def __init__(self, in_channels: int, channels: int, max_channels: int, layers: int, groups: int):
        super().__init__()
        convs = [nn.Conv1d(in_channels, channels, 15, padding=7)]
        width = channels
        for _ in range(layers):
            nxt = min(width * 4, max_channels)
            g = min(groups, width, nxt)
            while width % g or nxt % g:
                g -= 1
            convs.append(nn.Conv1d(width, nxt, 41, stride=4, padding=20, groups=g))
            width = nxt
        convs.append(nn.Conv1d(width, width, 5, padding=2))
        self.convs = nn.ModuleList(convs)
        self.score = nn.Conv1d(width, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return self.score(x)


@DISCRIMINATORS.register("multiscale")
class MultiScaleDiscriminator(nn.Module):
    def __init__(self, channels_in: int = 1, scales: int = 3, channels: int = 16, max_channels: int = 512,
                 layers: int = 4, groups: int = 4):
        super().__init__()
        if scales < 1:
            raise ValueError(f"scales must be >= 1, got {scales}")
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(channels_in, channels, max_channels, layers, groups) for _ in range(scales))

    def forward(self, wave: torch.Tensor) -> List[torch.Tensor]:
        if wave.dim() != 3:
            raise ValueError(f"discriminator input must be [batch, channels, samples], got {tuple(wave.shape)}")
        scores = []
        x = wave
        for i, disc in enumerate(self.discriminators):
            if i:
                x = F.avg_pool1d(x, 4, stride=2, padding=1, count_include_pad=False)
            scores.append(disc(x))
        return scores
