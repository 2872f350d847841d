"""The Python API: `tsepn.load` and the extractor object it returns.

    import tsepn
    tse = tsepn.load("models/my-model")              # model directory, checkpoint file, or export folder
    out = tse.extract(mix, pos, neg)                 # numpy or torch; [T] (mono) or [C, T]
    pos, neg = tse.enroll("meeting.wav", "meeting.segments")   # one-recording enrollment
    tse.extract_file("long.wav", "out.wav", pos=pos, neg=neg)  # any length, flat memory, progress
    stream = tse.stream(pos, neg)                    # live: stream.push(block) -> output block
    tail = stream.flush()

`load(path, arch=None, device="cpu", backend="torch")`:
- a model directory (`model.json` + model file + `config.yaml` + `README.md` card; see
  `tsepn.modeldir`), a tsepn checkpoint file, or an authors' file with `arch`;
- `backend="onnx"` runs the directory's `onnx/` export (or a `tsepn-export` folder) with
  onnxruntime and numpy only; torch is then never imported.

How the mixture is run:
- streaming models (posneg / teacher): in chunks of `chunk_seconds` carrying the state
  (the model directory's default, or the argument); `chunk_seconds=None` is one call on the
  whole input, except that a chunk-invariant model (framing "streaming", normalisation not
  "per_call") always runs in 1-s chunks, which gives the same samples with bounded memory;
- models without streaming state (the improved early-fusion model) run in overlapping
  windows of `window_seconds` with `overlap_seconds` cross-faded (tsepn.runtime.blocks);
  input no longer than one window is one call. The enrollment is encoded once either way.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from tsepn.runtime.blocks import BlockWriter, Progress, file_frames, overlap_add_windows, push_blocks, read_blocks
from tsepn.runtime.segments import MIN_ENROLL_SECONDS

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SECONDS = 20.0
DEFAULT_OVERLAP_SECONDS = 2.0
# Longest single model call when no chunk is asked for and the model's output does not depend on the
# chunking (streaming framing, normalisation not per_call): longer input runs in calls of this length.
MAX_CALL_SECONDS = 60.0


class APIError(ValueError):
    """Bad input to the API (shape, channels, model directory); the message says what and where."""


# --------------------------------------------------------------------------- audio helpers


def _to_numpy(audio, name: str) -> Tuple[np.ndarray, bool, int]:
    """(float32 [C, T], was_torch, original ndim)."""
    was_torch = type(audio).__module__.startswith("torch")
    if was_torch:
        audio = audio.detach().cpu().numpy()
    audio = np.asarray(audio, dtype=np.float32)
    ndim = audio.ndim
    if ndim == 3 and audio.shape[0] == 1:
        audio = audio[0]
    elif ndim == 1:
        audio = audio[None]
    elif ndim != 2:
        raise APIError(f"{name}: expected [samples], [channels, samples] or [1, channels, samples], got {audio.shape}")
    return np.ascontiguousarray(audio), was_torch, ndim


def _like(out: np.ndarray, was_torch: bool, ndim: int):
    if ndim == 1 and out.shape[0] == 1:
        out = out[0]
    elif ndim == 3:
        out = out[None]
    if was_torch:
        import torch

        return torch.from_numpy(np.ascontiguousarray(out))
    return out


def _audio_arg(value, name: str, sample_rate: int) -> np.ndarray:
    """A path (read whole: enrollments are short) or an array -> float32 [C, T]."""
    if isinstance(value, (str, Path)):
        import soundfile as sf

        data, rate = sf.read(str(value), dtype="float32", always_2d=True)
        if rate != sample_rate:
            raise APIError(f"{value}: sample rate {rate} Hz, the model runs at {sample_rate} Hz (resample it first)")
        return np.ascontiguousarray(data.T)
    return _to_numpy(value, name)[0]


# --------------------------------------------------------------------------- backends


class _TorchBackend:
    def __init__(self, model, device: str):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.sample_rate = int(getattr(model, "sample_rate", 16000))
        self.in_channels = int(getattr(model, "in_channels", 1))
        self.out_channels = int(getattr(model, "out_channels", self.in_channels))
        self.hop = getattr(model, "hop", None)
        self.latency = int(getattr(model, "latency", 0))
        self.streaming = model.init_state(1) is not None
        self.chunk_invariant = (self.streaming and getattr(model, "framing", None) == "streaming"
                                and getattr(model, "normalization", None) != "per_call")
        self.name = getattr(model, "tsepn_name", type(model).__name__)

    def _tensor(self, audio: np.ndarray):
        return self.torch.from_numpy(np.ascontiguousarray(audio)).to(self.device)[None]

    def encode(self, pos: np.ndarray, neg: np.ndarray):
        with self.torch.inference_mode():
            return self.model.encode(self._tensor(pos), self._tensor(neg))

    def whole(self, mix: np.ndarray, cond) -> np.ndarray:
        with self.torch.inference_mode():
            out, _ = self.model(self._tensor(mix), cond, self.model.init_state(1) if self.streaming else None)
        return out[0].float().cpu().numpy()

    def new_stream(self, cond, chunk: Optional[int]) -> "_TorchStream":
        return _TorchStream(self, cond, chunk)


class _TorchStream:
    """Calls the model on every `chunk` samples (or on each push as given when chunk is None)."""

    def __init__(self, backend: _TorchBackend, cond, chunk: Optional[int]):
        self.b, self.cond, self.chunk = backend, cond, chunk
        self.state = backend.model.init_state(1)
        self.buffer = np.zeros((backend.in_channels, 0), dtype=np.float32)

    def _call(self, audio: np.ndarray) -> np.ndarray:
        with self.b.torch.inference_mode():
            out, self.state = self.b.model(self.b._tensor(audio), self.cond, self.state)
        return out[0].float().cpu().numpy()

    def push(self, audio: np.ndarray) -> np.ndarray:
        if self.chunk is None:
            return self._call(audio) if audio.shape[-1] else np.zeros((self.b.out_channels, 0), np.float32)
        self.buffer = np.concatenate([self.buffer, audio], axis=-1) if self.buffer.shape[-1] else audio
        whole = self.buffer.shape[-1] // self.chunk * self.chunk
        outs = [self._call(self.buffer[:, i:i + self.chunk]) for i in range(0, whole, self.chunk)]
        self.buffer = self.buffer[:, whole:]
        return np.concatenate(outs, axis=-1) if outs else np.zeros((self.b.out_channels, 0), np.float32)

    def flush(self) -> np.ndarray:
        out = self._call(self.buffer) if self.buffer.shape[-1] else np.zeros((self.b.out_channels, 0), np.float32)
        self.buffer = self.buffer[:, :0]
        return out


class _OnnxBackend:
    def __init__(self, export_dir, threads: Optional[int]):
        from tsepn.runtime import OnnxExtractor

        self.runtime = OnnxExtractor(export_dir, threads=threads)
        m = self.runtime.manifest
        self.sample_rate, self.in_channels = self.runtime.sample_rate, self.runtime.in_channels
        self.out_channels, self.hop, self.latency = self.runtime.out_channels, self.runtime.hop, self.runtime.latency
        self.streaming = True
        self.chunk_invariant = m.get("framing") == "streaming" and m.get("normalization") != "per_call"
        self.name = m.get("model", "onnx")
        self.chunk_samples = self.runtime.chunk_samples

    def encode(self, pos: np.ndarray, neg: np.ndarray):
        return self.runtime.encode(pos, neg)

    def new_stream(self, cond, chunk: Optional[int]):
        if chunk is not None and chunk != self.chunk_samples:
            raise APIError(f"the ONNX export runs chunks of {self.chunk_samples} samples "
                           f"({self.chunk_samples / self.sample_rate:g} s), not {chunk}; re-export with "
                           "tsepn-export --chunk-seconds")
        return self.runtime.stream(cond=cond)


# --------------------------------------------------------------------------- the extractor object


class Stream:
    """A live stream for one target: `push(block) -> output block`, then `flush()` once."""

    def __init__(self, owner: "TargetExtractor", inner):
        self.owner, self.inner, self.flushed = owner, inner, False
        self.layout = (False, 2)  # (torch?, ndim) of the pushed blocks: outputs come back alike

    def push(self, chunk):
        if self.flushed:
            raise APIError("this stream was flushed; start another with stream()")
        audio, was_torch, ndim = _to_numpy(chunk, "chunk")
        self.owner._check_channels(audio, "chunk")
        self.layout = (was_torch, ndim)
        return _like(self.inner.push(audio), was_torch, ndim)

    def flush(self):
        """Run whatever is buffered (a last partial chunk) and end the stream."""
        if self.flushed:
            raise APIError("this stream was already flushed")
        self.flushed = True
        return _like(self.inner.flush(), *self.layout)


class TargetExtractor:
    """What `tsepn.load` returns; see the module docstring."""

    def __init__(self, backend, chunk_seconds: Optional[float] = None, window_seconds: float = DEFAULT_WINDOW_SECONDS,
                 overlap_seconds: float = DEFAULT_OVERLAP_SECONDS, card: Optional[dict] = None):
        self.backend = backend
        self.sample_rate, self.in_channels = backend.sample_rate, backend.in_channels
        self.out_channels, self.latency, self.streaming = backend.out_channels, backend.latency, backend.streaming
        self.card = card or {}
        if isinstance(backend, _OnnxBackend):
            chunk_seconds = backend.chunk_samples / backend.sample_rate
        self.chunk_seconds = chunk_seconds
        self.chunk_samples = self._chunk(chunk_seconds)
        self.window_samples = int(round(window_seconds * self.sample_rate))
        self.overlap_samples = int(round(overlap_seconds * self.sample_rate))
        if not 0 <= self.overlap_samples < self.window_samples:
            raise APIError(f"need 0 <= overlap_seconds < window_seconds, got {overlap_seconds}, {window_seconds}")

    def __repr__(self) -> str:
        kind = "streaming" if self.streaming else "windowed"
        return (f"TargetExtractor({self.backend.name}, {type(self.backend).__name__[1:-7].lower()}, {kind}, "
                f"{self.sample_rate} Hz, {self.in_channels} ch, chunk {self.chunk_seconds} s)")

    def _chunk(self, seconds: Optional[float]) -> Optional[int]:
        if seconds is None or not self.streaming:
            return None
        if not seconds > 0:
            raise APIError(f"chunk_seconds must be > 0, got {seconds}")
        samples = max(1, int(round(seconds * self.sample_rate)))
        hop = self.backend.hop or 1
        if samples % hop:
            rounded = max(1, round(samples / hop)) * hop / self.sample_rate
            raise APIError(f"chunk_seconds={seconds} gives {samples} samples, not a multiple of the model's hop "
                           f"({hop} samples at {self.sample_rate} Hz); use e.g. {rounded:g}")
        return samples

    def _check_channels(self, audio: np.ndarray, name: str) -> None:
        if audio.shape[0] != self.in_channels:
            raise APIError(f"{name}: {audio.shape[0]} channel(s), the model takes {self.in_channels}")
        if not np.all(np.isfinite(audio)):
            raise APIError(f"{name}: holds NaN or Inf samples")

    def _enrollments(self, pos, neg) -> Tuple[np.ndarray, np.ndarray]:
        if pos is None or neg is None:
            raise APIError("give both enrollments: pos (the target talks) and neg (the target is silent)")
        pos = _audio_arg(pos, "pos", self.sample_rate)
        neg = _audio_arg(neg, "neg", self.sample_rate)
        minimum = int(math.ceil(MIN_ENROLL_SECONDS * self.sample_rate))
        for audio, name in ((pos, "positive enrollment"), (neg, "negative enrollment")):
            self._check_channels(audio, name)
            if audio.shape[-1] < minimum:
                raise APIError(f"{name}: {audio.shape[1]} samples ({audio.shape[1] / self.sample_rate:.3f} s) is too "
                               f"short; at least {minimum} samples ({minimum / self.sample_rate:.3f} s) are needed")
        return pos, neg

    # ------------------------------------------------------------------ public

    def enroll(self, recording, segments, rec_id: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
        """(pos, neg) cut from ONE recording (path or array) and a segments file (path) or a list of
        (start_s, end_s, "pos"|"neg") spans; format: tsepn.infer.read_enroll_segments."""
        from tsepn.runtime.segments import cut_spans, spans_from

        audio = _audio_arg(recording, "recording", self.sample_rate)
        self._check_channels(audio, "recording")
        return cut_spans(audio, self.sample_rate, spans_from(segments, rec_id), str(segments)
                         if isinstance(segments, (str, Path)) else "segments")

    def encode(self, pos, neg):
        """Encode the enrollments once (reuse the result with `extract(..., cond=)` / `stream(cond=)`)."""
        pos, neg = self._enrollments(pos, neg)
        return self.backend.encode(pos, neg)

    def _process(self, blocks: Iterable[np.ndarray], cond) -> Iterator[np.ndarray]:
        """Mixture blocks -> output blocks, in the model's way (streaming chunks or windows)."""
        if not self.streaming:
            yield from overlap_add_windows(blocks, lambda w: self.backend.whole(w, cond), self.window_samples,
                                           self.overlap_samples)
            return
        chunk = self.chunk_samples
        if chunk is None and self.backend.chunk_invariant:
            chunk = int(round(MAX_CALL_SECONDS * self.sample_rate)) // self.backend.hop * self.backend.hop
        stream = self.backend.new_stream(cond, chunk)
        if chunk is None and not isinstance(self.backend, _OnnxBackend):
            whole = [b for b in blocks]  # one call on everything: what the caller asked for
            if whole:
                audio = np.concatenate(whole, axis=-1) if len(whole) > 1 else whole[0]
                if audio.shape[-1] > MAX_CALL_SECONDS * self.sample_rate:
                    log.warning("one model call on %.0f s of audio: memory grows with the length; give "
                                "chunk_seconds (--chunk-seconds) to stream it", audio.shape[-1] / self.sample_rate)
                yield stream.push(audio)
            return
        yield from push_blocks(stream, blocks)

    def extract(self, mix, pos=None, neg=None, cond=None):
        """Target estimate for `mix` (numpy or torch, [T] / [C, T] / [1, C, T]; same type and layout out)."""
        audio, was_torch, ndim = _to_numpy(mix, "mix")
        self._check_channels(audio, "mixture")
        if cond is None:
            cond = self.encode(pos, neg)
        step = max(self.chunk_samples or 0, self.window_samples, 1)
        blocks = (audio[:, i:i + step] for i in range(0, audio.shape[-1], step))
        out = np.concatenate(list(self._process(blocks, cond)), axis=-1)
        return _like(out, was_torch, ndim)

    def stream(self, pos=None, neg=None, cond=None) -> Stream:
        """A live stream for one target (streaming models only)."""
        if not self.streaming:
            raise APIError(f"{self.backend.name} has no streaming state (its extractor looks at whole signals); "
                           "use extract() or extract_file(), which run it in overlapping windows")
        if cond is None:
            cond = self.encode(pos, neg)
        return Stream(self, self.backend.new_stream(cond, self.chunk_samples))

    def extract_file(self, mix_path, out_path, pos=None, neg=None, enroll=None, segments=None,
                     block_seconds: float = 10.0, progress: Optional[bool] = True, gate_db: Optional[float] = None,
                     cond=None) -> int:
        """Extract from an audio file of any length into `out_path` (float32 WAV), block by block.

        Memory does not grow with the file's length (streaming chunks or windows; with no chunk
        and a chunk-dependent model the whole file is one call, as asked). Enrollments: `pos`/`neg`
        (paths or arrays), `enroll` (one recording) + `segments`, or `cond` from `encode`.
        `gate_db`: the energy gate of tsepn.runtime.gate. Returns the number of samples written;
        on any error no output file appears.
        """
        if cond is None:
            if enroll is not None:
                pos, neg = self.enroll(enroll, segments)
            cond = self.encode(pos, neg)
        block = max(1, int(round(block_seconds * self.sample_rate)))
        if self.chunk_samples:
            block = max(1, block // self.chunk_samples) * self.chunk_samples
        total = file_frames(mix_path)
        if total <= 0:
            raise APIError(f"{mix_path}: audio has no samples")
        bar = Progress(total, desc=f"extract {Path(mix_path).name}", sample_rate=self.sample_rate,
                       enabled=bool(progress))
        gate = None
        if gate_db is not None:
            from tsepn.runtime.gate import EnergyGate

            gate = EnergyGate(gate_db, self.sample_rate)

        def checked(source):
            for b in source:
                if not np.all(np.isfinite(b)):
                    raise APIError(f"{mix_path}: audio holds NaN or Inf samples")
                bar.update(b.shape[-1])
                yield b

        blocks = checked(read_blocks(mix_path, block, channels=self.in_channels, sample_rate=self.sample_rate))
        with BlockWriter(out_path, self.sample_rate, self.out_channels) as writer:
            if gate is None:
                for out in self._process(blocks, cond):
                    writer.write(out)
            else:
                for mix_block, out in _paired(blocks, self._process, cond):
                    writer.write(gate(mix_block, out))
        bar.close()
        return writer.frames


def _paired(blocks: Iterable[np.ndarray], process, cond) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """(the input samples aligned with each output block, the output block), for an energy gate."""
    kept: List[np.ndarray] = []

    def tee(source):
        for b in source:
            kept.append(b)
            yield b

    for out in process(tee(blocks), cond):
        n = out.shape[-1]
        joined = np.concatenate(kept, axis=-1) if len(kept) > 1 else kept[0]
        yield joined[:, :n], out
        rest = joined[:, n:]
        kept[:] = [rest] if rest.shape[-1] else []


# --------------------------------------------------------------------------- load


def load(path_or_dir, arch: Optional[str] = None, device: str = "cpu", backend: str = "torch",
         chunk_seconds: Optional[float] = "default", threads: Optional[int] = None,
         window_seconds: float = DEFAULT_WINDOW_SECONDS, overlap_seconds: float = DEFAULT_OVERLAP_SECONDS
         ) -> TargetExtractor:
    """Load a model directory, a checkpoint file (tsepn or, with `arch`, the authors'), or a tsepn-export folder.

    `backend`: "torch" or "onnx" (onnxruntime + numpy; needs a directory with an ONNX export).
    `chunk_seconds`: streaming chunk; "default" = the model directory's (else None: one call).
    Nothing is downloaded: the path must exist locally.
    """
    from tsepn.modeldir import CARD_FILE, export_dir_of, read_model_dir

    path = Path(path_or_dir)
    if not path.exists():
        raise APIError(f"{path}: no such model file or directory (tsepn.load reads local paths only)")
    if backend not in ("torch", "onnx"):
        raise APIError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    info: dict = {}
    if path.is_dir():
        if (path / CARD_FILE).is_file():
            info = read_model_dir(path)
        elif backend == "torch" and (path / "manifest.json").is_file():
            backend = "onnx"  # a bare tsepn-export folder: only the runtime can run it
        elif not (path / "manifest.json").is_file():
            raise APIError(f"{path}: neither a model directory ({CARD_FILE}) nor a tsepn-export folder (manifest.json)")
    if chunk_seconds == "default":
        chunk_seconds = info.get("chunk_seconds")
    if backend == "onnx":
        export = export_dir_of(path) if path.is_dir() else None
        if export is None:
            raise APIError(f"{path}: no ONNX export here (write one with tsepn-export)")
        impl = _OnnxBackend(export, threads)
    else:
        from tsepn.models.checkpoint import load_model

        if path.is_dir():
            model = load_model(path / info["model_file"], arch=info.get("arch"))
        else:
            model = load_model(path, arch=arch)
        if threads is not None:
            import torch

            torch.set_num_threads(int(threads))
        impl = _TorchBackend(model, device)
    return TargetExtractor(impl, chunk_seconds=chunk_seconds, window_seconds=window_seconds,
                           overlap_seconds=overlap_seconds, card=info)
