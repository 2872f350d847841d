"""Optimiser and learning-rate schedule from the config.

Each trained parameter group (the model's param_groups() names, e.g. encoder /
head / main) gets its own learning rate, optim.lr.<group>; frozen groups are not
handed to the optimiser at all, so it keeps no state for them.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch

from tsepn.train.schema import OptimConf, SchedulerConf


def build_optimizer(groups: Dict[str, List[torch.nn.Parameter]], conf: OptimConf) -> torch.optim.Optimizer:
    """Adam / AdamW over the named groups, each with `conf.lr[name]`."""
    missing = [name for name, params in groups.items() if params and name not in conf.lr]
    if missing:
        raise ValueError(f"optim.lr: no learning rate for trained group(s) {', '.join(missing)}")
    param_groups = [
        {"name": name, "params": params, "lr": conf.lr[name]}
        for name, params in groups.items()
        if params
    ]
    if not param_groups:
        raise ValueError("optimizer: no trainable parameters")
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[conf.name]
    return cls(
        param_groups,
        betas=tuple(conf.betas),
        eps=conf.eps,
        weight_decay=conf.weight_decay,
        amsgrad=conf.amsgrad,
    )


class Scheduler:
    """One interface over ReduceLROnPlateau, StepLR, CosineAnnealingLR and a constant rate:
    `step(valid_loss)` per epoch. `epochs` is the run's length (the cosine's half period)."""

    def __init__(self, optimizer: torch.optim.Optimizer, conf: SchedulerConf, epochs: int = 1):
        self.name = conf.name
        self.impl: Optional[object]
        if conf.name == "plateau":
            self.impl = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=conf.factor, patience=conf.patience, min_lr=conf.min_lr
            )
        elif conf.name == "step":
            self.impl = torch.optim.lr_scheduler.StepLR(optimizer, step_size=conf.step_size, gamma=conf.gamma)
        elif conf.name == "cosine":
            self.impl = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=conf.min_lr)
        else:
            self.impl = None

    def step(self, valid_loss: float) -> None:
        if self.name == "plateau":
            self.impl.step(valid_loss)
        elif self.impl is not None:
            self.impl.step()

    def state_dict(self) -> dict:
        return self.impl.state_dict() if self.impl is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.impl is not None:
            self.impl.load_state_dict(state)


def learning_rates(optimizer: torch.optim.Optimizer) -> Dict[str, float]:
    return {group.get("name", str(i)): group["lr"] for i, group in enumerate(optimizer.param_groups)}
