"""NMF: the paper's non-neural baseline, from the positive and negative enrollments. No parameters, no training.

The rule (magnitude spectrograms |STFT| of the channel average; KL-divergence NMF with
multiplicative updates, `iterations` of them each time, seeded initialisation):
1. negative bases: V_neg ~= W_neg H            (W_neg: `neg_bases` columns, learnt)
2. target bases:   V_pos ~= [W_neg | W_tgt] H  (W_neg fixed from 1; W_tgt: `pos_bases` columns, learnt)
   So W_tgt holds what the positive enrollment has and the negative bases cannot explain:
   the bases that explain the positive but not the negative enrollment (the target, and
   whatever else is only in the positive enrollment, e.g. a partial interferer).
3. mixture:        V_mix ~= [W_neg | W_tgt] H  (every basis fixed; H learnt)
   target estimate = Wiener-like mask  W_tgt H_tgt / (W H + eps)  on the mixture's complex
   STFT, inverse STFT (the mixture's phase).
`encode(pos, neg)` does 1-2 once per utterance; `forward` does 3 per call (whole signal).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn as nn

from tsepn.models.base import TSEModule
from tsepn.models.common import check_audio
from tsepn.models.registry import MODELS

EPS = 1e-10


def kl_nmf(V: torch.Tensor, W: torch.Tensor, H: torch.Tensor, iterations: int, fixed: int = 0,
           update_w: bool = True):
    """Multiplicative KL-NMF updates of V [B, F, T] ~= W [B, F, K] H [B, K, T]; the first `fixed`
    columns of W are kept (all of them with update_w=False). Returns (W, H)."""
    for _ in range(iterations):
        ratio = V / (W @ H + EPS)
        H = H * (W.transpose(1, 2) @ ratio) / (W.sum(dim=1).unsqueeze(-1) + EPS)
        if update_w and fixed < W.shape[-1]:
            ratio = V / (W @ H + EPS)
            free = W[..., fixed:] * (ratio @ H[:, fixed:].transpose(1, 2)) / (H[:, fixed:].sum(dim=-1).unsqueeze(1) + EPS)
            W = torch.cat([W[..., :fixed], free], dim=-1)
    return W, H


@MODELS.register("nmf")
class NMFExtractor(TSEModule):
    """Defaults (the paper's baseline size is not published): STFT 1024 / 256 (Hann), 20
    negative and 20 target bases, 100 multiplicative updates per factorisation."""

    inputs = ("mix", "pos", "neg")
    streaming = False

    def __init__(self, n_fft: int = 1024, hop: int = 256, pos_bases: int = 20, neg_bases: int = 20,
                 iterations: int = 100, seed: int = 0, sample_rate: int = 16000):
        super().__init__()
        if min(pos_bases, neg_bases, iterations) < 1:
            raise ValueError("pos_bases, neg_bases and iterations must be >= 1")
        self.sample_rate = sample_rate
        self.n_fft, self.hop = n_fft, hop
        self.pos_bases, self.neg_bases, self.iterations, self.seed = pos_bases, neg_bases, iterations, seed

    def _stft(self, audio: torch.Tensor) -> torch.Tensor:
        window = torch.hann_window(self.n_fft, device=audio.device, dtype=audio.dtype)
        return torch.stft(audio.mean(dim=1), self.n_fft, self.hop, window=window, center=True, return_complex=True)

    def _init(self, batch: int, rows: int, cols: int, scale: torch.Tensor, salt: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1000 + salt)
        values = 0.5 + torch.rand(batch, rows, cols, generator=gen, dtype=torch.float64)
        return (values * scale.double().view(batch, 1, 1)).to(scale.dtype).to(scale.device)

    @torch.no_grad()
    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Bases [B, F, neg_bases + pos_bases]: the negative ones, then the target ones (module docstring)."""
        if neg is None:
            raise ValueError("NMF learns its bases from the positive and the negative enrollment: neg is required")
        check_audio(pos, "positive enrollment", self.in_channels)
        check_audio(neg, "negative enrollment", self.in_channels)
        v_pos, v_neg = self._stft(pos).abs(), self._stft(neg).abs()
        batch, freqs = v_pos.shape[:2]
        scale_neg = v_neg.mean(dim=(1, 2)).clamp_min(EPS).sqrt()
        scale_pos = v_pos.mean(dim=(1, 2)).clamp_min(EPS).sqrt()
        w_neg = self._init(batch, freqs, self.neg_bases, scale_neg, 1)
        h_neg = self._init(batch, self.neg_bases, v_neg.shape[-1], scale_neg, 2)
        w_neg, _ = kl_nmf(v_neg, w_neg, h_neg, self.iterations)
        w = torch.cat([w_neg, self._init(batch, freqs, self.pos_bases, scale_pos, 3)], dim=-1)
        h = self._init(batch, w.shape[-1], v_pos.shape[-1], scale_pos, 4)
        w, _ = kl_nmf(v_pos, w, h, self.iterations, fixed=self.neg_bases)
        return {"bases": w}

    @torch.no_grad()
    def forward(self, mix: torch.Tensor, cond: Dict[str, torch.Tensor], state=None):
        check_audio(mix, "mix", self.in_channels)
        length = mix.shape[-1]
        spec = self._stft(mix)  # [B, F, T]
        v = spec.abs()
        w = cond["bases"]
        if w.shape[:2] != v.shape[:2]:
            raise ValueError(f"bases {tuple(w.shape)} do not fit the mixture's spectrogram {tuple(v.shape)}")
        scale = v.mean(dim=(1, 2)).clamp_min(EPS).sqrt()
        h = self._init(v.shape[0], w.shape[-1], v.shape[-1], scale, 5)
        _, h = kl_nmf(v, w, h, self.iterations, update_w=False)
        target = w[..., self.neg_bases:] @ h[:, self.neg_bases:]
        mask = target / (w @ h + EPS)
        window = torch.hann_window(self.n_fft, device=mix.device, dtype=mix.dtype)
        out = torch.istft(spec * mask, self.n_fft, self.hop, window=window, center=True, length=length)
        return out[:, None].expand(-1, self.out_channels, -1).contiguous(), state

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {"main": []}  # nothing to train: tsepn.bin.train writes the model file as it is
