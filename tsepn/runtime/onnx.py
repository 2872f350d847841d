"""onnxruntime + numpy execution of the graphs written by tsepn.export (see the package docstring).

Nothing here imports torch: the runtime is meant for machines that only have onnxruntime.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional

import numpy as np

from tsepn.runtime.blocks import push_blocks

MANIFEST_FORMATS = ("tsepn-onnx-1", "tsepn-onnx-2")  # tsepn.export.MANIFEST_FORMAT and older (that module needs torch)


class RuntimeInputError(ValueError):
    """Audio or a model directory that does not suit the exported model."""


def load_manifest(model_dir, formats=MANIFEST_FORMATS) -> dict:
    path = Path(model_dir) / "manifest.json"
    if not path.is_file():
        raise RuntimeInputError(f"{path}: no manifest.json; is {model_dir} a tsepn-export output folder?")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RuntimeInputError(f"{path}: not valid JSON: {err}") from None
    if manifest.get("format") not in formats:
        raise RuntimeInputError(f"{path}: format {manifest.get('format')!r}, this runtime reads {formats}")
    for key in ("sample_rate", "channels", "chunk_samples", "normalization", "files", "enroll", "step"):
        if key not in manifest:
            raise RuntimeInputError(f"{path}: missing key {key!r}")
    return manifest


def _session(path: Path, threads: Optional[int]):
    import onnxruntime as ort

    if not path.is_file():
        raise RuntimeInputError(f"{path}: missing ONNX file")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class OnnxExtractor:
    """An exported model: `extract(mix, pos, neg)`, `stream(pos, neg)`, `encode(pos, neg)`.

    Audio is numpy float32 `[channels, samples]` (a 1-D array is mono) at the manifest's
    sample rate. `threads`: onnxruntime intra-op threads (None: its default).
    """

    formats = MANIFEST_FORMATS

    def __init__(self, model_dir, threads: Optional[int] = None):
        self.model_dir = Path(model_dir)
        self.manifest = m = load_manifest(self.model_dir, self.formats)
        self.sample_rate, self.in_channels = int(m["sample_rate"]), int(m["channels"])
        self.out_channels = int(m.get("out_channels", self.in_channels))
        self.chunk_samples, self.hop = int(m["chunk_samples"]), int(m["hop"])
        self.latency = int(m.get("latency", 0))
        self.normalization = m["normalization"]
        self.std_floor = float(m.get("std_floor", 1e-8))
        self.min_enroll_samples = int(m.get("min_enroll_samples", 1))
        self._open(threads)
        self.cond_names: List[str] = list(m["step"]["conditioning"])
        self.state_specs = [s for s in m["step"]["inputs"] if s["name"].startswith("state.")]
        self._enroll_outputs = [s["name"] for s in m["enroll"]["outputs"]]
        self._step_outputs = [s["name"] for s in m["step"]["outputs"]]

    def _open(self, threads: Optional[int]) -> None:
        m = self.manifest
        self.enroll_session = _session(self.model_dir / m["files"]["enroll"], threads)
        self.step_session = _session(self.model_dir / m["files"]["step"], threads)

    def _run_enroll(self, pos: np.ndarray, neg: np.ndarray) -> List[np.ndarray]:
        return self.enroll_session.run(self._enroll_outputs, {"pos": pos, "neg": neg})

    # ------------------------------------------------------------------ checks

    def check_audio(self, audio, name: str, min_samples: int = 1) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2 or audio.shape[0] != self.in_channels:
            raise RuntimeInputError(f"{name}: expected [{self.in_channels}, samples] (the model's channels), "
                                    f"got shape {audio.shape}")
        if audio.shape[1] < min_samples:
            raise RuntimeInputError(f"{name}: {audio.shape[1]} samples, at least {min_samples} are needed")
        if not np.all(np.isfinite(audio)):
            raise RuntimeInputError(f"{name}: holds NaN or Inf samples")
        return np.ascontiguousarray(audio)

    # ------------------------------------------------------------------ API

    def encode(self, pos, neg) -> Dict[str, np.ndarray]:
        """Enrollments -> conditioning tensors (by name) + `enroll_scale`; computed once per target."""
        pos = self.check_audio(pos, "positive enrollment", self.min_enroll_samples)
        neg = self.check_audio(neg, "negative enrollment", self.min_enroll_samples)
        return dict(zip(self._enroll_outputs, self._run_enroll(pos[None], neg[None])))

    def stream(self, pos=None, neg=None, cond: Optional[Dict[str, np.ndarray]] = None) -> "OnnxStream":
        """A live stream for one target: give the enrollments, or `cond` from `encode`."""
        if cond is None:
            if pos is None or neg is None:
                raise RuntimeInputError("stream() needs pos and neg, or cond from encode()")
            cond = self.encode(pos, neg)
        return self.stream_class(self, cond)

    def extract(self, mix, pos, neg) -> np.ndarray:
        """Whole mixture [C, T] -> target [Cout, T], run through the stream chunk by chunk."""
        mix = self.check_audio(mix, "mixture")
        stream = self.stream(pos, neg)
        outs = [stream.push(mix)]
        outs.append(stream.flush())
        return np.concatenate(outs, axis=-1)

    def extract_blocks(self, blocks: Iterable[np.ndarray], pos, neg) -> Iterator[np.ndarray]:
        """Stream an iterable of mixture blocks (any lengths); yields output blocks (same total length)."""
        stream = self.stream(pos, neg)
        yield from push_blocks(stream, blocks)


class OnnxStream:
    """Stateful stream: `push(audio)` -> the output samples finished so far; `flush()` ends it.

    Every graph input and output lives in an array this object owns, bound to the step
    session once (onnxruntime IO binding): a chunk is copied in, the graph runs, and the
    new states are copied back into the input arrays, with no allocation per chunk. A
    "ring" state (manifest `step.ring`, the attention caches of one-frame steps) gets only
    its new frame back, written in place at slot `frames % length`.
    """

    def __init__(self, extractor: OnnxExtractor, cond: Dict[str, np.ndarray]):
        self.x = x = extractor
        missing = [n for n in x.cond_names + ["enroll_scale"] if n not in cond]
        if missing:
            raise RuntimeInputError(f"conditioning lacks {missing}")
        self.enroll_scale = np.asarray(cond["enroll_scale"], dtype=np.float32).reshape(1, 1, 1)
        self.chunk = np.zeros((1, x.in_channels, x.chunk_samples), dtype=np.float32)
        self.scale = np.ones((1, 1, 1), dtype=np.float32)
        self.inputs = {"chunk": self.chunk, "scale": self.scale}
        self.inputs.update({n: np.ascontiguousarray(cond[n], dtype=np.float32) for n in x.cond_names})
        self.state = {s["name"]: np.zeros(s["shape"], dtype=np.float32) for s in x.state_specs}
        self.inputs.update(self.state)
        self.outputs = {s["name"]: np.zeros(s["shape"], dtype=np.float32) for s in x.manifest["step"]["outputs"]}
        self.ring = {name: int(axis) for name, axis in x.manifest["step"].get("ring", {}).items()}
        self.frames = 0  # steps run: the next ring slot
        # after each step: (state, its new value) copied whole; a ring state's new frame into one slot
        self._copies = [(state, self.outputs["new_" + name]) for name, state in self.state.items()
                        if name not in self.ring]
        self._rings = [([state[(slice(None),) * axis + (slice(j, j + 1),)] for j in range(state.shape[axis])],
                        self.outputs["new_" + name])
                       for name, state in self.state.items() for axis in [self.ring.get(name)] if axis is not None]
        self._bind()
        self.buffer = np.zeros((x.in_channels, 0), dtype=np.float32)
        self.ended = False

    def _bind(self) -> None:
        self.binding = self.x.step_session.io_binding()
        for name, array in self.inputs.items():
            self.binding.bind_input(name, "cpu", 0, np.float32, list(array.shape), array.ctypes.data)
        for name, array in self.outputs.items():
            self.binding.bind_output(name, "cpu", 0, np.float32, list(array.shape), array.ctypes.data)

    def _run(self) -> None:
        """The step graph on `self.inputs`, writing `self.outputs`."""
        self.x.step_session.run_with_iobinding(self.binding)

    def _set_scale(self, chunk: np.ndarray) -> None:
        mode = self.x.normalization
        if mode == "per_call":
            std = 0.0
            if chunk.size > 1:  # torch.std (unbiased), in float64
                centred = chunk.ravel().astype(np.float64)
                centred -= centred.mean()
                std = float(np.sqrt(centred.dot(centred) / (centred.size - 1)))
            self.scale.fill(max(float(std), self.x.std_floor))
        elif mode == "enrollment":
            self.scale[...] = self.enroll_scale
        else:
            self.scale.fill(1.0)

    def _step(self, chunk: np.ndarray) -> np.ndarray:
        """One graph call on `chunk` [C, n <= chunk_samples] (zero-padded to the graph's length)."""
        n = chunk.shape[-1]
        self._set_scale(chunk)
        self.chunk[0, :, :n] = chunk
        self.chunk[0, :, n:] = 0.0
        self._run()
        for state, new in self._copies:
            np.copyto(state, new)
        for slots, new in self._rings:
            np.copyto(slots[self.frames % len(slots)], new)
        self.frames += 1
        return self.outputs["out"][0, :, :n].copy()

    def push(self, audio) -> np.ndarray:
        """Append mixture samples [C, n]; returns the output of every chunk completed (maybe 0 samples)."""
        if self.ended:
            raise RuntimeInputError("this stream was flushed; start a new one with stream()")
        audio = self.x.check_audio(audio, "mixture chunk", min_samples=0)
        self.buffer = np.concatenate([self.buffer, audio], axis=-1) if self.buffer.shape[-1] else audio
        size = self.x.chunk_samples
        whole = self.buffer.shape[-1] // size * size
        outs = [self._step(self.buffer[:, i:i + size]) for i in range(0, whole, size)]
        self.buffer = self.buffer[:, whole:]
        if not outs:
            return np.zeros((self.x.out_channels, 0), dtype=np.float32)
        return np.concatenate(outs, axis=-1) if len(outs) > 1 else outs[0]

    def flush(self) -> np.ndarray:
        """Run the buffered remainder (zero-padded) and end the stream."""
        if self.ended:
            raise RuntimeInputError("this stream was already flushed")
        self.ended = True
        if not self.buffer.shape[-1]:
            return np.zeros((self.x.out_channels, 0), dtype=np.float32)
        out = self._step(self.buffer)
        self.buffer = self.buffer[:, :0]
        return out


OnnxExtractor.stream_class = OnnxStream
