"""Compiled CPU kernels (numba) for the one-frame streaming step of the causal extractor.

A streaming call of 8 ms holds one STFT frame, and at that size every torch op costs
more in dispatch than in arithmetic, while the intra-frame bidirectional LSTM runs 65
sequential steps per direction whose per-step kernel calls dominate. These kernels do
the recurrences and the small per-head normalisations in one call each.

They are used only for inference (`torch.inference_mode()`, float32, CPU; see
`tsepn.models.tfgridnet.fast_frames`): training and validation keep torch's kernels,
so training numerics are untouched. Results agree with torch's to float rounding
(the exponential below is a polynomial accurate to about 1e-7 relative).

numba is a dependency of librosa (pinned in tools/requirements.txt); without it,
`AVAILABLE` is False and the torch path runs. Compiled code is cached on disk
(`cache=True`, numba's own cache directory rules), so only the first process compiles.
"""
from __future__ import annotations

import math

import numpy as np

try:  # pragma: no cover - exercised by whichever branch the environment has
    import numba
except ImportError:  # pragma: no cover
    numba = None

AVAILABLE = numba is not None

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)  # ln 2 split in two so that k * ln2 stays exact for |k| <= 128
_LN2_LO = np.float32(-2.12194440e-4)


def _jit(**options):
    if numba is None:
        return lambda fn: fn
    return numba.njit(cache=True, boundscheck=False, nogil=True, **options)


@_jit(inline="always")
def _exp_inplace(x, bits):  # pragma: no cover - compiled
    """x[j] = exp(x[j]) without a libm call, so the loop vectorises.

    exp(v) = 2^k * exp(r), k = round(v / ln 2), |r| <= ln2 / 2, exp(r) by its Taylor
    series to degree 7 (relative error < 1e-7 on float32); 2^k is built in the exponent
    bits. v is clamped to [-87, 88] (the range of normal float32 results).
    """
    n = x.shape[0]
    for j in range(n):
        v = min(max(x[j], np.float32(-87.0)), np.float32(88.0))
        k = math.floor(v * _LOG2E + np.float32(0.5))
        r = v - k * _LN2_HI - k * _LN2_LO
        p = np.float32(1.0 / 5040.0)
        p = p * r + np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        p = p * r + np.float32(1.0)
        p = p * r + np.float32(1.0)
        x[j] = p
        bits[j] = (np.int32(k) + np.int32(127)) << 23
    scale = bits.view(np.float32)
    for j in range(n):
        x[j] *= scale[j]


@_jit(inline="always")
def _cell(gates, work, bits, c, h):  # pragma: no cover - compiled
    """One LSTM cell update from pre-activations `gates` [4H] (torch's order i, f, g, o).

    c, h [H] are updated in place; `work` [4H] and `bits` [4H] are scratch.
    sigmoid(v) = 1 / (1 + exp(-v)), tanh(v) = 2 / (1 + exp(-2v)) - 1.
    """
    hidden = c.shape[0]
    for j in range(4 * hidden):
        work[j] = -gates[j]
    for j in range(2 * hidden, 3 * hidden):
        work[j] = np.float32(2.0) * work[j]
    _exp_inplace(work, bits)
    for j in range(4 * hidden):
        work[j] = np.float32(1.0) / (np.float32(1.0) + work[j])
    for j in range(hidden):
        cell = work[hidden + j] * c[j] + work[j] * (np.float32(2.0) * work[2 * hidden + j] - np.float32(1.0))
        c[j] = cell
        work[j] = np.float32(-2.0) * cell
    _exp_inplace(work[:hidden], bits[:hidden])
    for j in range(hidden):
        h[j] = work[3 * hidden + j] * (np.float32(2.0) / (np.float32(1.0) + work[j]) - np.float32(1.0))


@_jit(fastmath={"contract"}, inline="always")
def _recurrent_product(h, weight, gates):  # pragma: no cover - compiled
    """gates += h @ weight (weight [H, 4H]), four rows of the weight per pass."""
    hidden, width = weight.shape
    k = 0
    while k + 4 <= hidden:
        a0, a1, a2, a3 = h[k], h[k + 1], h[k + 2], h[k + 3]
        w0, w1, w2, w3 = weight[k], weight[k + 1], weight[k + 2], weight[k + 3]
        for j in range(width):
            gates[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j]
        k += 4
    while k < hidden:
        a = h[k]
        for j in range(width):
            gates[j] += a * weight[k, j]
        k += 1


