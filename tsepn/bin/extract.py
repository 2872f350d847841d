"""tsepn-extract: extract the target speaker from one mixture file.

    tsepn-extract --checkpoint exp/x/model.pt --mix mix.wav --pos pos.wav --neg neg.wav --out out.wav
    tsepn-extract --checkpoint improved-monaural.pt --arch improved-monaural \\
        --mix mix.wav --enroll meeting.wav --enroll-segments meeting.segments --out out.wav

The enrollments come either as two files (--pos/--neg) or as one recording plus a
segments file (--enroll/--enroll-segments; format in tsepn.infer.read_enroll_segments).
All inputs must share the model's sample rate and channel count; nothing is resampled.
The output is a float32 WAV at that rate with the model's output channels, written
atomically: on any error no output file appears.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from tsepn.audio import AudioError, read_audio, write_audio
from tsepn.fileio import TableError
from tsepn.infer import Extractor, InputError, cut_enrollments
from tsepn.models.checkpoint import load_model
from tsepn.models.upstream import AUTHORS_ARCHS

log = logging.getLogger("tsepn-extract")


class ExtractError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsepn-extract",
        description="Extract the target speaker from a mixture, given positive and negative enrollments.",
        epilog="Segments file: one line per span, '<seg-id> <rec-id> <start_s> <end_s> <pos|neg>' (pos: the "
        "target talks, neg: the target is silent); all pos spans, in time order, form the positive enrollment "
        "and all neg spans the negative one. Inputs must be at the model's sample rate and channel count.",
    )
    parser.add_argument("--checkpoint", required=True, help="tsepn checkpoint, or the authors' file with --arch")
    parser.add_argument(
        "--arch",
        default=None,
        choices=AUTHORS_ARCHS,
        help="architecture of an authors' {'state_dict': ...} file (tsepn checkpoints know their model)",
    )
    parser.add_argument("--mix", required=True, help="mixture audio file")
    parser.add_argument("--pos", help="positive enrollment (the target talks)")
    parser.add_argument("--neg", help="negative enrollment (the target is silent)")
    parser.add_argument("--enroll", help="one recording holding both enrollments (with --enroll-segments)")
    parser.add_argument("--enroll-segments", help="segments file: <seg-id> <rec-id> <start_s> <end_s> <pos|neg>")
    parser.add_argument("--out", required=True, help="output WAV (float32)")
    parser.add_argument(
        "--chunk-seconds", type=float, default=None, help="run the mixture in chunks of S seconds (streaming)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
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
    try:
        run(args)
    except ExtractError as err:
        print(f"tsepn-extract: error: {err}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> None:
    """Load, read and check everything, extract, then write (nothing is written on error)."""
    _check_device(args.device)
    extractor = _load(args)
    sr = extractor.sample_rate
    try:
        mix = _read(args.mix, sr, extractor.in_channels)
        if args.enroll is not None:
            recording = _read(args.enroll, sr, extractor.in_channels)
            pos, neg = cut_enrollments(recording, sr, args.enroll_segments)
        else:
            pos = _read(args.pos, sr, extractor.in_channels)
            neg = _read(args.neg, sr, extractor.in_channels)
        out = extractor(mix, pos, neg)
    except (AudioError, TableError, InputError, FileNotFoundError) as err:
        raise ExtractError(str(err)) from None
    if not np.all(np.isfinite(out)):
        raise ExtractError("the model produced NaN or Inf samples; no output written")
    write_audio(args.out, out, sr, subtype="FLOAT")
    log.info("wrote %s (%d channel(s), %.2f s)", args.out, out.shape[0], out.shape[1] / sr)


def _check_device(name: str) -> None:
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ExtractError(f"--device {name!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ExtractError(f"--device {name!r}: no CUDA device is available")


def _load(args) -> Extractor:
    path = Path(args.checkpoint)
    if not path.is_file():
        raise ExtractError(f"{path}: checkpoint not found")
    try:
        model = load_model(path, arch=args.arch)
    except Exception as err:  # torch.load / unpickling / key mismatches raise many kinds
        detail = str(err) if str(path) in str(err) else f"{path}: {err}"
        raise ExtractError(f"cannot load checkpoint: {detail}") from None
    try:
        return Extractor(model, device=args.device, chunk_seconds=args.chunk_seconds)
    except ValueError as err:
        raise ExtractError(f"--chunk-seconds: {err}") from None


def _read(path: str, sample_rate: int, channels: int) -> np.ndarray:
    """Read audio that must already be at the model's rate and channel count."""
    audio, sr = read_audio(path)
    if sr != sample_rate:
        raise AudioError(f"{path}: sample rate {sr} Hz, but the model runs at {sample_rate} Hz (resample it first)")
    if audio.shape[0] != channels:
        kind = {1: "monaural", 2: "binaural"}.get(channels, f"{channels}-channel")
        raise AudioError(f"{path}: {audio.shape[0]} channel(s), but the model is {kind} ({channels} channel(s))")
    return audio


if __name__ == "__main__":
    sys.exit(main())
