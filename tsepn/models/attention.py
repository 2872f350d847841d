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
from typing import Callable, List, Optional, Sequence

import numpy as np
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


def cached_without_grad(owner: nn.Module, name: str, params: Sequence[torch.Tensor], build: Callable):
    """`build()`, memoised on `owner` while autograd is off (inference) and `params` are unchanged.

    Regrouping weights (stacking heads, joining Q/K/V) costs little in a long call but
    dominates a streaming call of one frame. With grad enabled nothing is cached, so
    training always differentiates through fresh tensors.
    """
    if torch.is_grad_enabled():
        return build()
    stamp = tuple((p.data_ptr(), p._version) for p in params)
    cache = owner.__dict__.setdefault("_tsepn_cache", {})
    hit = cache.get(name)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = build()
    cache[name] = (stamp, value)
    return value


_PARAMETER_GENERATION = [0]  # bumped whenever any module registers or replaces a parameter


def _parameter_registered(module, name, param):
    _PARAMETER_GENERATION[0] += 1


nn.modules.module.register_module_parameter_registration_hook(_parameter_registered)


def own_parameters(module: nn.Module) -> List[torch.Tensor]:
    """`list(module.parameters())`, kept per module until any parameter anywhere is registered or
    replaced (e.g. load_state_dict(assign=True)): a per-chunk call would pay the module walk."""
    listed = module.__dict__.get("_tsepn_parameters")
    if listed is None or listed[0] != _PARAMETER_GENERATION[0]:
        listed = module.__dict__["_tsepn_parameters"] = (_PARAMETER_GENERATION[0], list(module.parameters()))
    return listed[1]


@dataclass
class HeadParams:
    """Multi-head projections flattened for one matmul: y = norm(prelu(x @ weight.T + bias)).

    Several projections (e.g. Q, K and V) can share the matmul: `splits` gives each
    one's output width, and the slopes / norm parameters are listed per projection.
    """

    weight: torch.Tensor  # [sum(splits), C]
    bias: torch.Tensor  # [sum(splits)]
    slope: torch.Tensor  # [sum(splits)]: each output channel's PReLU slope
    gammas: List[torch.Tensor]  # per projection: [H, 1, F, D] (per head) or [F, D] (shared by the heads)
    betas: List[torch.Tensor]
    splits: List[int]
    eps: float
    n_heads: int


def _conv_norm_parts(stacks: Sequence[nn.Sequential]):
    """(weight, bias, per-channel slope, gamma [H, 1, F, D], beta) of per-head (Conv2d, PReLU, norm) stacks."""
    weight = torch.cat([s[0].weight.flatten(1) for s in stacks])
    bias = torch.cat([s[0].bias for s in stacks])
    slope = torch.cat([s[1].weight.expand(s[0].out_channels) for s in stacks])
    gamma = torch.stack([s[2].gamma[0, :, 0, :].t() for s in stacks]).unsqueeze(1)
    beta = torch.stack([s[2].beta[0, :, 0, :].t() for s in stacks]).unsqueeze(1)
    return weight, bias, slope, gamma, beta


def stacked_head_params(module: nn.Module, kinds: str, n_heads: int) -> HeadParams:
    """Join `attn_conv_<kind>_<h>` (Conv2d, PReLU, ChannelFreqNorm) of every head and every kind in `kinds`."""

    def build() -> HeadParams:
        parts = [_conv_norm_parts([getattr(module, f"attn_conv_{kind}_{h}") for h in range(n_heads)]) for kind in kinds]
        return HeadParams(
            weight=torch.cat([p[0] for p in parts]), bias=torch.cat([p[1] for p in parts]),
            slope=torch.cat([p[2] for p in parts]), gammas=[p[3] for p in parts], betas=[p[4] for p in parts],
            splits=[p[0].shape[0] for p in parts], eps=getattr(module, f"attn_conv_{kinds[0]}_0")[2].eps,
            n_heads=n_heads,
        )

    params = [p for kind in kinds for h in range(n_heads) for p in getattr(module, f"attn_conv_{kind}_{h}").parameters()]
    return cached_without_grad(module, f"heads_{kinds}", params, build)