@_jit(fastmath={"contract"})
def bilstm(gx, whh_forward, whh_backward, out):  # pragma: no cover - compiled
    """Bidirectional one-layer LSTM over N sequences from zero state.

    gx [N, T, 8H]: input projections plus both biases, forward gates then backward gates;
    whh_* [H, 4H]: recurrent weights transposed; out [N, T, 2H]: forward then backward h.
    The two directions advance together (independent work for the core to overlap); the
    recurrent product adds four rows of weights per pass over the gates (fewer loads and
    stores of the gate accumulators); "contract" lets a multiply-add become one FMA.
    """
    count, steps = gx.shape[0], gx.shape[1]
    hidden = whh_forward.shape[0]
    width = 4 * hidden
    hf = np.empty(hidden, np.float32)
    cf = np.empty(hidden, np.float32)
    hb = np.empty(hidden, np.float32)
    cb = np.empty(hidden, np.float32)
    gf = np.empty(width, np.float32)
    gb = np.empty(width, np.float32)
    work = np.empty(width, np.float32)
    bits = np.empty(width, np.int32)
    for n in range(count):
        hf[:] = 0.0
        cf[:] = 0.0
        hb[:] = 0.0
        cb[:] = 0.0
        for s in range(steps):
            tf, tb = s, steps - 1 - s
            for j in range(width):
                gf[j] = gx[n, tf, j]
                gb[j] = gx[n, tb, width + j]
            _recurrent_product(hf, whh_forward, gf)
            _recurrent_product(hb, whh_backward, gb)
            _cell(gf, work, bits, cf, hf)
            _cell(gb, work, bits, cb, hb)
            for j in range(hidden):
                out[n, tf, j] = hf[j]
                out[n, tb, hidden + j] = hb[j]


@_jit()
def lstm_step(gates, c0, h, c):  # pragma: no cover - compiled
    """One LSTM step of R independent rows: gates [R, 4H] (all products and biases added),
    previous cell c0 [R, H] -> new h, c [R, H] (written; c0 is not modified)."""
    rows, hidden = c0.shape
    work = np.empty(4 * hidden, np.float32)
    bits = np.empty(4 * hidden, np.int32)
    for r in range(rows):
        c[r, :] = c0[r, :]
        _cell(gates[r], work, bits, c[r], h[r])


@_jit()
def prelu_head_norm(z, slope, dims, heads, gamma, beta, eps, out):  # pragma: no cover - compiled
    """PReLU, then a layer norm over each head's (freq, dim) plane, for several projections.

    z [B, F, S]: the joined projections' outputs, projection p taking `heads * dims[p]`
    channels (head-major); slope [S]: each channel's PReLU slope; gamma, beta: per
    projection [heads, F, dims[p]] flattened and joined; out: per projection
    [B, heads, F, dims[p]] flattened and joined in projection order.
    """
    batch, freqs = z.shape[0], z.shape[1]
    col = 0
    par = 0
    dst = 0
    for p in range(dims.shape[0]):
        dim = dims[p]
        size = freqs * dim
        for b in range(batch):
            for hd in range(heads):
                first = col + hd * dim
                base = dst + (b * heads + hd) * size
                total = 0.0
                for f in range(freqs):
                    for d in range(dim):
                        v = z[b, f, first + d]
                        if v < 0:
                            v = v * slope[first + d]
                        out[base + f * dim + d] = v
                        total += v
                mean = total / size
                spread = 0.0
                for i in range(size):
                    dev = out[base + i] - mean
                    spread += dev * dev
                inv = 1.0 / math.sqrt(spread / size + eps)
                g = par + hd * size
                for i in range(size):
                    out[base + i] = np.float32((out[base + i] - mean) * inv) * gamma[g + i] + beta[g + i]
        col += heads * dim
        par += heads * size
        dst += batch * heads * size


