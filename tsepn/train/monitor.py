"""What a training run shows and leaves behind: progress bar, train.log, TensorBoard, curves.png.

Only the main process (rank 0) writes; the others get a silent Monitor.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from tsepn.fileio import atomic_path
from tsepn.progress import progress

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_log_file(path) -> logging.Handler:
    """Append every log record to `path` (the experiment's train.log)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
        logging.getLogger().setLevel(logging.INFO)
    return handler


class Monitor:
    """Per-step and per-epoch reporting of a run in `exp_dir`."""

    def __init__(self, exp_dir, enabled: bool = True, tensorboard: bool = True, progress: bool = True):
        self.exp_dir = Path(exp_dir)
        self.enabled = enabled
        self.show_progress = enabled and progress
        self.writer = None
        self.handler: Optional[logging.Handler] = None
        if enabled:
            self.handler = add_log_file(self.exp_dir / "train.log")
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"))

    def progress(self, iterable: Iterable, total: int, desc: str):
        return progress(iterable, total=total, desc=desc, unit="batch", disable=not self.show_progress, leave=False)

    def step(self, step: int, loss: float, lrs: Dict[str, float]) -> None:
        if self.writer is not None:
            self.writer.add_scalar("train/step_loss", loss, step)
            for name, lr in lrs.items():
                self.writer.add_scalar(f"lr/{name}", lr, step)

    def epoch(self, record: Dict[str, Any], history: List[Dict[str, Any]]) -> None:
        """Log one epoch's figures, send them to TensorBoard, redraw curves.png."""
        if not self.enabled:
            return
        valid = " ".join(f"{k}={v:.4f}" for k, v in record["valid"].items())
        lrs = " ".join(f"{k}={v:.3g}" for k, v in record["lr"].items())
        log.info(
            "epoch %d: train_loss=%.4f valid_loss=%.4f (%s) lr %s; %d steps, %d skipped, %.1f s, %.2f examples/s",
            record["epoch"], record["train_loss"], record["valid_loss"], valid, lrs,
            record["steps"], record["skipped"], record["seconds"], record["examples_per_second"],
        )
        if self.writer is not None:
            epoch = record["epoch"]
            self.writer.add_scalar("epoch/train_loss", record["train_loss"], epoch)
            self.writer.add_scalar("epoch/valid_loss", record["valid_loss"], epoch)
            for key, value in record["valid"].items():
                self.writer.add_scalar(f"valid/{key}", value, epoch)
            for key, value in record["train"].items():
                self.writer.add_scalar(f"train/{key}", value, epoch)
            self.writer.flush()
        plot_curves(history, self.exp_dir / "curves.png")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.close()
            self.handler = None


def plot_curves(history: List[Dict[str, Any]], path) -> None:
    """Training/validation loss, extra validation figures and learning rates per epoch (PNG)."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    extra = sorted({k for r in history for k in r["valid"]} - {"loss"})
    fig, axes = plt.subplots(1, 2 + bool(extra), figsize=(5 * (2 + bool(extra)), 3.6))
    ax = axes[0]
    ax.plot(epochs, [r["train_loss"] for r in history], label="train")
    ax.plot(epochs, [r["valid_loss"] for r in history], label="valid")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    ax = axes[1]
    for name in sorted({k for r in history for k in r["lr"]}):
        ax.plot(epochs, [r["lr"].get(name, math.nan) for r in history], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.legend()
    ax.grid(alpha=0.3)
    if extra:
        ax = axes[2]
        for name in extra:
            ax.plot(epochs, [r["valid"].get(name, math.nan) for r in history], label=f"valid {name}")
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
