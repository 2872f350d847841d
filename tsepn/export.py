"""Export a trained model to ONNX: the enrollment side and one streaming step of the extractor.

    tsepn-export --checkpoint exp/stage2/model.pt --out exported/
    tsepn-export --checkpoint proposed-monaural.pt --arch proposed-monaural --out exported/ --chunk-seconds 0.008

writes into DIR:
- `enroll.onnx`: (pos [1, C, Np], neg [1, C, Nn]) -> the conditioning tensors the extractor
  reads (the fusions' prepared keys/values, FiLM coefficients, ...) and `enroll_scale` (the
  positive enrollment's std, used by normalization="enrollment"). Enrollment lengths are free.
- `step.onnx`: one streaming step, (chunk [1, C, chunk], scale [1, 1, 1], conditioning...,
  state...) -> (out [1, C, chunk], new state...). The chunk length is fixed at export time
  (`--chunk-seconds`, a multiple of the hop). The model's state (frame buffers, LSTM states,
  attention caches, overlap-add tails) is flattened into named tensors `state.<path>`; the
  outputs `new_state.<path>` come back in the same order. In a one-frame step (the 8-ms
  chunk of the published model) the attention caches are rings: `new_state.<cache>` is the
  new frame only, which the runtime writes in place (manifest `step.ring`), so no chunk
  copies the caches.
- `manifest.json`: sample rate, hop, n_fft, chunk size, channels, latency, normalisation,
  framing, the names/shapes/dtypes of every input and output, model name and arguments,
  tsepn and torch versions (`MANIFEST_FORMAT`).

The input normalisation leaves the step graph: the caller passes `scale` (the chunk's own
std for normalization="per_call", `enroll_scale` for "enrollment", 1 for "none"), so a
zero-padded last chunk is divided by the std of its real samples exactly as PyTorch does.
`tsepn.runtime` runs these files with onnxruntime and numpy only. `format="torchscript"`
(`tsepn-export --format torchscript`) writes the same two graphs as `enroll.pt` / `step.pt`
(torch.jit.trace; same inputs, outputs and manifest), run by `tsepn.runtime.torchscript`.

Only streaming models export their step: a model whose `init_state` is not a tsepn
`StreamState` (the improved early-fusion model, whose blocks look at all frames) raises
`ExportError` naming the layer and the reason.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

import tsepn
from tsepn.fileio import atomic_path, write_text_atomic

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "tsepn-onnx-2"  # 2: step "ring" states
ENROLL_FILE, STEP_FILE, MANIFEST_FILE = "enroll.onnx", "step.onnx", "manifest.json"
# The second format: the same two graphs traced to TorchScript (torch.jit.load, or libtorch in C++).
TORCHSCRIPT_FORMAT = "tsepn-torchscript-1"
FORMATS = {"onnx": (MANIFEST_FORMAT, ENROLL_FILE, STEP_FILE),
           "torchscript": (TORCHSCRIPT_FORMAT, "enroll.pt", "step.pt")}
OPSET = 17
DEFAULT_CHUNK_SECONDS = 0.008
# Length of the dummy enrollments the enrollment graph is traced with. Short: tracing runs the
# encoder (LSTMs over every frame, attention over all frame pairs), and the graph does not
# depend on it (lengths stay free); 3 s made exporting the published model take 3x longer.
EXAMPLE_ENROLL_SECONDS = 1.0


class ExportError(ValueError):
    """A model (or option) that cannot be exported; the message names the layer and why."""


# --------------------------------------------------------------------------- flattening


def flatten(obj: Any, prefix: str = "") -> List[Tuple[str, torch.Tensor]]:
    """Every tensor leaf of nested dataclasses / lists / tuples, as (dotted path, tensor), in a fixed order."""
    if isinstance(obj, torch.Tensor):
        return [(prefix, obj)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    elif isinstance(obj, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(obj)]
    else:  # None, bools, numbers: structure, not data
        return []
    out = []
    for name, value in items:
        out.extend(flatten(value, f"{prefix}.{name}" if prefix else name))
    return out


def rebuild(template: Any, values: Dict[str, torch.Tensor], prefix: str = "") -> Any:
    """`template` with each tensor leaf whose path is in `values` replaced (others kept)."""
    if isinstance(template, torch.Tensor):
        return values.get(prefix, template)
    if dataclasses.is_dataclass(template) and not isinstance(template, type):
        kwargs = {f.name: rebuild(getattr(template, f.name), values, f"{prefix}.{f.name}" if prefix else f.name)
                  for f in dataclasses.fields(template)}
        return type(template)(**kwargs)
    if isinstance(template, (list, tuple)):
        items = [rebuild(v, values, f"{prefix}.{i}" if prefix else str(i)) for i, v in enumerate(template)]
        return type(template)(items) if isinstance(template, tuple) else items
    return template


def graph_leaves(obj: Any, prefix: str) -> List[Tuple[str, torch.Tensor]]:
    """Tensor leaves that travel through the graph: empty tensors stay constants of the template."""
    return [(f"{prefix}.{name}", t) for name, t in flatten(obj) if t.numel() > 0]


# --------------------------------------------------------------------------- checks


def streaming_problem(model: nn.Module) -> Optional[str]:
    """Why `model` has no exportable streaming step (naming the layer), or None when it has one."""
    from tsepn.models.extractor import StreamState

    try:
        state = model.init_state(1)
    except Exception as err:  # noqa: BLE001 - any failure means: no usable state
        return f"{type(model).__name__}.init_state(1) fails: {err}"
    if isinstance(state, StreamState):
        return None
    layer = _non_causal_layer(model)
    what = f"layer {layer}" if layer else f"model {type(model).__name__}"
    return (f"{what} is not causal: it looks at every frame of its input at once (bidirectional LSTM over time "
            f"and attention over all frames), so the model has no streaming state (init_state returns "
            f"{type(state).__name__}) and no step graph can be exported; run it on whole signals or in "
            f"overlapping windows (tsepn.api)")


def _non_causal_layer(model: nn.Module) -> Optional[str]:
    """Name and class of the first module that processes whole sequences over time (bidirectional inter-frame LSTM)."""
    for name, module in model.named_modules():
        if name.startswith(("encoder", "siamese", "encoder_head")):
            continue  # the enrollment side runs once per utterance: it may look at everything
        rnn = getattr(module, "inter_rnn", None)
        if isinstance(rnn, nn.LSTM) and rnn.bidirectional:
            return f"{name} ({type(module).__name__}: bidirectional inter-frame LSTM)"
    for name, module in model.named_modules():
        if type(module).__name__.startswith(("GridNetV2Block", "GridNetBlock")):
            return f"{name} ({type(module).__name__})"
    return None


# --------------------------------------------------------------------------- wrappers


class _TracedMath:
    """`math` for the models' modules while tracing: `ceil` of a traced size stays a graph value.

    Python's math.ceil turns a traced size into a constant, which would freeze the enrollment
    length into the graph; torch.ceil keeps it symbolic. Everything else is the math module.
    """

    def __getattr__(self, name):
        return getattr(math, name)

    @staticmethod
    def ceil(value):
        if isinstance(value, torch.Tensor):
            return torch.ceil(value).to(torch.int64)
        return math.ceil(value)


@contextlib.contextmanager
def static_sizes():
    """While tracing a fixed-shape graph (the step): sizes read from tensors are plain ints.

    The tracer records `x.shape` / `x.size()` reads as graph values, and integer arithmetic
    on them as graph ops; some of those export wrongly (floor division of a negative size
    becomes a truncating Div) or not at all (Unfold needs constant sizes). Every shape in the
    step graph is fixed, so sizes are read as Python ints, and `Tensor.unfold` (no ONNX op)
    becomes stacked slices.
    """
    base = torch._C.TensorBase
    shape_get, size_fn = base.shape.__get__, base.size
    saved = {name: torch.Tensor.__dict__.get(name) for name in ("shape", "size", "unfold")}

    def static_shape(self):
        return torch.Size([int(d) for d in shape_get(self)])

    def static_size(self, dim=None):
        return static_shape(self) if dim is None else int(size_fn(self, dim))

    def static_unfold(x, dimension, size, step):
        dim, size, step = int(dimension) % x.dim(), int(size), int(step)
        count = (int(x.shape[dim]) - size) // step + 1
        windows = torch.stack([x.narrow(dim, i * step, size) for i in range(count)], dim)
        return windows.movedim(dim + 1, -1)

    torch.Tensor.shape = property(static_shape)
    torch.Tensor.size = static_size
    torch.Tensor.unfold = static_unfold
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, value)


@contextlib.contextmanager
def no_weight_caches():
    """Disable the models' inference caches of regrouped weights while tracing.

    `tsepn.models.attention.cached_without_grad` memoises by data pointer, which the
    exporters' fake tensors do not have; without it the regrouping is simply traced.
    """
    import sys

    uncached = lambda owner, name, params, build: build()  # noqa: E731
    patched = []
    for name, module in list(sys.modules.items()):
        if name.startswith("tsepn.models") and module is not None and hasattr(module, "cached_without_grad"):
            patched.append((module, module.cached_without_grad))
            module.cached_without_grad = uncached
    layer_norm = torch.nn.functional.layer_norm

    def static_layer_norm(x, normalized_shape, *args, **kwargs):
        # The tracer records sizes read from tensors as graph values, but ONNX's LayerNormalization
        # needs a constant normalised shape: those dims are fixed (channels, frequencies), only time varies.
        return layer_norm(x, tuple(int(n) for n in normalized_shape), *args, **kwargs)

    torch.nn.functional.layer_norm = static_layer_norm
    shimmed = []
    for name, module in list(sys.modules.items()):
        if name.startswith("tsepn.models") and module is not None and getattr(module, "math", None) is math:
            shimmed.append(module)
            module.math = _TracedMath()
    try:
        yield
    finally:
        torch.nn.functional.layer_norm = layer_norm
        for module in shimmed:
            module.math = math
        for module, original in patched:
            module.cached_without_grad = original


class ConvSpectrum(nn.Module):
    """`SiameseEncoder.spectrum` (torch.stft, centred, reflect padding) as a real DFT convolution.

    ONNX has no complex tensors, so torch.stft(return_complex=True) does not export; the same
    numbers come from reflect padding + conv1d with windowed cos / -sin filters.
    """

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor):
        super().__init__()
        self.n_fft, self.hop, self.n_freqs = n_fft, hop, n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        f = torch.arange(self.n_freqs, dtype=torch.float64).unsqueeze(1)
        angle = 2 * math.pi * f * n / n_fft
        win = window.to(torch.float64)
        filters = torch.cat([torch.cos(angle) * win, -torch.sin(angle) * win]).unsqueeze(1)
        self.register_buffer("filters", filters.float())

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        batch, channels, samples = wave.shape
        x = nn.functional.pad(wave.reshape(batch * channels, 1, samples), (self.n_fft // 2, self.n_fft // 2),
                              mode="reflect")
        spec = nn.functional.conv1d(x, self.filters, stride=self.hop)  # [B*M, 2F, T]
        spec = spec.view(batch, channels, 2 * self.n_freqs, -1).transpose(2, 3)  # [B, M, T, 2F]
        return torch.cat([spec[..., : self.n_freqs], spec[..., self.n_freqs:]], dim=1)


def use_conv_spectrum(model: nn.Module) -> List[str]:
    """Give every enrollment encoder of `model` (modules with `spectrum` + `stft_window`) a ConvSpectrum."""
    patched = []
    for name, module in model.named_modules():
        if hasattr(module, "stft_window") and callable(getattr(module, "spectrum", None)):
            conv = ConvSpectrum(int(module.n_fft), int(module.hop), module.stft_window)
            module.add_module("export_spectrum", conv)
            object.__setattr__(module, "spectrum", conv.forward)
            patched.append(name)
    return patched


def frames_per_chunk(model: nn.Module, chunk: int) -> int:
    """STFT frames one step of `chunk` samples produces (see the framings in tsepn.models.extractor)."""
    if getattr(model, "framing", None) == "upstream":
        return (chunk - int(model.n_fft)) // int(model.hop) + 1
    return chunk // int(model.hop)


def _one_frame_block_forward(block: nn.Module, x: torch.Tensor, state) -> tuple:
    """`CausalGridNetBlock.forward` for a one-frame step whose attention cache is a ring buffer.

    With one query frame the attention is a sum over the cached frames and the new one, so
    their order does not matter: the cache may be a ring that the runtime updates in place
    (slot `frame % (span - 1)`), and the step returns only the new key/value frame. That spares
    the graph the copy of every cache into a longer tensor and the copy of its kept part
    (about 1.2 MB per block of the published model at each 8-ms chunk). Same numbers as the
    block up to the summation order.
    """
    from tsepn.models.attention import merge_heads, project_heads
    from tsepn.models.tfgridnet import BlockState

    freqs = x.shape[2]
    x, h, c = block.recurrent(x, state)
    q, k, v = project_heads(x, block.qkv_params())
    q2 = q.flatten(-2)  # [B, H, 1, F * E]
    cached = torch.matmul(q2, state.keys.flatten(-2).transpose(-1, -2))  # [B, H, 1, span - 1]
    current = (q2 * k.flatten(-2)).sum(dim=-1, keepdim=True)  # [B, H, 1, 1]
    weights = torch.softmax(torch.cat([cached, current], dim=-1) / math.sqrt(q2.shape[-1]), dim=-1)
    span = state.keys.shape[2]
    out = torch.matmul(weights[..., :span], state.values.flatten(-2)) + weights[..., span:] * v.flatten(-2)
    out = out.view(*out.shape[:-1], freqs, v.shape[-1])
    x = x + block.attn_concat_proj.frame_forward(merge_heads(out))
    return x, BlockState(h, c, k, v)


def use_ring_caches(model: nn.Module) -> List[str]:
    """Give the extractor's causal blocks the one-frame ring-cache step; returns the ring state names."""
    from tsepn.models.tfgridnet import CausalGridNetBlock

    names = []
    for i, block in enumerate(getattr(model, "blocks", [])):
        if type(block) is CausalGridNetBlock and block.attention_span > 1:
            object.__setattr__(block, "forward", _one_frame_block_forward.__get__(block))
            names += [f"state.blocks.{i}.keys", f"state.blocks.{i}.values"]
    return names


