"""Adversarial training: a second model (a discriminator) with its own optimizer.

    adversarial:
      discriminator: {name: waveform, args: {scales: 3}}   # tsepn.models.DISCRIMINATORS
      output: wave          # the task output judged (fake) ...
      real: ref             # ... against this batch field (real)
      loss: lsgan           # lsgan | hinge
      weight: 1.0           # the generator's adversarial term, added to the task loss
      feature_matching: 2.0 # + this weight x L1 distance of the discriminator's features (real vs fake)
      start_step: 0         # optimizer steps before the generator's adversarial terms switch on
      lr: 2.0e-4            # the discriminator's Adam (optim: adam | adamw), betas, weight_decay, grad_clip
      gradient_penalty: 10.0  # + this weight x E[(||grad_x D(x_hat)|| - 1)^2] on real/fake interpolates (0: off)

Each training step: the task's forward gives the fake; the discriminator takes one step on
(real, fake.detach()) (one forward of both, concatenated, so that DistributedDataParallel
sees one forward per backward); then the generator's loss is the task loss plus the
adversarial terms computed through the updated, frozen discriminator. The discriminator's
weights and optimizer state are in the training checkpoints (an exact resume); the model
file (model.pt) holds the generator only. Train figures: `adv_d`, `adv_g`, `feature_matching`.
A discriminator returns `[(score, [features...]), ...]` (one pair per sub-discriminator;
see tsepn.models.discriminators).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from tsepn.config import ConfigError
from tsepn.train.distributed import DistContext, all_true, wrap_ddp
from tsepn.train.schema import AdversarialConf

Judgement = List[Tuple[torch.Tensor, List[torch.Tensor]]]


def as_judgement(out: Any) -> Judgement:
    """A discriminator's output as [(score, features)]: a bare score tensor or list of them is accepted."""
    if torch.is_tensor(out):
        return [(out, [])]
    result = []
    for item in out:
        if torch.is_tensor(item):
            result.append((item, []))
        else:
            score, features = item
            result.append((score, list(features)))
    return result


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "lsgan":
        return (real.float() - 1).pow(2).mean() + fake.float().pow(2).mean()
    return torch.relu(1 - real.float()).mean() + torch.relu(1 + fake.float()).mean()  # hinge


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "lsgan":
        return (fake.float() - 1).pow(2).mean()
    return -fake.float().mean()  # hinge


def gradient_penalty(discriminator: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al.'s penalty: E[(||grad_x sum D(x_hat)||_2 - 1)^2] over random interpolates x_hat
    of real and (detached) fake examples; every sub-discriminator's score counts (summed)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = sum(score.float().sum() for score, _ in as_judgement(discriminator(mixed)))
    grad, = torch.autograd.grad(scores, mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def build_discriminator(conf: AdversarialConf) -> torch.nn.Module:
    from tsepn.models import DISCRIMINATORS

    try:
        return DISCRIMINATORS.build(conf.discriminator.name, **conf.discriminator.args)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"adversarial.discriminator: cannot build {conf.discriminator.name!r} with its args: "
                          f"{err}") from None


class Adversary:
    """The discriminator, its optimizer, and the two losses of one training step."""

    def __init__(self, conf: AdversarialConf, device: torch.device, ctx: DistContext):
        self.conf = conf
        self.discriminator = build_discriminator(conf).to(device)
        self.params = [p for p in self.discriminator.parameters() if p.requires_grad]
        if not self.params:
            raise ConfigError(f"adversarial.discriminator: {conf.discriminator.name!r} has no trainable parameters")
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[conf.optim]
        self.optimizer = cls(self.params, lr=conf.lr, betas=tuple(conf.betas), weight_decay=conf.weight_decay)
        self.ctx = ctx
        self.net: torch.nn.Module = self.discriminator

    def wrap(self) -> None:
        """DistributedDataParallel around the discriminator (after a resume has loaded its weights)."""
        self.net = wrap_ddp(self.discriminator, self.ctx)

    def check(self, produced, batch: Mapping[str, Any]) -> None:
        """The judged output and the real field exist (a ConfigError naming the key otherwise)."""
        if self.conf.output not in produced:
            raise ConfigError(f"adversarial.output: the task produces no output {self.conf.output!r} "
                              f"(its outputs: {', '.join(sorted(produced))})")
        if self.conf.real not in batch:
            raise ConfigError(f"adversarial.real: no batch field {self.conf.real!r} in the data "
                              f"(its fields: {', '.join(sorted(batch))})")

    def active(self, step: int) -> bool:
        return step >= self.conf.start_step

    def discriminator_step(self, fake: torch.Tensor, real: torch.Tensor) -> Optional[Dict[str, float]]:
        """One optimizer step of the discriminator on (real, fake.detach()); None (on every process)
        when its loss or gradient was not finite on some process."""
        fake = fake.detach()
        if fake.shape != real.shape:
            raise ValueError(f"adversarial: output {self.conf.output} {tuple(fake.shape)} and "
                             f"{self.conf.real} {tuple(real.shape)} differ in shape")
        self.discriminator.requires_grad_(True)
        judged = as_judgement(self.net(torch.cat([real, fake])))
        n = real.shape[0]
        loss = sum(discriminator_loss(self.conf.loss, score[:n], score[n:]) for score, _ in judged) / len(judged)
        stats = {"adv_d": float(loss.detach())}
        if self.conf.gradient_penalty > 0:
            penalty = gradient_penalty(self.discriminator, real, fake)
            stats["adv_gp"] = float(penalty.detach())
            loss = loss + self.conf.gradient_penalty * penalty
        self.optimizer.zero_grad(set_to_none=True)
        if not all_true(bool(torch.isfinite(loss.detach())), self.ctx):
            return None
        loss.backward()
        max_norm = self.conf.grad_clip if self.conf.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        if not all_true(bool(torch.isfinite(norm)), self.ctx):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        return stats

    def generator_terms(self, fake: torch.Tensor, real: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """weight x adversarial loss + feature_matching x feature L1, through the frozen discriminator."""
        self.discriminator.requires_grad_(False)
        try:
            judged = as_judgement(self.discriminator(fake))
            adv = sum(generator_loss(self.conf.loss, score) for score, _ in judged) / len(judged)
            total = self.conf.weight * adv
            stats = {"adv_g": adv.detach()}
            if self.conf.feature_matching > 0:
                with torch.no_grad():
                    reference = as_judgement(self.discriminator(real))
                pairs = [(f, r) for (_, fs), (_, rs) in zip(judged, reference) for f, r in zip(fs, rs)]
                if not pairs:
                    raise ValueError(f"adversarial.feature_matching: discriminator {self.conf.discriminator.name!r} "
                                     "returns no features")
                matching = sum((f.float() - r.float()).abs().mean() for f, r in pairs) / len(pairs)
                total = total + self.conf.feature_matching * matching
                stats["feature_matching"] = matching.detach()
            return total, stats
        finally:
            self.discriminator.requires_grad_(True)

    def state_dict(self) -> Dict[str, Any]:
        return {"state_dict": {k: v.detach().cpu().clone() for k, v in self.discriminator.state_dict().items()},
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.discriminator.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
