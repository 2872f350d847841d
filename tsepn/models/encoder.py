"""The siamese enrollment encoder: a non-causal TF-GridNet without its decoder path.

It is ESPnet's `TFGridNet` separator (subclassed, so the parameter names are ESPnet's:
`conv`, `blocks.N`, and an unused `deconv` kept for checkpoint compatibility) with a
forward pass that stops after the last GridNet block and returns the embedding sequence.
The same weights embed the positive and the negative enrollment.

Input handling follows the authors: a signal with fewer channels than the encoder was
built for (mono into a 2-channel encoder) is duplicated across channels, then divided by
its own standard deviation.
"""
from __future__ import annotations

import warnings

import torch

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from espnet2.enh.separator.tfgridnet_separator import TFGridNet

from tsepn.models.tfgridnet import gridnet_block_forward

# Guards the division by the signal's std against digital silence; far below any real level.
STD_FLOOR = 1e-8


def normalise_by_std(wave: torch.Tensor) -> torch.Tensor:
    """Divide each item of [B, C, N] by its std over channels and samples (unbiased, like torch.std)."""
    std = torch.std(wave, dim=(1, 2), keepdim=True)
    return wave / std.clamp_min(STD_FLOOR)


class SiameseEncoder(TFGridNet):
    """Enrollment waveform [B, C, N] -> embedding [B, emb_dim, frames, n_fft // 2 + 1].

    frames = N // hop + 1 (centred STFT with reflection padding, Hann window).
    """

    def __init__(self, in_channels: int = 2, n_fft: int = 128, hop: int = 64, n_layers: int = 3,
                 lstm_hidden: int = 64, emb_dim: int = 64, emb_ks: int = 4, emb_hs: int = 1,
                 n_heads: int = 4, approx_qk_dim: int = 512, eps: float = 1e-5):
        super().__init__(
            input_dim=None, n_srcs=1, n_fft=n_fft, stride=hop, window="hann", n_imics=in_channels,
            n_layers=n_layers, lstm_hidden_units=lstm_hidden, attn_n_head=n_heads,
            attn_approx_qk_dim=approx_qk_dim, emb_dim=emb_dim, emb_ks=emb_ks, emb_hs=emb_hs,
            activation="prelu", eps=eps,
        )
        self.in_channels, self.n_fft, self.hop = in_channels, n_fft, hop
        self.emb_dim, self.n_freqs = emb_dim, n_fft // 2 + 1
        self.register_buffer("stft_window", torch.hann_window(n_fft), persistent=False)
        self._keep_decoder_as_buffers()

    def _keep_decoder_as_buffers(self) -> None:
        """The separator's output conv (`deconv`) is never used here, but the authors'
        checkpoints carry it: keep its tensors under the same keys as buffers, not
        parameters, so that no optimizer or DistributedDataParallel waits for its gradients."""
        for module in self.deconv.modules():
            for name, param in list(module.named_parameters(recurse=False)):
                delattr(module, name)
                module.register_buffer(name, param.detach())

    def spectrum(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, M, N] -> [B, 2M, T, F]: real parts of every channel, then imaginary parts."""
        batch, channels, samples = wave.shape
        spec = torch.stft(wave.reshape(batch * channels, samples), self.n_fft, self.hop, window=self.stft_window,
                          center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
        spec = spec.view(batch, channels, spec.shape[1], spec.shape[2]).transpose(2, 3)
        return torch.cat([spec.real, spec.imag], dim=1)

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """Enrollment [B, C, N] -> channels-last embedding [B, T, F, emb_dim]."""
        if wave.dim() != 3:
            raise ValueError(f"enrollment must be [batch, channels, samples], got shape {tuple(wave.shape)}")
        channels = wave.shape[1]
        if channels != self.in_channels:
            if channels != 1:
                raise ValueError(f"encoder takes {self.in_channels}-channel (or mono) audio, got {channels} channels")
            wave = wave.expand(-1, self.in_channels, -1)
        x = self.conv(self.spectrum(normalise_by_std(wave)))  # [B, C, T, F]
        x = x.permute(0, 2, 3, 1).contiguous()  # see StreamingExtractor._input_conv: residual sums keep x's layout
        for block in self.blocks:
            x = gridnet_block_forward(block, x)
        return x

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Enrollment [B, C, N] -> embedding [B, emb_dim, T, F] (the authors' layout)."""
        return self.features(wave).permute(0, 3, 1, 2)
