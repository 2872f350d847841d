"""The encoder head: compares the positive and negative embedding sequences.

The two sequences are joined along time, a learned segment embedding marks each frame
as positive (0) or negative (1), and full-band self-attention blocks let every positive
frame look at every negative one (residual on all but the last block). Only the
positive part of the result is the conditioning embedding.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from tsepn.models.attention import FullBandAttention


class EncoderHead(nn.Module):
    """(pos [B, T_pos, F, C], neg [B, T_neg, F, C]) channels-last -> [B, T_pos, F, C]."""

    def __init__(self, emb_dim: int = 64, n_freqs: int = 65, n_layers: int = 2, n_heads: int = 4,
                 approx_qk_dim: int = 512, eps: float = 1e-5):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"the encoder head needs at least one attention block, got n_layers={n_layers}")
        self.emb_dim, self.n_freqs = emb_dim, n_freqs
        self.segment_embedding = nn.Embedding(2, emb_dim * n_freqs)
        self.model = nn.ModuleList(
            FullBandAttention(emb_dim, n_freqs, n_heads=n_heads, approx_qk_dim=approx_qk_dim, eps=eps)
            for _ in range(n_layers)
        )

    def segments(self) -> torch.Tensor:
        """The two segment embeddings as channels-last planes [2, F, C]."""
        return self.segment_embedding.weight.view(2, self.emb_dim, self.n_freqs).transpose(1, 2)

    def forward(self, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        seg = self.segments()
        x = torch.cat([pos + seg[0], neg + seg[1]], dim=1)
        for layer in self.model[:-1]:
            x = x + layer(x)
        # Only the positive frames are kept, so the last block needs queries for those alone.
        return self.model[-1].cross(x[:, : pos.shape[1]], x)
