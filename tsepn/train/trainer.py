"""The training loop: epochs of steps, validation, schedule, checkpoints, faults.

    trainer = Trainer(cfg, "exp/stage2", resume=True)
    trainer.run()

exp_dir layout (written by rank 0 only):
    config.yaml                the merged config that ran
    train.log, curves.png, tensorboard/
    checkpoints/last.pt        full training state after the last complete epoch
    checkpoints/best.pt        ... after the epoch with the lowest validation loss
    checkpoints/epoch<N>.pt    ... every train.save_every epochs
    checkpoints/epoch<N>.model.pt   model files of the train.keep_best best epochs
    model.pt                   model file (tsepn.models.checkpoint) of the best epoch

Faults: a non-finite loss or gradient, or an out-of-memory error, skips the
step with a warning; train.max_bad_steps in a row stop the run. Ctrl-C and
SIGTERM stop it without writing anything, so a resume starts again at the
last complete epoch. Non-finite weights are never saved.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from tsepn.config import save_config, to_dict
from tsepn.train import checkpoint as ckpt
from tsepn.train.data import build_dataset, collate, make_loader
from tsepn.train.distributed import (DistContext, Precision, all_sum, all_true, barrier, broadcast_object,
                                     init_distributed, wrap_ddp)
from tsepn.train import model_io
from tsepn.train.adversarial import Adversary
from tsepn.train.monitor import Monitor
from tsepn.train.optim import Scheduler, build_optimizer, learning_rates
from tsepn.train.schema import TrainConfig
from tsepn.train.stages import build_task

log = logging.getLogger(__name__)


# training checkpoints written before task configs name a stage; its task kind
LEGACY_STAGES = {"teacher": "extract", "distill": "distill", "extract": "extract"}


class TrainingError(RuntimeError):
    """Training cannot go on (too many bad steps, diverged weights, unusable exp dir)."""


def is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def move_to(batch: Dict[str, Any], device: torch.device) -> Dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt, so both stop the run the same clean way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Trainer:
    """Runs one training task of one experiment, from scratch or from exp_dir's last checkpoint."""

    def __init__(self, cfg: TrainConfig, exp_dir, resume: bool = False, ctx: Optional[DistContext] = None):
        self.cfg = cfg
        self.exp_dir = Path(exp_dir)
        self.ctx = ctx or init_distributed(cfg.train.device)
        self.device = self.ctx.device
        if cfg.train.threads and self.device.type == "cpu":
            torch.set_num_threads(cfg.train.threads)
        self.last_path = self.exp_dir / "checkpoints" / "last.pt"
        resuming = resume and self.last_path.is_file()
        if self.last_path.is_file() and not resume:
            raise TrainingError(
                f"{self.exp_dir}: already holds a training run ({self.last_path}); "
                "pass --resume to continue it or choose another --exp-dir"
            )

        torch.manual_seed(cfg.seed)
        self.train_set = build_dataset(cfg.data.train, "data.train")
        self.valid_set = build_dataset(cfg.data.valid, "data.valid")
        if len(self.valid_set) == 0:
            raise TrainingError("data.valid: the validation set is empty")
        example = collate([self.valid_set[0]])
        self.task = build_task(cfg, example).to(self.device)
        self.model = self.task.model
        self.optimizer = build_optimizer(self.task.trained_groups, cfg.optim)
        self.scheduler = Scheduler(self.optimizer, cfg.scheduler, cfg.train.epochs)
        self.precision = Precision(cfg.train.precision, self.device)
        self.trained_params = [p for params in self.task.trained_groups.values() for p in params]
        self.adversary: Optional[Adversary] = None
        if cfg.adversarial is not None:
            self.adversary = Adversary(cfg.adversarial, self.device, self.ctx)
            self.adversary.check(self.task.output_names(move_to(example, self.device)), example)
            self.task.keep_outputs = True
        # different dropout / augmentation draws per process, the same model init everywhere
        torch.manual_seed(cfg.seed + self.ctx.rank)

        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps taken
        self.best = {"loss": math.inf, "epoch": 0}
        self.top: List[List[float]] = []
        self.history: List[Dict[str, Any]] = []
        self.bad_steps = 0
        self.train_fields_checked = False
        if resuming:
            self._resume()
        self.net = wrap_ddp(self.task, self.ctx)
        if self.adversary is not None:
            self.adversary.wrap()
        self.monitor = Monitor(self.exp_dir, enabled=self.ctx.is_main, tensorboard=cfg.train.tensorboard,
                               progress=cfg.train.progress)
        if self.ctx.is_main:
            self._save_config(resuming)
        n_trained = sum(p.numel() for p in self.trained_params)
        n_total = sum(p.numel() for p in self.model.parameters())
        log.info("task %s, model %s: %d parameters, %d trained (%s); device %s, %d process(es)",
                 cfg.task.kind, cfg.model.name, n_total, n_trained, ", ".join(self.task.trained_groups),
                 self.device, self.ctx.world_size)

    # ------------------------------------------------------------------ set-up helpers
    def _save_config(self, resuming: bool) -> None:
        path = self.exp_dir / "config.yaml"
        if resuming and path.is_file():
            from tsepn.config import load_yaml

            old, new = load_yaml(path), to_dict(self.cfg)
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if changed:
                log.warning("resuming with a changed config (top-level sections: %s)", ", ".join(changed))
        save_config(self.cfg, path)

    def _resume(self) -> None:
        state = ckpt.load_checkpoint(self.last_path)
        if state["model"] != self.cfg.model.name or state["model_args"] != self.cfg.model.args:
            raise TrainingError(
                f"{self.last_path}: was trained with model {state['model']!r} {state['model_args']}, "
                f"the config asks for {self.cfg.model.name!r} {self.cfg.model.args}; use another --exp-dir"
            )
        was = state.get("task") or {}
        if not was and state.get("stage") in LEGACY_STAGES:  # written before task configs: the kind only
            was = {"kind": LEGACY_STAGES[state["stage"]], "train": list(self.cfg.task.train)}
        if (was.get("kind"), was.get("train")) != (self.cfg.task.kind, list(self.cfg.task.train)):
            raise TrainingError(f"{self.last_path}: is a {was.get('kind')!r} run training {was.get('train')}, the "
                                f"config asks for task.kind {self.cfg.task.kind!r} training {self.cfg.task.train}; "
                                "use another --exp-dir")
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.precision.load_state_dict(state.get("scaler", {}))
        if self.adversary is not None:
            if "adversarial" not in state:
                raise TrainingError(f"{self.last_path}: was trained without the adversarial section the config has; "
                                    "use another --exp-dir")
            self.adversary.load_state_dict(state["adversarial"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best, self.top, self.history = dict(state["best"]), list(state["top"]), list(state["history"])
        ckpt.set_rng_state(state["rng"])
        log.info("resumed from %s: %d epochs done, %d steps", self.last_path, self.epoch, self.step)

    # ------------------------------------------------------------------ the loop
    def run(self) -> Dict[str, Any]:
        """Train until cfg.train.epochs; returns the best {"loss", "epoch"}."""
        try:
            with sigterm_as_interrupt():
                if self.epoch >= self.cfg.train.epochs:
                    log.info("nothing to do: %d of %d epochs already done", self.epoch, self.cfg.train.epochs)
                while self.epoch < self.cfg.train.epochs:
                    self._run_epoch(self.epoch + 1)
        except KeyboardInterrupt:
            log.warning("interrupted during epoch %d; %s holds the last complete epoch (%d); "
                        "rerun with --resume to continue", self.epoch + 1, self.last_path, self.epoch)
            raise
        except RuntimeError as err:
            if "DataLoader worker" not in str(err):
                raise
            # a signal to the whole process group (or the OOM killer) reached a worker first
            raise TrainingError(f"a data loader worker died during epoch {self.epoch + 1} ({err}); "
                                f"{self.last_path} holds the last complete epoch ({self.epoch}); "
                                "rerun with --resume to continue") from None
        finally:
            self.monitor.close()
        return dict(self.best)

    def _run_epoch(self, epoch: int) -> None:
        start = time.monotonic()
        train_stats, steps, skipped, examples = self.train_epoch(epoch)
        valid_stats = self.validate()
        valid_loss = valid_stats.pop("loss")
        self.scheduler.step(valid_loss)
        seconds = time.monotonic() - start
        train_loss = train_stats.pop("loss", math.nan)
        record = {
            "epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss,
            "train": train_stats, "valid": valid_stats, "lr": learning_rates(self.optimizer),
            "steps": steps, "skipped": skipped, "seconds": seconds,
            "examples_per_second": examples / max(seconds, 1e-9),
        }
        self.history.append(record)
        self.epoch = epoch
        self._save(epoch, valid_loss)
        self.monitor.epoch(record, self.history)

    def train_epoch(self, epoch: int):
        """One epoch of optimizer steps; returns (mean figures, steps, skipped, examples)."""
        self.net.train()
        loader = make_loader(self.train_set, self.cfg.data, train=True, epoch=epoch, seed=self.cfg.seed,
                             rank=self.ctx.rank, world_size=self.ctx.world_size)
        totals: Dict[str, float] = {}
        counts: Dict[str, int] = {}  # figures some steps lack (adversarial terms before start_step)
        steps = skipped = examples = 0
        bar = self.monitor.progress(loader, len(loader), f"epoch {epoch}")
        start = time.monotonic()
        for batch in bar:
            if not self.train_fields_checked:  # the training data's fields, before the first step
                self.task.check_batch(batch, "data.train", outputs=False)
                self.train_fields_checked = True
            batch_size = batch["mix"].shape[0]
            stats = self.train_step(move_to(batch, self.device))
            examples += batch_size * self.ctx.world_size
            if stats is None:
                skipped += 1
                continue
            steps += 1
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
            rate = examples / max(time.monotonic() - start, 1e-9)
            bar.set_postfix(loss=f"{totals['loss'] / steps:.3f}", ex_per_s=f"{rate:.2f}")
        return {k: v / counts[k] for k, v in totals.items()}, steps, skipped, examples

    def train_step(self, batch: Dict[str, Any]) -> Optional[Dict[str, float]]:
        """Forward, backward, clip, step; None when the step was skipped."""
        reason = ""
        loss = stats = None
        try:
            with self.precision.autocast():
                loss, stats = self.net(batch)
            ok = bool(torch.isfinite(loss.detach()).all())
            if not ok:
                reason = f"non-finite loss ({loss.item()})"
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            ok, reason = False, f"out of memory ({str(err).splitlines()[0][:120]})"
        if not all_true(ok, self.ctx):
            loss = stats = None
            return self._skip(reason or "a step skipped on another process")
        figures: Dict[str, float] = {}
        if self.adversary is not None:
            outputs, fields = self.task.take_outputs()
            fake, real = outputs[self.adversary.conf.output], fields[self.adversary.conf.real]
            del outputs, fields
            with self.precision.autocast():
                judged = self.adversary.discriminator_step(fake, real)
            if judged is None:
                log.warning("discriminator step skipped: non-finite loss or gradient")
            else:
                figures.update(judged)
            if self.adversary.active(self.step):
                with self.precision.autocast():
                    extra, adv_stats = self.adversary.generator_terms(fake, real)
                loss = loss + extra
                stats = {**stats, **adv_stats}
                if not all_true(bool(torch.isfinite(loss.detach())), self.ctx):
                    loss = stats = fake = None
                    return self._skip("non-finite adversarial loss")
            fake = real = None

        self.optimizer.zero_grad(set_to_none=True)
        try:
            self.precision.backward(loss)
            reason = ""
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            reason = f"out of memory in backward ({str(err).splitlines()[0][:120]})"
        if reason:
            loss = stats = None
            return self._skip(reason)
        self.precision.unscale(self.optimizer)
        max_norm = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.trained_params, max_norm)
        if not bool(torch.isfinite(norm)) and self.precision.scaler is None:
            loss = stats = None
            return self._skip(f"non-finite gradient norm ({norm.item()})")
        self.precision.step(self.optimizer)
        self.step += 1
        self.bad_steps = 0
        figures = {"loss": float(loss.detach()), "grad_norm": float(norm), **figures}
        figures.update({k: float(v) for k, v in stats.items()})
        self.monitor.step(self.step, figures["loss"], learning_rates(self.optimizer))
        return figures

    def _skip(self, reason: str) -> None:
        """Drop this step's gradients (the caller dropped its graph); stop after max_bad_steps in a row."""
        self.optimizer.zero_grad(set_to_none=True)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.bad_steps += 1
        log.warning("step skipped (%d in a row): %s", self.bad_steps, reason)
        if self.bad_steps >= self.cfg.train.max_bad_steps:
            raise TrainingError(
                f"{self.bad_steps} steps in a row skipped (last: {reason}); stopping. "
                f"{self.last_path} holds the last complete epoch ({self.epoch}). Try a lower learning rate "
                "(optim.lr.<group>), gradient clipping (optim.grad_clip), fp32, or a smaller batch."
            )
        return None

    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        """Mean validation figures over the (sharded) validation set; "loss" included."""
        self.net.eval()
        loader = make_loader(self.valid_set, self.cfg.data, train=False, epoch=0, seed=self.cfg.seed,
                             rank=self.ctx.rank, world_size=self.ctx.world_size)
        sums: Dict[str, float] = {}
        counts: Dict[str, float] = {}
        for batch in self.monitor.progress(loader, len(loader), "valid"):
            batch = move_to(batch, self.device)
            n = batch["mix"].shape[0]
            with self.precision.autocast():
                loss, stats = self.task(batch)
            for key, value in {"loss": loss, **stats}.items():
                sums[key] = sums.get(key, 0.0) + float(value) * n
                counts[key] = counts.get(key, 0.0) + n
        # every process reduces the same figures: rank 0's names
        names = broadcast_object(sorted(sums) or ["loss"], self.ctx)
        local = torch.tensor([sums.get(k, 0.0) for k in names] + [counts.get(k, 0.0) for k in names],
                             dtype=torch.float64)
        totals = all_sum(local, self.ctx).cpu()
        if float(totals[len(names) + names.index("loss")]) == 0:
            raise TrainingError("data.valid: no validation examples")
        means = {k: float(totals[i] / totals[len(names) + i]) for i, k in enumerate(names)
                 if float(totals[len(names) + i]) > 0}
        if not math.isfinite(means["loss"]):
            log.warning("validation loss is not finite (%s)", means["loss"])
        return means

    # ------------------------------------------------------------------ saving
    def _checkpoint(self) -> Dict[str, Any]:
        return {
            "format": ckpt.FORMAT,
            "task": {"kind": self.cfg.task.kind, "train": list(self.cfg.task.train)},
            "model": self.cfg.model.name,
            "model_args": dict(self.cfg.model.args),
            "state_dict": ckpt.cpu_state_dict(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.precision.state_dict(),
            "rng": ckpt.rng_state(),
            "epoch": self.epoch,
            "step": self.step,
            "best": dict(self.best),
            "top": [list(t) for t in self.top],
            "history": list(self.history),
            **({"adversarial": self.adversary.state_dict()} if self.adversary is not None else {}),
        }

    def _save(self, epoch: int, valid_loss: float) -> None:
        """Checkpoints of a complete epoch; model files of the best ones. Rank 0 writes."""
        bad = ckpt.non_finite_parameters(self.model)
        if self.adversary is not None:
            bad += [f"discriminator {n}" for n in ckpt.non_finite_parameters(self.adversary.discriminator)]
        if bad:
            raise TrainingError(
                f"epoch {epoch}: the weights became non-finite ({', '.join(bad[:3])}...); nothing saved, "
                f"{self.last_path} still holds epoch {epoch - 1}"
            )
        improved = math.isfinite(valid_loss) and valid_loss < self.best["loss"]
        if improved:
            self.best = {"loss": valid_loss, "epoch": epoch}
        dropped: List[int] = []
        if self.cfg.train.keep_best > 0 and math.isfinite(valid_loss):
            self.top, dropped = ckpt.update_top(self.top, epoch, valid_loss, self.cfg.train.keep_best)
        if self.ctx.is_main:
            state = self._checkpoint()
            folder = self.exp_dir / "checkpoints"
            if any(int(e) == epoch for _, e in self.top):
                model_io.save_model(ckpt.snapshot_path(self.exp_dir, epoch), self.model)
            if improved:
                ckpt.save_checkpoint(folder / "best.pt", state)
                model_io.save_model(self.exp_dir / "model.pt", self.model)
            if epoch % self.cfg.train.save_every == 0:
                ckpt.save_checkpoint(folder / f"epoch{epoch}.pt", state)
            ckpt.save_checkpoint(self.last_path, state)  # last: everything it names exists
            for old in dropped:
                ckpt.snapshot_path(self.exp_dir, old).unlink(missing_ok=True)
        barrier(self.ctx)
