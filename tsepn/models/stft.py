"""STFT analysis / synthesis as 1-D (transposed) convolutions with a fixed DFT filterbank.

The published causal extractor stores its STFT as asteroid-filterbanks does: a module
`enc` / `dec` holding `filterbank._filters` [n_fft + 2, 1, kernel] (real rows then
imaginary rows, windowed, scaled) and `filterbank.torch_window`. asteroid itself is not a
dependency: the filters are rebuilt here with the same numbers, so the authors' state
dicts load and reproduce their outputs.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sqrt_hann(length: int) -> np.ndarray:
    """Square root of a periodic Hann window (asteroid's default STFT window)."""
    return np.hanning(length + 1)[:-1] ** 0.5


class STFTFilterbank(nn.Module):
    """DFT filters for conv1d: rows [0, F) are real parts, rows [F, 2F) imaginary parts.

    Scaling follows asteroid's STFT filterbank: each DFT row is divided by
    0.5 * sqrt(kernel * n_fft / hop), and the DC and Nyquist rows by a further sqrt(2),
    so that analysis followed by synthesis with the same filters reconstructs the signal.
    """

    def __init__(self, n_fft: int, hop: int, kernel_size: int | None = None):
        super().__init__()
        kernel_size = kernel_size or n_fft
        if n_fft % 2 or n_fft < kernel_size:
            raise ValueError(f"n_fft must be even and >= kernel_size, got n_fft={n_fft}, kernel_size={kernel_size}")
        self.n_fft, self.hop, self.kernel_size = n_fft, hop, kernel_size
        self.n_freqs = n_fft // 2 + 1
        window = sqrt_hann(kernel_size)
        dft = np.fft.fft(np.eye(n_fft)) / (0.5 * math.sqrt(kernel_size * n_fft / hop))
        left = (n_fft - kernel_size) // 2
        dft = dft[: self.n_freqs, left : left + kernel_size]
        filters = np.concatenate([dft.real, dft.imag], axis=0)
        filters[0] /= math.sqrt(2)
        filters[n_fft // 2] /= math.sqrt(2)
        filters = torch.from_numpy(filters * window).float().unsqueeze(1)
        self.register_buffer("_filters", filters)
        self.register_buffer("torch_window", torch.from_numpy(window).float())

    @property
    def filters(self) -> torch.Tensor:
        return self._filters


class STFTAnalysis(nn.Module):
    """Waveform [B, M, N] -> real/imag stacked spectrum [B, M, 2F, frames] (no padding)."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.filterbank = STFTFilterbank(n_fft, hop)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        batch, channels, samples = wave.shape
        spec = F.conv1d(wave.reshape(batch * channels, 1, samples), self.filterbank.filters, stride=self.filterbank.hop)
        return spec.view(batch, channels, spec.shape[1], spec.shape[2])


class STFTSynthesis(nn.Module):
    """Real/imag stacked spectrum [B, S, 2F, frames] -> overlap-added waveform [B, S, (frames-1)*hop + n_fft]."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.filterbank = STFTFilterbank(n_fft, hop)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        batch, sources, rows, frames = spec.shape
        wave = F.conv_transpose1d(spec.reshape(batch * sources, rows, frames), self.filterbank.filters, stride=self.filterbank.hop)
        return wave.view(batch, sources, wave.shape[-1])
