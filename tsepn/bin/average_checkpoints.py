"""Average the model snapshots of the K best epochs of a run into one model file.

    python -m tsepn.bin.average_checkpoints --exp-dir exp/stage2 --num 5 [--out exp/stage2/model_avg5.pt]

The best epochs (lowest validation loss) are read from EXP_DIR/checkpoints/last.pt;
their snapshots are EXP_DIR/checkpoints/epoch<N>.model.pt (train.keep_best of them).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from tsepn.train.checkpoint import CheckpointError, average_model_files, best_model_paths

log = logging.getLogger("tsepn.average_checkpoints")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp-dir", required=True)
    parser.add_argument("--num", type=int, default=5, help="how many best epochs to average")
    parser.add_argument("--out", help="output model file (default EXP_DIR/model_avg<NUM>.pt)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out) if args.out else Path(args.exp_dir) / f"model_avg{args.num}.pt"
    try:
        paths = best_model_paths(args.exp_dir, args.num)
        average_model_files(paths, out)
    except (CheckpointError, ValueError) as err:
        log.error("%s", err)
        return 1
    log.info("wrote %s from %s", out, ", ".join(p.name for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