def _group_norm_float64_statistics(norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    """`nn.GroupNorm` with its mean and variance reduced in float64 (the result is float32).

    torch.onnx writes GroupNorm as InstanceNormalization over [batch, groups, everything
    else]; the encoder's input norm (one group) reduces channels x frames x freqs, 1.6 M
    values for a 6-s enrollment, and onnxruntime's float32 reduction of that many values
    loses ~1e-4 at the conditioning, most of the fixture tolerance. In float64 the
    statistics are exact to float32 and cost nothing next to the encoder.
    """
    shape = x.shape
    grouped = x.double().reshape(shape[0], norm.num_groups, -1)
    mean = grouped.mean(dim=-1, keepdim=True)
    var = (grouped - mean).pow(2).mean(dim=-1, keepdim=True)
    y = ((grouped - mean) / torch.sqrt(var + norm.eps)).to(x.dtype).reshape(shape)
    if norm.affine:
        affine = (1, -1) + (1,) * (x.dim() - 2)
        y = y * norm.weight.view(affine) + norm.bias.view(affine)
    return y


def use_precise_group_norms(model: nn.Module) -> List[str]:
    """Every nn.GroupNorm of `model` computes its statistics in float64 (see above); returns their names."""
    patched = []
    for name, module in model.named_modules():
        if isinstance(module, nn.GroupNorm):
            object.__setattr__(module, "forward", _group_norm_float64_statistics.__get__(module))
            patched.append(name)
    return patched


class EnrollGraph(nn.Module):
    """(pos, neg) -> (conditioning tensors..., enroll_scale): `model.encode` with its result flattened."""

    def __init__(self, model: nn.Module, names: Sequence[str]):
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, pos: torch.Tensor, neg: torch.Tensor):
        from tsepn.models.encoder import STD_FLOOR

        cond = self.model.encode(pos, neg)
        leaves = dict(graph_leaves(cond.fusion, "cond"))
        scale = torch.std(pos, dim=(1, 2), keepdim=True).clamp_min(STD_FLOOR)
        return tuple(leaves[name] for name in self.names) + (scale,)


