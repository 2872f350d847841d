"""TF-GridNet blocks on channels-last features [B, T, F, C].

Two kinds:
- `CausalGridNetBlock`: the streaming block of the extractor. Intra-frame bidirectional
  LSTM over frequency (a frame is complete, so looking both ways is causal), inter-frame
  unidirectional LSTM over time carrying (h, c) between calls, and full-band attention
  over the current frame and the `attention_span - 1` frames before it, whose keys and
  values are cached between calls. Parameter names follow the authors' block.
- `gridnet_block_forward`: a fast forward pass for ESPnet's (non-causal) `GridNetBlock`,
  computing exactly what ESPnet does without its layout shuffles and im2col copies.

Channels-last keeps every Linear a plain matmul and lets the LSTMs read their input
time-major without a copy.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from tsepn.models import kernels
from tsepn.models.attention import (HeadParams, attend, cached_without_grad, merge_heads, own_parameters,
                                    project_heads, self_attention_block)

_FAST_FRAMES = [True]


@contextlib.contextmanager
def fast_frames(enabled: bool = True):
    """Switch the compiled one-frame inference step on or off within a block (tests and
    benchmarks compare both paths in one process)."""
    before = _FAST_FRAMES[0]
    _FAST_FRAMES[0] = enabled
    try:
        yield
    finally:
        _FAST_FRAMES[0] = before


def use_fast_frame(x: torch.Tensor, frames: Optional[int] = None) -> bool:
    """True for a one-frame float32 CPU call under inference mode, when the kernels are there.

    `frames` defaults to x.shape[1] (channels-last features [B, T, F, C]).

    Inference mode only (not merely no_grad): validation during training runs under
    no_grad and must keep torch's numerics bit for bit.
    """
    frames = x.shape[1] if frames is None else frames
    return (_FAST_FRAMES[0] and kernels.AVAILABLE and frames == 1 and torch.is_inference_mode_enabled()
            and x.dtype == torch.float32 and x.device.type == "cpu")


class _Norm(nn.Module):
    """Holds a LayerNorm as `.norm` (the authors' wrapper; kept for the parameter names)."""

    def __init__(self, shape, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(shape, eps=eps)


class _LinearPReLUNorm(nn.Module):
    """Linear, PReLU, layer norm over a frame's (freq, channel) plane of each head.

    Children are named "0", "1", "3" to match the authors' Sequential, whose item 2 was
    a parameter-free reshape. All heads share the slope and the norm's parameters.
    """

    def __init__(self, in_features: int, out_features: int, n_freqs: int, eps: float, n_heads: int = 1):
        super().__init__()
        self.add_module("0", nn.Linear(in_features, out_features))
        self.add_module("1", nn.PReLU())
        self.add_module("3", _Norm(n_freqs * (out_features // n_heads), eps))

    @property
    def linear(self) -> nn.Linear:
        return self._modules["0"]

    @property
    def act(self) -> nn.PReLU:
        return self._modules["1"]

    @property
    def norm(self) -> nn.LayerNorm:
        return self._modules["3"].norm

    def frame_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channels-last [B, T, F, C_in] -> [B, T, F, C_out], normalised per frame."""
        y = F.prelu(self.linear(x), self.act.weight)
        norm = self.norm
        shape = y.shape[-2:]
        return F.layer_norm(y, shape, norm.weight.view(shape), norm.bias.view(shape), norm.eps)


@dataclass
class BlockState:
    """Streaming state of one causal block: inter-frame LSTM (h, c) and the attention cache."""

    h: torch.Tensor  # [1, B * F, H]
    c: torch.Tensor  # [1, B * F, H]
    keys: torch.Tensor  # [B, heads, span - 1, F, E]
    values: torch.Tensor  # [B, heads, span - 1, F, C / heads]

    def detach(self) -> "BlockState":
        return BlockState(self.h.detach(), self.c.detach(), self.keys.detach(), self.values.detach())


def _cache_ring(state: BlockState, batch: int, heads: int, freqs: int, qk: int, dv: int):
    """(keys, values, start, ring): buffers holding the state's cache at frames start .. start+S-1
    with frame start+S free for the new one, S = span - 1.

    The one-frame step appends to a buffer with room for S more frames instead of copying
    the whole cache every call; the state it returns is a view of the buffer. A state
    that was already continued (its successor wrote the next frame), or that was not made
    by this step, gets a fresh buffer with its cache copied in, so states stay reusable.
    """
    cached = state.keys.shape[2]
    ring = getattr(state, "_ring", None)
    if ring is not None:
        shared, start = ring
        keys, values = shared["keys"], shared["values"]
        if (shared["written"] == start + cached and start + cached < keys.shape[2]
                and state.keys.data_ptr() == keys[:, :, start].data_ptr()
                and state.values.data_ptr() == values[:, :, start].data_ptr()):
            return keys, values, start, shared
    room = 2 * cached + 1
    keys = torch.empty(batch, heads, room, freqs, qk)
    values = torch.empty(batch, heads, room, freqs, dv)
    keys[:, :, :cached].copy_(state.keys)
    values[:, :, :cached].copy_(state.values)
    return keys, values, 0, {"keys": keys, "values": values, "written": cached}


def banded_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, span: int) -> torch.Tensor:
    """Query t attends to key frames t .. t + span - 1 of `keys` (the cache comes first).

    q [B, H, T, F, E], keys [B, H, T + span - 1, F, E]. Queries are taken in blocks of
    `span`; block b needs keys b*span .. b*span + 2*span - 2, gathered for all blocks at
    once from an overlapping-window view (about twice the keys, no per-block slicing),
    so the cost stays linear in T and autograd sees a handful of ops.
    """
    batch, heads, frames, freqs, qk = q.shape
    if frames == 1:
        return attend(q, keys, values)
    block = min(span, frames)
    width = block + span - 1
    blocks = -(-frames // block)
    extra = blocks * block - frames
    if extra:  # pad the last block; padded queries are dropped and never reach real keys
        q = F.pad(q, (0, 0, 0, 0, 0, extra))
        keys = F.pad(keys, (0, 0, 0, 0, 0, extra))
        values = F.pad(values, (0, 0, 0, 0, 0, extra))

    def windows(x: torch.Tensor) -> torch.Tensor:  # [B, H, T', F, D] -> [B, H, blocks, width, F * D]
        w = x.unfold(2, width, block)  # [B, H, blocks, F, D, width]
        return w.permute(0, 1, 2, 5, 3, 4).reshape(batch, heads, blocks, width, -1)

    rows = torch.arange(block, device=q.device).unsqueeze(1)
    cols = torch.arange(width, device=q.device).unsqueeze(0)
    mask = (cols >= rows) & (cols < rows + span)
    scores = torch.matmul(q.reshape(batch, heads, blocks, block, -1), windows(keys).transpose(-1, -2))
    scores = scores.div_(math.sqrt(freqs * qk)).masked_fill_(~mask, float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1), windows(values))
    out = out.view(batch, heads, blocks * block, freqs, values.shape[-1])
    return out[:, :, :frames]


class CausalGridNetBlock(nn.Module):
    """One streaming TF-GridNet block (see module docstring); input and output [B, T, F, C]."""

    def __init__(self, emb_dim: int, n_freqs: int, hidden: int, n_heads: int = 4, attention_span: int = 50,
                 approx_qk_dim: int = 512, eps: float = 1e-5):
        super().__init__()
        if emb_dim % n_heads:
            raise ValueError(f"emb_dim ({emb_dim}) must be divisible by n_heads ({n_heads})")
        if attention_span < 1:
            raise ValueError(f"attention_span must be >= 1, got {attention_span}")
        self.emb_dim, self.n_freqs, self.hidden = emb_dim, n_freqs, hidden
        self.n_heads, self.attention_span = n_heads, attention_span
        self.qk_dim = math.ceil(approx_qk_dim / n_freqs)
        self.v_dim = emb_dim // n_heads

        self.intra_norm = _Norm(emb_dim, eps)
        self.intra_rnn = nn.LSTM(emb_dim, hidden, 1, batch_first=True, bidirectional=True)
        self.intra_linear = nn.Linear(2 * hidden, emb_dim)
        self.inter_norm = _Norm(emb_dim, eps)
        self.inter_rnn = nn.LSTM(emb_dim, hidden, 1, batch_first=False)  # time-major
        self.inter_linear = nn.Linear(hidden, emb_dim)
        self.attn_conv_Q = _LinearPReLUNorm(emb_dim, self.qk_dim * n_heads, n_freqs, eps, n_heads)
        self.attn_conv_K = _LinearPReLUNorm(emb_dim, self.qk_dim * n_heads, n_freqs, eps, n_heads)
        self.attn_conv_V = _LinearPReLUNorm(emb_dim, self.v_dim * n_heads, n_freqs, eps, n_heads)
        self.attn_concat_proj = _LinearPReLUNorm(emb_dim, emb_dim, n_freqs, eps)

    def qkv_params(self) -> HeadParams:
        """Q, K and V projections joined into one matmul (each keeps its own slope and norm)."""
        parts = (self.attn_conv_Q, self.attn_conv_K, self.attn_conv_V)

        def build() -> HeadParams:
            return HeadParams(
                weight=torch.cat([p.linear.weight for p in parts]),
                bias=torch.cat([p.linear.bias for p in parts]),
                slope=torch.cat([p.act.weight.expand(p.linear.out_features) for p in parts]),
                gammas=[p.norm.weight.view(self.n_freqs, -1) for p in parts],
                betas=[p.norm.bias.view(self.n_freqs, -1) for p in parts],
                splits=[p.linear.out_features for p in parts],
                eps=self.attn_conv_Q.norm.eps, n_heads=self.n_heads,
            )

        return cached_without_grad(self, "qkv", [t for p in parts for t in p.parameters()], build)

    def init_state(self, batch: int, device=None, dtype=torch.float32) -> BlockState:
        zeros = lambda *shape: torch.zeros(*shape, device=device, dtype=dtype)  # noqa: E731
        cached = self.attention_span - 1
        return BlockState(
            h=zeros(1, batch * self.n_freqs, self.hidden),
            c=zeros(1, batch * self.n_freqs, self.hidden),
            keys=zeros(batch, self.n_heads, cached, self.n_freqs, self.qk_dim),
            values=zeros(batch, self.n_heads, cached, self.n_freqs, self.v_dim),
        )

    def frame_params(self) -> dict:
        """The block's weights regrouped for `frame_step` (cached while the weights are unchanged)."""

        def build() -> dict:
            intra, inter, hidden = self.intra_rnn, self.inter_rnn, self.hidden
            heads = self.qkv_params()
            parts = (self.attn_conv_Q, self.attn_conv_K, self.attn_conv_V)
            proj = self.attn_concat_proj
            expand = lambda t: t.reshape(1, self.n_freqs, -1).expand(self.n_heads, -1, -1).reshape(-1)  # noqa: E731
            numpy = lambda t: t.detach().contiguous().numpy()  # noqa: E731
            return dict(
                intra_norm=(self.intra_norm.norm.weight, self.intra_norm.norm.bias, self.intra_norm.norm.eps),
                intra_wih=torch.cat([intra.weight_ih_l0, intra.weight_ih_l0_reverse]).t().contiguous(),
                intra_bias=torch.cat([intra.bias_ih_l0 + intra.bias_hh_l0,
                                      intra.bias_ih_l0_reverse + intra.bias_hh_l0_reverse]),
                whh_forward=numpy(intra.weight_hh_l0.t()), whh_backward=numpy(intra.weight_hh_l0_reverse.t()),
                intra_linear=(self.intra_linear.weight.t().contiguous(), self.intra_linear.bias),
                inter_norm=(self.inter_norm.norm.weight, self.inter_norm.norm.bias, self.inter_norm.norm.eps),
                inter_wih=inter.weight_ih_l0.t().contiguous(), inter_whh=inter.weight_hh_l0.t().contiguous(),
                inter_bias=inter.bias_ih_l0 + inter.bias_hh_l0,
                inter_linear=(self.inter_linear.weight.t().contiguous(), self.inter_linear.bias),
                qkv=(heads.weight.t().contiguous(), heads.bias), slope=numpy(heads.slope),
                dims=np.array([p.linear.out_features // self.n_heads for p in parts], dtype=np.int64),
                gamma=numpy(torch.cat([expand(p.norm.weight) for p in parts])),
                beta=numpy(torch.cat([expand(p.norm.bias) for p in parts])), eps=float(heads.eps),
                proj=(proj.linear.weight.t().contiguous(), proj.linear.bias, proj.act.weight),
                proj_norm=(proj.norm.weight, proj.norm.bias, proj.norm.eps),
                hidden=hidden,
            )

        return cached_without_grad(self, "frame", own_parameters(self), build)

    def frame_step(self, x: torch.Tensor, state: BlockState) -> Tuple[torch.Tensor, BlockState]:
        """`forward` for one frame under inference mode: same computation, few ops, compiled kernels.

        The LSTM recurrences, the Q/K/V normalisations and the attention over the cache run
        in `tsepn.models.kernels`; the matrix products stay with torch (MKL).
        """
        p = self.frame_params()
        batch, _, freqs, channels = x.shape
        hidden, heads, rows = p["hidden"], self.n_heads, batch * freqs
        x0 = x.reshape(rows, channels)

        y = F.layer_norm(x0, (channels,), *p["intra_norm"][:2], p["intra_norm"][2])
        gx = torch.addmm(p["intra_bias"], y, p["intra_wih"])
        seq = torch.empty(rows, 2 * hidden)
        kernels.bilstm(gx.numpy().reshape(batch, freqs, -1), p["whh_forward"], p["whh_backward"],
                       seq.numpy().reshape(batch, freqs, -1))
        x1 = torch.addmm(p["intra_linear"][1], seq, p["intra_linear"][0]).add_(x0)

        y = F.layer_norm(x1, (channels,), *p["inter_norm"][:2], p["inter_norm"][2])
        gates = torch.addmm(p["inter_bias"], y, p["inter_wih"]).addmm_(state.h.reshape(rows, hidden), p["inter_whh"])
        h, c = torch.empty(1, rows, hidden), torch.empty(1, rows, hidden)
        kernels.lstm_step(gates.numpy(), state.c.detach().reshape(rows, hidden).numpy(), h.numpy()[0], c.numpy()[0])
        x2 = torch.addmm(p["inter_linear"][1], h[0], p["inter_linear"][0]).add_(x1)

        z = torch.addmm(p["qkv"][1], x2, p["qkv"][0])
        qk, dv = self.qk_dim, self.v_dim
        projected = torch.empty(batch * heads * freqs * (2 * qk + dv))
        kernels.prelu_head_norm(z.numpy().reshape(batch, freqs, -1), p["slope"], p["dims"], heads, p["gamma"],
                                p["beta"], p["eps"], projected.numpy())
        q, k, v = projected.split([batch * heads * freqs * qk] * 2 + [batch * heads * freqs * dv])
        keys, values, start, ring = _cache_ring(state, batch, heads, freqs, qk, dv)
        cached = state.keys.shape[2]
        keys[:, :, start + cached].copy_(k.view(batch, heads, freqs, qk))
        values[:, :, start + cached].copy_(v.view(batch, heads, freqs, dv))
        window = slice(start, start + cached + 1)  # the cache and the new frame
        out = torch.empty(batch, heads, freqs, dv)
        kernels.cross_attention(q.numpy().reshape(batch, heads, 1, -1),
                                keys[:, :, window].numpy().reshape(batch, heads, cached + 1, -1),
                                values[:, :, window].numpy().reshape(batch, heads, cached + 1, -1),
                                out.numpy().reshape(batch, heads, 1, -1))

        weight, bias, slope = p["proj"]
        y = F.prelu(torch.addmm(bias, out.permute(0, 2, 1, 3).reshape(rows, channels), weight), slope)
        gamma, beta, eps = p["proj_norm"]
        y = F.layer_norm(y.view(batch, freqs * channels), (freqs * channels,), gamma, beta, eps)
        x3 = y.view(rows, channels).add_(x2)
        new = BlockState(h, c, keys[:, :, start + 1:start + cached + 1], values[:, :, start + 1:start + cached + 1])
        ring["written"] = start + cached + 1
        new._ring = (ring, start + 1)
        return x3.view(batch, 1, freqs, channels), new

    def recurrent(self, x: torch.Tensor, state: BlockState) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The block's LSTM half (intra-frame, then inter-frame from the state): (x, h, c)."""
        batch, frames, freqs, channels = x.shape
        y = self.intra_norm.norm(x).reshape(batch * frames, freqs, channels)
        y, _ = self.intra_rnn(y)
        x = x + self.intra_linear(y).view(batch, frames, freqs, channels)

        y = self.inter_norm.norm(x).transpose(0, 1).reshape(frames, batch * freqs, channels)
        y, (h, c) = self.inter_rnn(y, (state.h, state.c))
        x = x + self.inter_linear(y).view(frames, batch, freqs, channels).transpose(0, 1)
        return x, h, c

    def forward(self, x: torch.Tensor, state: BlockState) -> Tuple[torch.Tensor, BlockState]:
        if use_fast_frame(x):
            return self.frame_step(x, state)
        x, h, c = self.recurrent(x, state)
        q, k, v = project_heads(x, self.qkv_params())
        keys = torch.cat([state.keys, k], dim=2)
        values = torch.cat([state.values, v], dim=2)
        out = banded_attention(q, keys, values, self.attention_span)
        x = x + self.attn_concat_proj.frame_forward(merge_heads(out))

        keep = self.attention_span - 1
        total = keys.shape[2]
        return x, BlockState(h, c, keys[:, :, total - keep:], values[:, :, total - keep:])


# ----------------------------------------------------------------------------- ESPnet block


def _shifted_windows(y: torch.Tensor, size: int, step: int) -> torch.Tensor:
    """[L, N, C] -> [L', N, size * C]: windows of `size` frames, frame-major (k * C + c).

    Built from `size` shifted slices, each a run of contiguous channel rows; the LSTM's
    input weights are reordered to match (`_windowed_lstm`), so no strided im2col is needed.
    """
    count = (y.shape[0] - size) // step + 1
    span = (count - 1) * step + 1
    return torch.cat([y[k : k + span : step] for k in range(size)], dim=-1)


def _windowed_lstm(lstm: nn.LSTM, y: torch.Tensor, size: int, step: int) -> torch.Tensor:
    """ESPnet's unfold + LSTM on time-major [L, N, C] -> LSTM output [L', N, dirs * H].

    ESPnet's LSTM sees F.unfold's channel-major windows (c * size + k); the same weights,
    with their input columns reordered to frame-major, read `_shifted_windows` instead.
    Runs through torch.lstm time-major whatever the module's `batch_first` flag says.
    """
    channels = y.shape[-1]
    suffixes = ["", "_reverse"] if lstm.bidirectional else [""]
    names = [f"{kind}_l0{suffix}" for suffix in suffixes for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    params = [getattr(lstm, name) for name in names]

    def build():
        return [p.view(p.shape[0], channels, size).transpose(1, 2).reshape(p.shape[0], -1)
                if name.startswith("weight_ih") else p for name, p in zip(names, params)]

    weights = params if size == 1 else cached_without_grad(lstm, "frame_major", params, build)
    windows = y if size == 1 and step == 1 else _shifted_windows(y, size, step)
    zeros = windows.new_zeros(len(suffixes), windows.shape[1], lstm.hidden_size)
    out, _, _ = torch.lstm(windows, (zeros, zeros), weights, True, 1, 0.0, lstm.training, lstm.bidirectional, False)
    return out


def _overlap_add_linear(y: torch.Tensor, deconv: nn.ConvTranspose1d, length: int) -> torch.Tensor:
    """ConvTranspose1d over time-major [L', N, C_in] -> [length, N, C_out] as one matmul + shifted adds.

    The matmul output is laid out [L', N, kernel, C_out] so that each shifted add reads
    contiguous channel rows.
    """
    size, step = deconv.kernel_size[0], deconv.stride[0]
    c_in, c_out = deconv.weight.shape[0], deconv.weight.shape[1]
    if size == 1 and step == 1:
        return torch.matmul(y, deconv.weight[:, :, 0]) + deconv.bias
    weight = deconv.weight.permute(0, 2, 1).reshape(c_in, size * c_out)
    z = torch.matmul(y, weight).view(y.shape[0], y.shape[1], size, c_out)
    out = deconv.bias.expand(length, y.shape[1], c_out).clone()
    span = (y.shape[0] - 1) * step + 1
    for k in range(size):
        out[k : k + span : step] += z[:, :, k]
    return out


def _channel_norm(x: torch.Tensor, norm: nn.Module) -> torch.Tensor:
    """ESPnet's LayerNormalization4D (over channels) on channels-last x."""
    channels = x.shape[-1]
    return F.layer_norm(x, (channels,), norm.gamma.view(channels), norm.beta.view(channels), norm.eps)


def gridnet_block_forward(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ESPnet `GridNetBlock.forward` on channels-last x [B, T, F, C].

    The LSTMs run time-major through `torch.lstm` with the block's own parameters
    (their `batch_first` flag is not consulted).
    """
    batch, old_frames, old_freqs, channels = x.shape
    size, step = block.emb_ks, block.emb_hs
    frames = math.ceil((old_frames - size) / step) * step + size
    freqs = math.ceil((old_freqs - size) / step) * step + size
    if (frames, freqs) != (old_frames, old_freqs):
        x = F.pad(x, (0, 0, 0, freqs - old_freqs, 0, frames - old_frames))

    # intra-frame: sequences over frequency, one per (batch, frame)
    y = _channel_norm(x, block.intra_norm).view(batch * frames, freqs, channels).transpose(0, 1)
    y = _windowed_lstm(block.intra_rnn, y, size, step)
    y = _overlap_add_linear(y, block.intra_linear, freqs)  # [F, B*T, C]
    x = x + y.transpose(0, 1).view(batch, frames, freqs, channels)

    # inter-frame: sequences over time, one per (batch, freq)
    y = _channel_norm(x, block.inter_norm).transpose(0, 1).reshape(frames, batch * freqs, channels)
    y = _windowed_lstm(block.inter_rnn, y, size, step)
    y = _overlap_add_linear(y, block.inter_linear, frames)  # [T, B*F, C]
    x = x + y.view(frames, batch, freqs, channels).transpose(0, 1)

    x = x[:, :old_frames, :old_freqs]
    return x + self_attention_block(block, x, block.n_head)
