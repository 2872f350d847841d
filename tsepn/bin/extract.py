"""tsepn-extract: extract the target speaker from one mixture file.

    tsepn-extract --checkpoint exp/x/model.pt --mix mix.wav --pos pos.wav --neg neg.wav --out out.wav
    tsepn-extract --checkpoint improved-monaural.pt --arch improved-monaural \\
        --mix mix.wav --enroll meeting.wav --enroll-segments meeting.segments --out out.wav
    tsepn-extract --backend onnx models/my-model --mix hour.wav --pos pos.wav --neg neg.wav --out out.wav

The enrollments come either as two files (--pos/--neg) or as one recording plus a
segments file (--enroll/--enroll-segments; format in tsepn.infer.read_enroll_segments).
All inputs must share the model's sample rate and channel count; nothing is resampled.
The output is a float32 WAV at that rate with the model's output channels, written
block by block under a temporary name and renamed at the end: on any error no output file
appears. The model is a checkpoint, a model directory (tsepn.modeldir) or, with
`--backend onnx`, the ONNX export of one (onnxruntime only). Long mixtures stream with flat
memory (tsepn.api); a progress bar (plain lines when stderr is not a terminal) follows them.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from tsepn.allocator import retain_freed_memory
from tsepn.audio import AudioError, audio_info, read_audio
from tsepn.fileio import TableError
from tsepn.runtime.segments import cut_enrollments

# = tsepn.models.upstream.AUTHORS_ARCHS (not imported: the models package loads torch, which
# `--backend onnx` does without; a test checks that the two agree)
AUTHORS_ARCHS = ("proposed-monaural", "proposed-binaural", "improved-monaural")

log = logging.getLogger("tsepn-extract")


class ExtractError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsepn-extract",
        description="Extract the target speaker from a mixture, given positive and negative enrollments.",
        epilog="Segments file: one line per span, '<seg-id> <rec-id> <start_s> <end_s> <pos|neg>' (pos: the "
        "target talks, neg: the target is silent); all pos spans, in time order, form the positive enrollment "
        "and all neg spans the negative one. Inputs must be at the model's sample rate and channel count. "
        "The mixture is read and the output written block by block: with --chunk-seconds (streaming models) "
        "or for models without streaming state (windows), memory does not grow with the input's length.",
    )
    parser.add_argument("model", nargs="?", default=None,
                        help="model directory, checkpoint, or tsepn-export folder (or use --checkpoint)")
    parser.add_argument("--checkpoint", default=None,
                        help="tsepn checkpoint, model directory, or the authors' file with --arch")
    parser.add_argument(
        "--arch",
        default=None,
        choices=AUTHORS_ARCHS,
        help="architecture of an authors' {'state_dict': ...} file (tsepn checkpoints know their model)",
    )
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="torch, or onnx: the ONNX graphs of a model directory / tsepn-export folder run by "
                             "onnxruntime (no torch)")
    parser.add_argument("--mix", required=True, help="mixture audio file (any length)")
    parser.add_argument("--pos", help="positive enrollment (the target talks)")
    parser.add_argument("--neg", help="negative enrollment (the target is silent)")
    parser.add_argument("--enroll", help="one recording holding both enrollments (with --enroll-segments)")
    parser.add_argument("--enroll-segments", help="segments file: <seg-id> <rec-id> <start_s> <end_s> <pos|neg>")
    parser.add_argument("--out", required=True, help="output WAV (float32)")
    parser.add_argument(
        "--chunk-seconds", type=float, default=None, help="run the mixture in chunks of S seconds (streaming)"
    )
    parser.add_argument("--window-seconds", type=float, default=None,
                        help="models without streaming state: window length of the overlap-add (default 20)")
    parser.add_argument("--overlap-seconds", type=float, default=None,
                        help="models without streaming state: overlap of consecutive windows (default 2)")
    parser.add_argument("--absent-gate", type=float, default=None, metavar="DB",
                        help="mute the output where its level falls more than DB dB below the mixture's "
                             "(target absent); see tsepn.runtime.gate")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch / onnxruntime)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar / progress lines")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.model is None) == (args.checkpoint is None):
        parser.error("give the model once: as the first argument or as --checkpoint")
    args.checkpoint = args.checkpoint or args.model
    two_files = args.pos is not None or args.neg is not None
    one_file = args.enroll is not None or args.enroll_segments is not None
    if two_files == one_file or (two_files and None in (args.pos, args.neg)) or (
        one_file and None in (args.enroll, args.enroll_segments)
    ):
        parser.error("give either --pos and --neg, or --enroll and --enroll-segments")
    if args.chunk_seconds is not None and not args.chunk_seconds > 0:
        parser.error(f"--chunk-seconds must be > 0, got {args.chunk_seconds}")
    if Path(args.out).suffix.lower() != ".wav":
        parser.error(f"--out must name a .wav file, got {args.out!r}")
    retain_freed_memory()  # a long recording's calls allocate their activations again (tsepn.allocator)
    try:
        run(args)
    except ExtractError as err:
        print(f"tsepn-extract: error: {err}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> None:
    """Load, read and check the enrollments and the mixture's header, then extract block by block
    into a temporary file renamed into place at the end (nothing is written on error)."""
    from tsepn.api import APIError

    if args.backend == "torch":
        _check_device(args.device)
    tse = _load(args)
    sr, channels = tse.sample_rate, tse.in_channels
    try:
        info = audio_info(args.mix)
        _check_format(args.mix, info.sample_rate, info.channels, sr, channels)
        if args.enroll is not None:
            recording = _read(args.enroll, sr, channels)
            pos, neg = cut_enrollments(recording, sr, args.enroll_segments)
        else:
            pos = _read(args.pos, sr, channels)
            neg = _read(args.neg, sr, channels)
        written = tse.extract_file(args.mix, args.out, pos=pos, neg=neg, progress=not args.no_progress,
                                   gate_db=args.absent_gate)
    except (AudioError, TableError, InputError, APIError, FileNotFoundError) as err:
        raise ExtractError(str(err)) from None
    except ValueError as err:
        if "non-finite output" in str(err):
            raise ExtractError("the model produced NaN or Inf samples; no output written") from None
        raise
    log.info("wrote %s (%d channel(s), %.2f s)", args.out, tse.out_channels, written / sr)


class InputError(ValueError):
    """Kept for callers that catch it (the API raises APIError)."""


def _check_device(name: str) -> None:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ExtractError(f"--device {name!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ExtractError(f"--device {name!r}: no CUDA device is available")


def _load(args):
    from tsepn.api import APIError, load

    path = Path(args.checkpoint)
    if not path.exists():
        raise ExtractError(f"{path}: checkpoint not found")
    options = {}
    if args.window_seconds is not None:
        options["window_seconds"] = args.window_seconds
    if args.overlap_seconds is not None:
        options["overlap_seconds"] = args.overlap_seconds
    chunk = args.chunk_seconds if args.chunk_seconds is not None else "default"
    try:
        return load(path, arch=args.arch, device=args.device, backend=args.backend, chunk_seconds=chunk,
                    threads=args.threads, **options)
    except APIError as err:
        message = str(err)
        if "chunk_seconds" in message:
            raise ExtractError(f"--chunk-seconds: {message}") from None
        raise ExtractError(message) from None
    except Exception as err:  # torch.load / unpickling / key mismatches raise many kinds
        detail = str(err) if str(path) in str(err) else f"{path}: {err}"
        raise ExtractError(f"cannot load checkpoint: {detail}") from None


def _check_format(path: str, rate: int, got_channels: int, sample_rate: int, channels: int) -> None:
    if rate != sample_rate:
        raise AudioError(f"{path}: sample rate {rate} Hz, but the model runs at {sample_rate} Hz (resample it first)")
    if got_channels != channels:
        kind = {1: "monaural", 2: "binaural"}.get(channels, f"{channels}-channel")
        raise AudioError(f"{path}: {got_channels} channel(s), but the model is {kind} ({channels} channel(s))")


def _read(path: str, sample_rate: int, channels: int) -> np.ndarray:
    """Read audio that must already be at the model's rate and channel count."""
    audio, sr = read_audio(path)
    _check_format(path, sr, audio.shape[0], sample_rate, channels)
    return audio


if __name__ == "__main__":
    sys.exit(main())
