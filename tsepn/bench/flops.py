"""The FLOP floor of a call: its LSTM and matrix FLOPs, timed at the machine's matmul rate.

`count_flops(fn)` runs `fn` once under a dispatch mode that adds up the floating-point
operations (2 per multiply-add) of the ops that carry the work: matrix products (mm,
addmm, bmm, baddbmm), convolutions and LSTM layers, forward and backward. Element-wise
ops (norms, activations, adds, the LSTM gate non-linearities) are left out, so the floor
is a lower bound. `matmul_rate()` measures what one core sustains on a large fp32
matmul. FLOPs / rate is the time the call would take if every one of those FLOPs ran at
that rate: "how close to the floor" is measured time / floor.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from typing import Callable, Dict, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten


def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def _mm(args, out) -> int:  # mm(a, b), addmm(bias, a, b), bmm(a, b), baddbmm(bias, a, b)
    a = args[-2]
    return 2 * _numel(out.shape) * int(a.shape[-1])


def _convolution(args, out) -> int:
    x, weight, transposed, groups = args[0], args[1], args[6], args[8]
    per_output = _numel(weight.shape[1:])  # (C_in / groups) * kernel for a plain conv
    if transposed:  # weight [C_in, C_out / groups, *kernel]: every input element feeds C_out/groups * kernel outputs
        return 2 * _numel(x.shape) * per_output
    return 2 * _numel(out.shape) * per_output


def _convolution_backward(args, out) -> int:
    grad_out, x, weight, transposed, groups = args[0], args[1], args[2], args[6], args[8]
    mask = args[10]
    forward = 2 * _numel(x.shape if transposed else grad_out.shape) * _numel(weight.shape[1:])
    return forward * (int(bool(mask[0])) + int(bool(mask[1])))


def _lstm_layer(args, out) -> int:
    """mkldnn_rnn_layer(input [T, N, I] or batch-first, w_ih [4H, I], w_hh [4H, H], ...)."""
    x, w_ih, w_hh = args[0], args[1], args[2]
    steps = _numel(x.shape[:-1])  # T * N
    return 2 * steps * int(w_ih.shape[0]) * (int(w_ih.shape[1]) + int(w_hh.shape[1]))


def _lstm_layer_backward(args, out) -> int:
    """Gradients for the input and both weight matrices: twice the forward products."""
    x, w_ih, w_hh = args[0], args[1], args[2]
    return 2 * _lstm_layer((x, w_ih, w_hh), out)


_RULES: Dict[object, tuple] = {
    aten.mm.default: ("matmul", _mm),
    aten.addmm.default: ("matmul", _mm),
    aten.bmm.default: ("matmul", _mm),
    aten.baddbmm.default: ("matmul", _mm),
    aten.convolution.default: ("conv", _convolution),
    aten.convolution_backward.default: ("conv", _convolution_backward),
}
if hasattr(aten, "mkldnn_rnn_layer"):
    _RULES[aten.mkldnn_rnn_layer.default] = ("lstm", _lstm_layer)
    _RULES[aten.mkldnn_rnn_layer_backward.default] = ("lstm", _lstm_layer_backward)


class FlopCounter(TorchDispatchMode):
    """`with FlopCounter() as counter: ...` then `counter.flops` (total) and `counter.by_kind`."""

    def __init__(self):
        super().__init__()
        self.by_kind: Counter = Counter()

    @property
    def flops(self) -> int:
        return sum(self.by_kind.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        rule = _RULES.get(func)
        if rule is not None:
            kind, count = rule
            self.by_kind[kind] += count(args, out if isinstance(out, torch.Tensor) else out[0])
        return out


def count_flops(fn: Callable[[], object]) -> FlopCounter:
    """Run `fn` once and return the counter.

    Under inference mode the dispatch mode would see composite ops (matmul, lstm) before
    they are broken down, so `fn` then runs under no_grad instead (same kernels). An LSTM
    is counted as a layer with oneDNN's RNN kernel; without it torch runs it step by
    step and the steps' matmuls are counted instead.
    """
    context = contextlib.ExitStack()
    if torch.is_inference_mode_enabled():
        context.enter_context(torch.inference_mode(False))
        context.enter_context(torch.no_grad())
    with context, FlopCounter() as counter:
        fn()
    return counter


def matmul_rate(size: int = 512, seconds: float = 0.3, tries: int = 5) -> float:
    """FLOP/s of a [size x size] fp32 matmul on the current torch thread count (best of `tries`).

    The best try, not the median: a floor should use the rate the machine reaches when
    it is not interrupted.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    per_call = 2 * size**3
    torch.mm(a, b, out=out)
    best = 0.0
    for _ in range(tries):
        calls, start = 0, time.perf_counter()
        while True:
            torch.mm(a, b, out=out)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / tries:
                break
        best = max(best, calls * per_call / elapsed)
    return best