class StepGraph(nn.Module):
    """(chunk, scale, conditioning..., state...) -> (out, new state...): one `model.forward` call.

    The wrapped copy of the model normalises by `cond.scale`, which the graph takes as an
    input, so every normalisation mode runs through the same graph.
    """

    def __init__(self, model: nn.Module, cond_template, cond_names: Sequence[str], state_template,
                 state_names: Sequence[str]):
        super().__init__()
        self.model = model
        self.cond_template, self.cond_names = cond_template, list(cond_names)
        self.state_template, self.state_names = state_template, list(state_names)

    def forward(self, chunk: torch.Tensor, scale: torch.Tensor, *tensors: torch.Tensor):
        from tsepn.models.extractor import Conditioning

        n_cond = len(self.cond_names)
        fusion = rebuild(self.cond_template, {n[len("cond."):]: t for n, t in zip(self.cond_names, tensors[:n_cond])})
        state = rebuild(self.state_template, {n[len("state."):]: t for n, t in zip(self.state_names, tensors[n_cond:])})
        cond = Conditioning(embedding=chunk.new_zeros(chunk.shape[0], 1, 1, 1), fusion=fusion, scale=scale)
        out, new_state = self.model(chunk, cond, state)
        new = dict(graph_leaves(new_state, "state"))
        return (out,) + tuple(new[name] for name in self.state_names)