@_jit(fastmath=True, inline="always")
def _softmax_weights(qv, keys, scale, scores):  # pragma: no cover - compiled
    """scores[t] = softmax over t of (qv . keys[t]) * scale."""
    count = keys.shape[0]
    dim = qv.shape[0]
    for t in range(count):
        kv = keys[t]
        acc = np.float32(0.0)
        for i in range(dim):
            acc += qv[i] * kv[i]
        scores[t] = acc * scale
    top = scores[0]
    for t in range(1, count):
        top = max(top, scores[t])
    total = np.float32(0.0)
    for t in range(count):
        scores[t] = math.exp(scores[t] - top)
        total += scores[t]
    for t in range(count):
        scores[t] /= total


@_jit(fastmath=True)
def cross_attention(q, keys, values, out):  # pragma: no cover - compiled
    """q [B, H, Tq, D] attends to keys [B, H, Tk, D] / values [B, H, Tk, Dv] -> out [B, H, Tq, Dv].

    Scores are scaled by 1 / sqrt(D). fastmath: the dot products may be summed in any
    order (float rounding only). Used for the fusion's cross-attention and for a causal
    block's attention over its cache (keys = the cache and the new frame).
    """
    batch, heads, frames, dim = q.shape
    count, vdim = keys.shape[2], values.shape[3]
    scale = np.float32(1.0 / math.sqrt(dim))
    scores = np.empty(count, np.float32)
    for b in range(batch):
        for h in range(heads):
            for f in range(frames):
                _softmax_weights(q[b, h, f], keys[b, h], scale, scores)
                o = out[b, h, f]
                o[:] = 0.0
                for t in range(count):
                    w = scores[t]
                    vt = values[b, h, t]
                    for i in range(vdim):
                        o[i] += w * vt[i]


@_jit()
def conv_frame(past, cur, weight, bias, out, past_out):  # pragma: no cover - compiled
    """The extractor's input conv (kernel 3 frames x 3 freqs, freq padding 1) for one new frame.

    past [B, Ci, 2, F], cur [B, Ci, F]: the input frames, oldest first; weight [Ci, 3, 3, Co]
    (the Conv2d weight permuted so the output channel runs fastest); out [B, F, Co]
    channels-last; past_out [B, Ci, 2, F] gets the last two frames for the next call.
    """
    batch, cin, _, freqs = past.shape
    cout = bias.shape[0]
    for b in range(batch):
        for f in range(freqs):
            o = out[b, f]
            o[:] = bias
            for i in range(cin):
                for kt in range(3):
                    for kf in range(3):
                        src = f + kf - 1
                        if src < 0 or src >= freqs:
                            continue
                        v = cur[b, i, src] if kt == 2 else past[b, i, kt, src]
                        w = weight[i, kt, kf]
                        for c in range(cout):
                            o[c] += v * w[c]
        for i in range(cin):
            for f in range(freqs):
                past_out[b, i, 0, f] = past[b, i, 1, f]
                past_out[b, i, 1, f] = cur[b, i, f]


@_jit(fastmath=True)
def deconv_frame(past, cur, weight, bias, out, past_out):  # pragma: no cover - compiled
    """The extractor's output transposed conv (kernel 3 x 3, padding (2, 1)) for one new frame.

    past [B, C, 2, F] channels-first, cur [B, F, C] channels-last: the input frames, oldest
    first; weight [Co, 3, 3, C] (the ConvTranspose2d weight permuted); out [B, Co, F];
    past_out [B, C, 2, F] gets the last two frames. Output frame t reads input frame
    2 - kt at freq f - kf + 1 for kernel tap (kt, kf).
    """
    batch, channels, _, freqs = past.shape
    cout = bias.shape[0]
    column = np.empty(channels, np.float32)
    for b in range(batch):
        for o in range(cout):
            for f in range(freqs):
                out[b, o, f] = bias[o]
        for kt in range(3):
            frame = 2 - kt
            for src in range(freqs):
                if frame == 2:
                    for i in range(channels):
                        column[i] = cur[b, src, i]
                else:
                    for i in range(channels):
                        column[i] = past[b, i, frame, src]
                for kf in range(3):
                    f = src + kf - 1
                    if f < 0 or f >= freqs:
                        continue
                    for o in range(cout):
                        w = weight[o, kt, kf]
                        acc = np.float32(0.0)
                        for i in range(channels):
                            acc += column[i] * w[i]
                        out[b, o, f] += acc
        for i in range(channels):
            for f in range(freqs):
                past_out[b, i, 0, f] = past[b, i, 1, f]
                past_out[b, i, 1, f] = cur[b, f, i]
