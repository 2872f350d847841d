"""Train one step of an experiment: the task its config describes (tsepn.train.schema).

    python -m tsepn.bin.train --config conf/systems/proposed/6_stage2.yaml --exp-dir exp/proposed/stage2 \
        [--resume] [key=value ...]

Under torchrun (several GPUs or nodes) the same command line runs in every
process. Exit status: 0 done, 1 error (message in the log), 130 interrupted
(resume with --resume).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from tsepn.config import ConfigError
from tsepn.train.monitor import LOG_FORMAT
from tsepn.train.schema import load_train_config

log = logging.getLogger("tsepn.train")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="training YAML (tsepn.train.schema.TrainConfig)")
    parser.add_argument("--exp-dir", required=True, help="experiment folder: checkpoints, logs, model.pt")
    parser.add_argument("--resume", action="store_true",
                        help="continue from EXP_DIR/checkpoints/last.pt if it exists (else start)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from tsepn.train.distributed import launch_rank, shutdown

    # under torchrun only rank 0 reports progress; the others speak up for warnings and errors
    logging.basicConfig(level=logging.INFO if launch_rank() == 0 else logging.WARNING, format=LOG_FORMAT)
    from tsepn.train.checkpoint import CheckpointError
    from tsepn.train.stages import StageError
    from tsepn.train.trainer import Trainer, TrainingError

    try:
        cfg = load_train_config(args.config, args.overrides)
        trainer = Trainer(cfg, args.exp_dir, resume=args.resume)
        best = trainer.run()
        log.info("done: best validation loss %.4f at epoch %d; model file %s/model.pt",
                 best["loss"], best["epoch"], args.exp_dir)
        return 0
    except (ConfigError, StageError, TrainingError, CheckpointError, ValueError) as err:
        log.error("%s", err)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        shutdown()


if __name__ == "__main__":
    sys.exit(main())