# --------------------------------------------------------------------------- export


def _spec(name: str, tensor: torch.Tensor, dynamic: Optional[Dict[int, str]] = None) -> dict:
    shape: List[Any] = list(tensor.shape)
    for axis, label in (dynamic or {}).items():
        shape[axis] = label
    return {"name": name, "shape": shape, "dtype": str(tensor.dtype).replace("torch.", "")}


def _export(module: nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_axes=None,
            format: str = "onnx") -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        with atomic_path(path) as tmp:
            if format == "torchscript":  # the same tracer as torch.onnx (dynamo=False): sizes stay symbolic
                torch.jit.save(torch.jit.trace(module, args, check_trace=False), str(tmp))
                return
            torch.onnx.export(module, args, str(tmp), input_names=list(input_names), output_names=list(output_names),
                              opset_version=OPSET, dynamo=False, dynamic_axes=dynamic_axes or {},
                              do_constant_folding=True)


def chunk_samples(model: nn.Module, chunk_seconds: float) -> int:
    rate, hop = int(model.sample_rate), int(model.hop)
    samples = int(round(chunk_seconds * rate))
    if samples <= 0 or samples % hop:
        good = max(1, round(samples / hop)) * hop / rate
        raise ExportError(f"--chunk-seconds {chunk_seconds} gives {samples} samples, not a positive multiple of the "
                          f"model's hop ({hop} samples at {rate} Hz); use e.g. {good:g}")
    if getattr(model, "framing", None) == "upstream" and samples < model.n_fft:
        raise ExportError(f"--chunk-seconds {chunk_seconds}: the upstream framing needs chunks of at least n_fft = "
                          f"{model.n_fft} samples ({model.n_fft / rate * 1000:g} ms)")
    return samples


