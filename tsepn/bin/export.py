"""tsepn-export: package a trained model as a model directory with ONNX graphs.

    tsepn-export --checkpoint exp/proposed/stage2/model.pt --out models/my-model \\
        --training-data "mini corpus, 120 examples/epoch" --scores exp/proposed/stage2/score_test_m2e2
    tsepn-export --checkpoint proposed-monaural.pt --arch proposed-monaural --out models/published \\
        --chunk-seconds 0.008
    tsepn-export --checkpoint improved-monaural.pt --arch improved-monaural --out models/improved --no-onnx

writes DIR/model.json, model.pt, config.yaml (when given or next to the checkpoint),
README.md (the model card) and DIR/onnx/{manifest.json,enroll.onnx,step.onnx}: the
enrollment graph and one streaming step of `--chunk-seconds` (see tsepn.export). A model
without a streaming step (the improved variant) cannot be exported to ONNX: the error names
the layer; `--no-onnx` packages it without graphs. `--onnx-only` writes just the graphs;
with `--format torchscript` they are TorchScript (enroll.pt, step.pt) instead of ONNX.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from tsepn.models.upstream import AUTHORS_ARCHS

log = logging.getLogger("tsepn-export")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tsepn-export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--checkpoint", required=True, help="tsepn checkpoint, or the authors' file with --arch")
    p.add_argument("--arch", choices=AUTHORS_ARCHS, default=None, help="architecture of an authors' file")
    p.add_argument("--out", required=True, help="output folder (a model directory, or the graphs with --onnx-only)")
    p.add_argument("--chunk-seconds", type=float, default=None,
                   help="streaming chunk of the step graph and the model directory's default (default 0.008 "
                        "for the graph, whole-signal calls for the PyTorch model)")
    p.add_argument("--name", default=None, help="model name for the card (default: the folder name)")
    p.add_argument("--config", default=None, help="training config to include (default: config.yaml next to "
                                                  "the checkpoint, when there)")
    p.add_argument("--training-data", default=None, help="one paragraph on the training data, for the card")
    p.add_argument("--scores", action="append", default=[], metavar="[NAME=]SUMMARY",
                   help="score_<set>/summary.json (or its folder) to show in the card; repeatable")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--no-onnx", action="store_true", help="model directory without ONNX graphs")
    group.add_argument("--onnx-only", action="store_true", help="write only the ONNX graphs + manifest into --out")
    p.add_argument("--no-check", action="store_true", help="skip running the graphs against PyTorch after export")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx",
                   help="graph format with --onnx-only: ONNX (default) or TorchScript (enroll.pt, step.pt; "
                        "run by tsepn.runtime.torchscript)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    from tsepn.export import DEFAULT_CHUNK_SECONDS, ExportError, export_model
    from tsepn.modeldir import ModelDirError, write_model_dir
    from tsepn.models.checkpoint import CheckpointError, load_model

    try:
        if args.onnx_only:
            model = load_model(args.checkpoint, arch=args.arch)
            manifest = export_model(model, args.out, chunk_seconds=args.chunk_seconds or DEFAULT_CHUNK_SECONDS,
                                    check=not args.no_check, format=args.format)
            check = manifest.get("check")
        else:
            if args.format != "onnx":
                raise ValueError("--format torchscript writes bare graphs: use it with --onnx-only")
            card = write_model_dir(args.out, args.checkpoint, arch=args.arch, name=args.name, config=args.config,
                                   training_data=args.training_data, scores=args.scores,
                                   chunk_seconds=args.chunk_seconds, onnx=not args.no_onnx,
                                   check=not args.no_check)
            check = (card.get("onnx") or {}).get("check")
    except ExportError as err:
        print(f"tsepn-export: error: {err}\n(use --no-onnx to package the model without ONNX graphs)",
              file=sys.stderr)
        return 1
    except (CheckpointError, ModelDirError, FileNotFoundError, ValueError) as err:
        print(f"tsepn-export: error: {err}", file=sys.stderr)
        return 1
    if check:
        log.info("ONNX vs PyTorch on random input: max abs difference %.3g (output peak %.3g)",
                 check["max_abs_error"], check["output_peak"])
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
