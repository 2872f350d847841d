"""Adversarial refinement: a second model (a discriminator) with its own optimizer, driven by the trainer.

Config (the `adversarial:` section of a training config, tsepn.train.schema.AdversarialConf):

    adversarial:
      enabled: true
      discriminator: {name: multiscale, args: {scales: 3, channels: 16}}   # tsepn.models.discriminator
      output: wave            # the model output judged (fake)
      target: ref             # the batch field judged as real
      loss: lsgan             # lsgan | hinge
      weight: 0.01            # the generator's adversarial term in its loss
      lr: 0.0001              # the discriminator's Adam
      betas: [0.5, 0.9]
      warmup_steps: 1000      # generator steps without any adversarial part (pre-training)
      discriminator_steps: 200  # then discriminator-only steps before the generator's term starts
      gradient_penalty: 10.0  # weight of the gradient penalty on real/fake interpolates (0: off)

One training step of the trainer, once `step >= warmup_steps`: the generator's step (its
losses, plus `weight` x the adversarial term once `step >= warmup_steps +
discriminator_steps`; the discriminator's weights are detached in that term, so the
generator's backward leaves them untouched), then `discriminator_step(real, fake.detach())`,
which updates the discriminator only. Under several processes the discriminator's gradients
are averaged by an all-reduce (it is not wrapped in DistributedDataParallel).

The penalty (Gulrajani et al.'s, as the authors of GAN-refined extractors advise) is
E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates x_hat of real and fake examples.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch.func import functional_call

from tsepn.config import ConfigError
from tsepn.models.discriminator import DISCRIMINATORS

log = logging.getLogger(__name__)

LOSSES = ("lsgan", "hinge")


def _scores(out) -> List[torch.Tensor]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def generator_term(scores: List[torch.Tensor], kind: str) -> torch.Tensor:
    if kind == "lsgan":
        return sum((s.float() - 1).pow(2).mean() for s in scores) / len(scores)
    return sum(-s.float().mean() for s in scores) / len(scores)


def discriminator_term(real: List[torch.Tensor], fake: List[torch.Tensor], kind: str) -> torch.Tensor:
    if kind == "lsgan":
        terms = [(r.float() - 1).pow(2).mean() + f.float().pow(2).mean() for r, f in zip(real, fake)]
    else:
        terms = [F.relu(1 - r.float()).mean() + F.relu(1 + f.float()).mean() for r, f in zip(real, fake)]
    return sum(terms) / len(terms)


def gradient_penalty(disc: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = _scores(disc(mixed))
    grad, = torch.autograd.grad(sum(s.sum() for s in scores), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


class Adversary:
    """The discriminator, its optimizer and the schedule of the adversarial parts (see the module doc)."""

    def __init__(self, conf, device: torch.device, ctx=None):
        if conf.loss not in LOSSES:
            raise ConfigError(f"adversarial.loss: must be one of {', '.join(LOSSES)}, got {conf.loss!r}")
        for key in ("weight", "lr", "warmup_steps", "discriminator_steps", "gradient_penalty"):
            if getattr(conf, key) < 0:
                raise ConfigError(f"adversarial.{key}: must be >= 0, got {getattr(conf, key)}")
        if conf.lr <= 0:
            raise ConfigError("adversarial.lr: the discriminator's learning rate must be > 0")
        if not conf.discriminator or "name" not in conf.discriminator:
            raise ConfigError("adversarial.discriminator: give {name, args} (names: "
                              f"{', '.join(DISCRIMINATORS)})")
        unknown = set(conf.discriminator) - {"name", "args"}
        if unknown:
            raise ConfigError(f"adversarial.discriminator: unknown key(s) {', '.join(sorted(unknown))} (name, args)")
        try:
            self.disc = DISCRIMINATORS.build(conf.discriminator["name"], **dict(conf.discriminator.get("args") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"adversarial.discriminator: {err}") from None
        self.disc.to(device)
        self.conf = conf
        self.ctx = ctx
        self.optimizer = torch.optim.Adam(self.disc.parameters(), lr=conf.lr, betas=tuple(conf.betas))
        self.steps = 0  # discriminator steps taken

    # ------------------------------------------------------------------ schedule
    def discriminator_on(self, generator_step: int) -> bool:
        return generator_step >= self.conf.warmup_steps

    def generator_on(self, generator_step: int) -> bool:
        return self.conf.weight > 0 and generator_step >= self.conf.warmup_steps + self.conf.discriminator_steps

    # ------------------------------------------------------------------ the two halves
    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """The generator's adversarial term; the discriminator's weights are detached (no gradient to them)."""
        params = {name: p.detach() for name, p in self.disc.named_parameters()}
        buffers = dict(self.disc.named_buffers())
        return generator_term(_scores(functional_call(self.disc, {**params, **buffers}, (fake,))), self.conf.loss)

    def discriminator_step(self, real: torch.Tensor, fake: torch.Tensor) -> Dict[str, float]:
        """One optimizer step of the discriminator on real vs (detached) fake; nothing else changes."""
        real, fake = real.detach().float(), fake.detach().float()
        if real.shape != fake.shape:
            raise ValueError(f"adversarial: real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape "
                             "(adversarial.output / adversarial.target)")
        self.disc.train()
        loss = discriminator_term(_scores(self.disc(real)), _scores(self.disc(fake)), self.conf.loss)
        stats = {"adv_discriminator": float(loss.detach())}
        if self.conf.gradient_penalty > 0:
            gp = gradient_penalty(self.disc, real, fake)
            loss = loss + self.conf.gradient_penalty * gp
            stats["adv_gradient_penalty"] = float(gp.detach())
        if not torch.isfinite(loss):
            log.warning("adversarial: non-finite discriminator loss; discriminator step skipped")
            return stats
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._average_gradients()
        if self.conf.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.disc.parameters(), self.conf.grad_clip)
        self.optimizer.step()
        self.steps += 1
        return stats

    def _average_gradients(self) -> None:
        ctx = self.ctx
        if ctx is None or not getattr(ctx, "distributed", False):
            return
        import torch.distributed as dist

        for p in self.disc.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= ctx.world_size

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> Dict[str, Any]:
        return {"discriminator": {k: v.detach().cpu() for k, v in self.disc.state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.disc.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state["steps"])


def build_adversary(conf, device: torch.device, ctx=None) -> Optional[Adversary]:
    """The Adversary of an enabled `adversarial:` section, else None."""
    if conf is None or not conf.enabled:
        return None
    return Adversary(conf, device, ctx)