def export_model(model: nn.Module, out_dir, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                 enroll_seconds: float = EXAMPLE_ENROLL_SECONDS, model_name: Optional[str] = None,
                 check: bool = True, ring_caches: bool = True, format: str = "onnx") -> dict:
    """Write enroll.onnx, step.onnx and manifest.json for `model` into `out_dir`; returns the manifest.

    `ring_caches`: for one-frame steps, the attention caches become ring buffers the runtime
    updates in place (the fast path; False keeps the cache-shifting graph, for comparison).
    `format`: "onnx" (enroll.onnx, step.onnx) or "torchscript" (enroll.pt, step.pt: the same
    inputs, outputs and manifest, run by tsepn.runtime.torchscript).

    With `check`, the exported graphs are run once with onnxruntime against the PyTorch
    model on random input and the largest absolute difference is recorded in the manifest.
    """
    if format not in FORMATS:
        raise ExportError(f"format must be one of {sorted(FORMATS)}, got {format!r}")
    manifest_format, enroll_file, step_file = FORMATS[format]
    problem = streaming_problem(model)
    if problem is not None:
        raise ExportError(f"cannot export the streaming step: {problem}")
    original = model
    model = copy.deepcopy(model).cpu().eval()
    model.requires_grad_(False)  # weights regrouped by the models' caches become graph constants
    use_conv_spectrum(model)
    use_precise_group_norms(model)
    normalization = getattr(model, "normalization", "none")
    model.normalization = "enrollment"  # the graphs take the scale as an input (see StepGraph)
    channels, rate = int(model.in_channels), int(model.sample_rate)
    chunk = chunk_samples(model, chunk_seconds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    gen = torch.Generator().manual_seed(0)
    enroll_len = int(round(enroll_seconds * rate))
    pos = torch.randn(1, channels, enroll_len, generator=gen)
    neg = torch.randn(1, channels, enroll_len + rate // 4, generator=gen)
    with torch.no_grad():
        cond = model.encode(pos, neg)
        longer = model.encode(torch.randn(1, channels, enroll_len + _pooling_step_samples(model), generator=gen), neg)
    cond_leaves = graph_leaves(cond.fusion, "cond")
    cond_names = [name for name, _ in cond_leaves]
    # axes that follow the enrollment's length (pooled frames): free in both graphs
    cond_axes = {name: {axis: "cond_frames" for axis in range(t.dim()) if t.shape[axis] != other.shape[axis]}
                 for (name, t), (_, other) in zip(cond_leaves, graph_leaves(longer.fusion, "cond"))}
    state = model.init_state(1)
    state_leaves = graph_leaves(state, "state")
    state_names = [name for name, _ in state_leaves]

    ring = use_ring_caches(model) if ring_caches and frames_per_chunk(model, chunk) == 1 else []
    enroll_graph = EnrollGraph(model, cond_names)
    step_graph = StepGraph(model, cond.fusion, cond_names, state, state_names)
    mix = torch.randn(1, channels, chunk, generator=gen)
    scale = torch.ones(1, 1, 1)
    with torch.no_grad():  # the outputs' shapes (a ring cache returns only its new frame)
        step_outputs = step_graph(mix, scale, *(t for _, t in cond_leaves), *(t for _, t in state_leaves))
    with torch.no_grad(), no_weight_caches():
        _export(enroll_graph, (pos, neg), out_dir / enroll_file, ["pos", "neg"], cond_names + ["enroll_scale"],
                dynamic_axes={"pos": {2: "pos_samples"}, "neg": {2: "neg_samples"},
                              **{n: a for n, a in cond_axes.items() if a}}, format=format)
        new_state_names = ["new_" + name for name in state_names]
        step_inputs = (mix, scale) + tuple(t for _, t in cond_leaves) + tuple(t for _, t in state_leaves)
        with static_sizes():
            _export(step_graph, step_inputs, out_dir / step_file, ["chunk", "scale"] + cond_names + state_names,
                    ["out"] + new_state_names, dynamic_axes={n: a for n, a in cond_axes.items() if a}, format=format)

    manifest = {
        "format": manifest_format,
        "model": model_name or getattr(model, "tsepn_name", type(model).__name__),
        "model_args": getattr(model, "tsepn_args", {}),
        "tsepn_version": tsepn.__version__,
        "torch_version": str(torch.__version__),
        "opset": OPSET,
        "sample_rate": rate,
        "channels": channels,
        "out_channels": int(getattr(model, "out_channels", channels)),
        "n_fft": int(model.n_fft),
        "hop": int(model.hop),
        "chunk_samples": chunk,
        "chunk_seconds": chunk / rate,
        "latency": int(getattr(model, "latency", 0)),
        "normalization": normalization,
        "framing": getattr(model, "framing", None),
        "std_floor": _std_floor(),
        "min_enroll_samples": _min_enroll_samples(model),
        "files": {"enroll": enroll_file, "step": step_file},
        "enroll": {
            "inputs": [_spec("pos", pos, {2: "pos_samples"}), _spec("neg", neg, {2: "neg_samples"})],
            "outputs": [_spec(n, t, cond_axes[n]) for n, t in cond_leaves] + [_spec("enroll_scale", scale)],
        },
        "step": {
            "inputs": [_spec("chunk", mix), _spec("scale", scale)] + [_spec(n, t, cond_axes[n]) for n, t in cond_leaves]
            + [_spec(n, t) for n, t in state_leaves],
            "outputs": [_spec("out", step_outputs[0])]
            + [_spec("new_" + n, t) for n, t in zip(state_names, step_outputs[1:])],
            "conditioning": cond_names,
            "state": state_names,
            # states updated in place by the runtime: new_<name> is one frame, written at slot
            # (frames so far) % (the state's length on `axis`); see _one_frame_block_forward
            "ring": {name: 2 for name in ring},
        },
    }
    write_text_atomic(out_dir / MANIFEST_FILE, json.dumps(manifest, indent=1) + "\n")
    if check:
        manifest["check"] = check_export(copy.deepcopy(original).cpu().eval(), out_dir, manifest, normalization)
        write_text_atomic(out_dir / MANIFEST_FILE, json.dumps(manifest, indent=1) + "\n")
    return manifest


def _std_floor() -> float:
    from tsepn.models.encoder import STD_FLOOR

    return float(STD_FLOOR)


def _pooling_step_samples(model: nn.Module) -> int:
    """Enrollment samples that add at least two pooled conditioning frames (to find the free axes)."""
    stride = max([int(getattr(f, "pooling_stride", 1)) for f in getattr(model, "fusions", [])] + [1])
    return 2 * stride * int(model.hop) + int(model.hop)


def _min_enroll_samples(model: nn.Module) -> int:
    """Shortest enrollment the conditioning accepts (the pooling window of a cross-attention fusion)."""
    frames = max([int(getattr(f, "pooling_size", 1)) for f in getattr(model, "fusions", [])] + [1])
    return (frames - 1) * int(model.hop) + 1


def check_export(model: nn.Module, out_dir: Path, manifest: dict, normalization: str,
                 seconds: float = 0.5) -> dict:
    """Stream random audio through the ONNX graphs and PyTorch (same chunks); max |difference|."""
    from tsepn.runtime import OnnxExtractor

    rate, channels = manifest["sample_rate"], manifest["channels"]
    gen = torch.Generator().manual_seed(1)
    pos = torch.randn(1, channels, int(1.5 * rate), generator=gen)
    neg = torch.randn(1, channels, int(1.2 * rate), generator=gen)
    chunk = manifest["chunk_samples"]
    total = max(chunk * 3, int(seconds * rate) // chunk * chunk)
    mix = torch.randn(1, channels, total, generator=gen)
    reference = torch_stream(model, normalization, mix, pos, neg, chunk)
    if manifest["format"] == TORCHSCRIPT_FORMAT:
        from tsepn.runtime.torchscript import TorchScriptExtractor as OnnxExtractor  # noqa: N814 - same API
    runtime = OnnxExtractor(out_dir)
    got = runtime.extract(mix[0].numpy(), pos[0].numpy(), neg[0].numpy())
    err = float(abs(got - reference[0].numpy()).max())
    scale = float(reference.abs().max())
    log.info("export check: max |onnx - torch| = %.3g over %d samples (output peak %.3g)", err, total, scale)
    return {"max_abs_error": err, "samples": total, "output_peak": scale}


def torch_stream(model: nn.Module, normalization: str, mix: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                 chunk: int) -> torch.Tensor:
    """The PyTorch model run in `chunk`-sample calls with its own normalisation `normalization`."""
    model = copy.copy(model)
    model.normalization = normalization
    with torch.no_grad():
        cond = model.encode(pos, neg)
        state, outs = None, []
        for start in range(0, mix.shape[-1], chunk):
            out, state = model(mix[..., start:start + chunk], cond, state)
            outs.append(out)
    return torch.cat(outs, dim=-1)

