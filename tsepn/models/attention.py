"""Full-band multi-head attention of TF-GridNet, computed on channels-last features.

In TF-GridNet a "frame" is the whole [freq, channel] plane: each head projects the
channels (1x1 conv), applies PReLU and a layer norm over (channels, freq) of the frame,
and attention scores are dot products between whole frames. The parameters keep
ESPnet's layout (`attn_conv_Q_<h>` = Conv2d, PReLU, norm with `gamma`/`beta` of shape
[1, D, 1, F]) so ESPnet's blocks, the encoder head and the fusion share these helpers.

Tensors here are channels-last: features [B, T, F, C], per-head tensors [B, H, T, F, D].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import init


class ChannelFreqNorm(nn.Module):
    """Layer norm over (channels, freq) of each frame, ESPnet's `LayerNormalization4DCF` layout.

    `forward` takes channels-first [B, D, T, F] like ESPnet; the attention helpers below read
    `gamma`/`beta` directly and normalise channels-last tensors instead.
    """

    def __init__(self, channels: int, n_freqs: int, eps: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.empty(1, channels, 1, n_freqs))
        self.beta = nn.Parameter(torch.empty(1, channels, 1, n_freqs))
        init.ones_(self.gamma)
        init.zeros_(self.beta)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[3], x.shape[1]), eps=self.eps)
        y = y * self.gamma[0, :, 0, :].t() + self.beta[0, :, 0, :].t()
        return y.permute(0, 3, 1, 2)


def conv_norm_head(in_channels: int, out_channels: int, n_freqs: int, eps: float) -> nn.Sequential:
    """1x1 conv, PReLU, (channels, freq) norm: one projection of a full-band attention."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.PReLU(), ChannelFreqNorm(out_channels, n_freqs, eps))


@dataclass
class HeadParams:
    """A multi-head projection flattened for one matmul: y = norm(prelu(x @ weight.T + bias))."""

    weight: torch.Tensor  # [H * D, C]
    bias: torch.Tensor  # [H * D]
    slope: torch.Tensor  # [H] (one PReLU slope per head) or [1] (shared)
    gamma: torch.Tensor  # [H or 1, F, D]
    beta: torch.Tensor  # [H or 1, F, D]
    eps: float
    n_heads: int


def stacked_head_params(module: nn.Module, kind: str, n_heads: int) -> HeadParams:
    """Gather `attn_conv_<kind>_<h>` (Conv2d, PReLU, ChannelFreqNorm) of every head into one HeadParams."""
    stacks = [getattr(module, f"attn_conv_{kind}_{h}") for h in range(n_heads)]
    return HeadParams(
        weight=torch.cat([s[0].weight.flatten(1) for s in stacks]),
        bias=torch.cat([s[0].bias for s in stacks]),
        slope=torch.cat([s[1].weight for s in stacks]),
        gamma=torch.stack([s[2].gamma[0, :, 0, :].t() for s in stacks]),
        beta=torch.stack([s[2].beta[0, :, 0, :].t() for s in stacks]),
        eps=stacks[0][2].eps,
        n_heads=n_heads,
    )


def project_heads(x: torch.Tensor, p: HeadParams) -> torch.Tensor:
    """Channels-last features [B, T, F, C] -> normalised per-head frames [B, H, T, F, D]."""
    batch, frames, freqs, _ = x.shape
    y = F.linear(x, p.weight, p.bias).view(batch, frames, freqs, p.n_heads, -1)
    slope = p.slope.view(-1, 1)
    y = torch.where(y >= 0, y, y * slope).permute(0, 3, 1, 2, 4)
    y = F.layer_norm(y, y.shape[-2:], eps=p.eps)
    return y * p.gamma.unsqueeze(1) + p.beta.unsqueeze(1)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Frame-level attention: q [B, H, Tq, F, E], k [B, H, Tk, F, E], v [B, H, Tk, F, Dv] -> [B, H, Tq, F, Dv].

    `mask` (bool, True = keep) broadcasts against the scores [B, H, Tq, Tk].
    """
    q2, k2 = q.flatten(-2), k.flatten(-2)
    scores = torch.matmul(q2, k2.transpose(-1, -2)) / math.sqrt(q2.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1), v.flatten(-2))
    return out.view(*out.shape[:-1], v.shape[-2], v.shape[-1])


def merge_heads(out: torch.Tensor) -> torch.Tensor:
    """[B, H, T, F, Dv] -> channels-last [B, T, F, H * Dv] (head-major channel order)."""
    batch, heads, frames, freqs, dv = out.shape
    return out.permute(0, 2, 3, 1, 4).reshape(batch, frames, freqs, heads * dv)


def conv_norm(x: torch.Tensor, stack: nn.Sequential) -> torch.Tensor:
    """Apply a (Conv2d 1x1, PReLU, ChannelFreqNorm) stack to channels-last [B, T, F, C]."""
    conv, act, norm = stack[0], stack[1], stack[2]
    y = F.prelu(F.linear(x, conv.weight.flatten(1), conv.bias), act.weight)
    y = F.layer_norm(y, y.shape[-2:], eps=norm.eps)
    return y * norm.gamma[0, :, 0, :].t() + norm.beta[0, :, 0, :].t()


class FullBandAttention(nn.Module):
    """Multi-head full-band attention with ESPnet's per-head parameter names.

    Used as self-attention (encoder head) and, with keys/values from another sequence,
    as cross-attention (fusion). No residual inside: callers decide.
    """

    def __init__(self, channels: int, n_freqs: int, n_heads: int = 4, approx_qk_dim: int = 512,
                 eps: float = 1e-5, kv_channels: Optional[int] = None):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads})")
        kv_channels = kv_channels or channels
        qk_dim = math.ceil(approx_qk_dim / n_freqs)
        for h in range(n_heads):
            self.add_module(f"attn_conv_Q_{h}", conv_norm_head(channels, qk_dim, n_freqs, eps))
            self.add_module(f"attn_conv_K_{h}", conv_norm_head(kv_channels, qk_dim, n_freqs, eps))
            self.add_module(f"attn_conv_V_{h}", conv_norm_head(kv_channels, channels // n_heads, n_freqs, eps))
        self.add_module("attn_concat_proj", conv_norm_head(channels, channels, n_freqs, eps))
        self.n_heads = n_heads

    def queries(self, x: torch.Tensor) -> torch.Tensor:
        return project_heads(x, stacked_head_params(self, "Q", self.n_heads))

    def keys_values(self, x: torch.Tensor):
        return (project_heads(x, stacked_head_params(self, "K", self.n_heads)),
                project_heads(x, stacked_head_params(self, "V", self.n_heads)))

    def output(self, out: torch.Tensor) -> torch.Tensor:
        return conv_norm(merge_heads(out), self.attn_concat_proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Self-attention over all frames of channels-last x [B, T, F, C]."""
        return self_attention_block(self, x, self.n_heads)

    def cross(self, queries_from: torch.Tensor, keys_from: torch.Tensor) -> torch.Tensor:
        """Frames of `queries_from` attend to all frames of `keys_from` (both [B, T, F, C])."""
        k, v = self.keys_values(keys_from)
        return self.output(attend(self.queries(queries_from), k, v))


def self_attention_block(module: nn.Module, x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Full-band self-attention with the parameters of any module laid out like ESPnet's GridNetBlock."""
    q = project_heads(x, stacked_head_params(module, "Q", n_heads))
    k = project_heads(x, stacked_head_params(module, "K", n_heads))
    v = project_heads(x, stacked_head_params(module, "V", n_heads))
    return conv_norm(merge_heads(attend(q, k, v)), module.attn_concat_proj)
