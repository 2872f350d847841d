"""Train one step of an experiment: the task its config describes (tsepn.train.schema).

    python -m tsepn.bin.train --config conf/systems/proposed/6_stage2.yaml --exp-dir exp/proposed/stage2 \
        [--resume] [--var data=data --var exp=exp/proposed ...] [key=value ...]

`--var name=value` fills the config's `${name}` placeholders (every string value, the
key=value overrides included); a placeholder left without a value is an error naming
the key. The recipes pass `data`, `exp` (the system's folder) and `simulate_config`.

A model without parameters (the NMF baseline) has nothing to train: its model file
(EXP_DIR/model.pt, what decoding loads) and the merged config are written as they are.

Under torchrun (several GPUs or nodes) the same command line runs in every
process. Exit status: 0 done, 1 error (message in the log), 130 interrupted
(resume with --resume).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from tsepn.allocator import retain_freed_memory
from tsepn.config import ConfigError, parse_variables
from tsepn.train.monitor import LOG_FORMAT
from tsepn.train.schema import load_train_config

log = logging.getLogger("tsepn.train")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="training YAML (tsepn.train.schema.TrainConfig)")
    parser.add_argument("--exp-dir", required=True, help="experiment folder: checkpoints, logs, model.pt")
    parser.add_argument("--resume", action="store_true",
                        help="continue from EXP_DIR/checkpoints/last.pt if it exists (else start)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="value of the config's ${NAME} placeholders (repeatable)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    return parser.parse_args(argv)


def save_untrained(cfg, exp_dir, rank: int) -> bool:
    """A model with no parameters: write EXP_DIR/{config.yaml,model.pt} (rank 0) and return True."""
    from pathlib import Path

    from tsepn.config import save_config
    from tsepn.train import model_io

    model = model_io.build_model(cfg.model.name, **cfg.model.args)
    if any(True for _ in model.parameters()):
        return False
    if rank == 0:
        exp = Path(exp_dir)
        exp.mkdir(parents=True, exist_ok=True)
        save_config(cfg, exp / "config.yaml")
        model_io.save_model(exp / "model.pt", model)
        log.info("model %s has no parameters: nothing to train; model file %s", cfg.model.name, exp / "model.pt")
    return True


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from tsepn.train.distributed import launch_rank, shutdown

    retain_freed_memory()  # every step allocates its activations again (tsepn.allocator)

    # under torchrun only rank 0 reports progress; the others speak up for warnings and errors
    logging.basicConfig(level=logging.INFO if launch_rank() == 0 else logging.WARNING, format=LOG_FORMAT)
    from tsepn.train.checkpoint import CheckpointError
    from tsepn.train.stages import StageError
    from tsepn.train.trainer import Trainer, TrainingError

    try:
        cfg = load_train_config(args.config, args.overrides, variables=parse_variables(args.var))
        if save_untrained(cfg, args.exp_dir, launch_rank()):
            return 0
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