def project_heads(x: torch.Tensor, p: HeadParams) -> List[torch.Tensor]:
    """Channels-last features [B, T, F, C] -> one normalised [B, H, T, F, D] per projection in `p`."""
    batch, frames, freqs, _ = x.shape
    y = F.linear(x, p.weight, p.bias)
    y = F.prelu(y.view(-1, y.shape[-1]), p.slope).view(batch, frames, freqs, -1)
    outs = []
    for part, gamma, beta in zip(y.split(p.splits, dim=-1), p.gammas, p.betas):
        part = part.view(batch, frames, freqs, p.n_heads, -1).permute(0, 3, 1, 2, 4)
        if gamma.dim() == 2:  # one norm shared by all heads: fused affine
            outs.append(F.layer_norm(part, gamma.shape, gamma, beta, p.eps))
        else:
            outs.append(torch.addcmul(beta, F.layer_norm(part, part.shape[-2:], eps=p.eps), gamma))
    return outs


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Frame-level attention: q [B, H, Tq, F, E], k [B, H, Tk, F, E], v [B, H, Tk, F, Dv] -> [B, H, Tq, F, Dv].

    `mask` (bool, True = keep) broadcasts against the scores [B, H, Tq, Tk].
    """
    q2, k2 = q.flatten(-2), k.flatten(-2)
    scores = torch.matmul(q2, k2.transpose(-1, -2)).div_(math.sqrt(q2.shape[-1]))
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

    def build():
        return conv.weight.flatten(1), norm.gamma[0, :, 0, :].t().contiguous(), norm.beta[0, :, 0, :].t().contiguous()

    weight, gamma, beta = cached_without_grad(stack, "conv_norm", list(stack.parameters()), build)
    y = F.prelu(F.linear(x, weight, conv.bias), act.weight)
    return F.layer_norm(y, gamma.shape, gamma, beta, norm.eps)


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
        return project_heads(x, stacked_head_params(self, "Q", self.n_heads))[0]

    def keys_values(self, x: torch.Tensor):
        k, v = project_heads(x, stacked_head_params(self, "KV", self.n_heads))
        return k, v

    def output(self, out: torch.Tensor) -> torch.Tensor:
        return conv_norm(merge_heads(out), self.attn_concat_proj)

    def frame_params(self) -> dict:
        """Query projection and output stack regrouped for `frame_cross` (cached while unchanged)."""

        def build() -> dict:
            heads = stacked_head_params(self, "Q", self.n_heads)
            numpy = lambda t: t.detach().contiguous().numpy()  # noqa: E731
            proj = self.attn_concat_proj
            return dict(query=(heads.weight.t().contiguous(), heads.bias), slope=numpy(heads.slope),
                        dims=np.array([heads.splits[0] // self.n_heads], dtype=np.int64),
                        gamma=numpy(heads.gammas[0].reshape(-1)), beta=numpy(heads.betas[0].reshape(-1)),
                        eps=float(heads.eps),
                        proj=(proj[0].weight.flatten(1).t().contiguous(), proj[0].bias, proj[1].weight),
                        proj_norm=(proj[2].gamma[0, :, 0, :].t().contiguous(),
                                   proj[2].beta[0, :, 0, :].t().contiguous(), proj[2].eps))

        return cached_without_grad(self, "frame", own_parameters(self), build)

    def frame_cross(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """`output(attend(queries(x), keys, values))` for one frame x [B, 1, F, C] under inference
        mode, through the compiled kernels of `tsepn.models.kernels` (same computation, few ops)."""
        from tsepn.models import kernels

        p = self.frame_params()
        batch, _, freqs, channels = x.shape
        heads, count, qk, dv = self.n_heads, keys.shape[2], keys.shape[-1], values.shape[-1]
        z = torch.addmm(p["query"][1], x.reshape(batch * freqs, channels), p["query"][0])
        q = torch.empty(batch, heads, 1, freqs * qk)
        kernels.prelu_head_norm(z.numpy().reshape(batch, freqs, -1), p["slope"], p["dims"], heads, p["gamma"],
                                p["beta"], p["eps"], q.numpy().reshape(-1))
        out = torch.empty(batch, heads, freqs, dv)
        kernels.cross_attention(q.numpy(), keys.detach().numpy().reshape(batch, heads, count, -1),
                                values.detach().numpy().reshape(batch, heads, count, -1),
                                out.numpy().reshape(batch, heads, 1, -1))
        weight, bias, slope = p["proj"]
        channels_out = weight.shape[1]
        y = F.prelu(torch.addmm(bias, out.permute(0, 2, 1, 3).reshape(batch * freqs, heads * dv), weight), slope)
        gamma, beta, eps = p["proj_norm"]
        return F.layer_norm(y.view(batch, 1, freqs, channels_out), gamma.shape, gamma, beta, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Self-attention over all frames of channels-last x [B, T, F, C]."""
        return self_attention_block(self, x, self.n_heads)

    def cross(self, queries_from: torch.Tensor, keys_from: torch.Tensor) -> torch.Tensor:
        """Frames of `queries_from` attend to all frames of `keys_from` (both [B, T, F, C])."""
        k, v = self.keys_values(keys_from)
        return self.output(attend(self.queries(queries_from), k, v))


def self_attention_block(module: nn.Module, x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Full-band self-attention with the parameters of any module laid out like ESPnet's GridNetBlock."""
    q, k, v = project_heads(x, stacked_head_params(module, "QKV", n_heads))
    return conv_norm(merge_heads(attend(q, k, v)), module.attn_concat_proj)
