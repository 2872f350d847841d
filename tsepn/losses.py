"""Training losses, picked by name in YAML through the `LOSSES` registry.

Every loss takes `(estimate, reference)` tensors of the same shape and returns
one scalar to minimise: the mean over the batch (and channels) of a
per-signal value. Signals are `[..., T]`; the last axis is time.

    loss = build_loss([{"name": "snr", "weight": 10.0}])
    total, parts = loss(out, ref)      # parts = {"snr": tensor}, unweighted

The signal-ratio losses are negated ratios in dB (lower is better), the
convention of the paper's training script (negative torchmetrics SNR).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F

from tsepn.registry import Registry

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: Registry[LossFn] = Registry("loss")


def _check_shapes(estimate: torch.Tensor, reference: torch.Tensor) -> None:
    if estimate.shape != reference.shape:
        raise ValueError(f"loss: estimate shape {tuple(estimate.shape)} != reference shape {tuple(reference.shape)}")


def _eps(x: torch.Tensor) -> float:
    return torch.finfo(x.dtype).eps


def _ratio_db(signal_energy: torch.Tensor, error_energy: torch.Tensor, eps: float) -> torch.Tensor:
    # eps in numerator and denominator: silent reference and perfect estimate stay finite.
    return 10.0 * torch.log10((signal_energy + eps) / (error_energy + eps))


def _prepare(estimate: torch.Tensor, reference: torch.Tensor, zero_mean: bool):
    """Shape check, float32, optional removal of each signal's mean."""
    _check_shapes(estimate, reference)
    estimate, reference = estimate.float(), reference.float()
    if zero_mean:
        estimate = estimate - estimate.mean(dim=-1, keepdim=True)
        reference = reference - reference.mean(dim=-1, keepdim=True)
    return estimate, reference


def snr(estimate: torch.Tensor, reference: torch.Tensor, zero_mean: bool = False) -> torch.Tensor:
    """Per-signal SNR in dB of `estimate` against `reference`, shape `[...]`."""
    estimate, reference = _prepare(estimate, reference, zero_mean)
    eps = _eps(reference)
    return _ratio_db(reference.pow(2).sum(-1), (reference - estimate).pow(2).sum(-1), eps)


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, zero_mean: bool = True) -> torch.Tensor:
    """Per-signal scale-invariant SDR in dB: the reference scaled to best fit the estimate."""
    estimate, reference = _prepare(estimate, reference, zero_mean)
    eps = _eps(reference)
    scale = ((estimate * reference).sum(-1, keepdim=True) + eps) / (reference.pow(2).sum(-1, keepdim=True) + eps)
    target = scale * reference
    return _ratio_db(target.pow(2).sum(-1), (estimate - target).pow(2).sum(-1), eps)


@LOSSES.register("snr")
def make_neg_snr(zero_mean: bool = False) -> LossFn:
    """Negative SNR (the paper's stage-2 loss, weight 10)."""
    return lambda est, ref: -snr(est, ref, zero_mean=zero_mean).mean()


@LOSSES.register("si_snr")
def make_neg_si_snr() -> LossFn:
    """Negative SI-SNR: SI-SDR of zero-mean signals (torchmetrics' SI-SNR)."""
    return lambda est, ref: -si_sdr(est, ref, zero_mean=True).mean()


@LOSSES.register("si_sdr")
def make_neg_si_sdr(zero_mean: bool = True) -> LossFn:
    """Negative SI-SDR (the improved variant's loss); `zero_mean: false` is torchmetrics' default."""
    return lambda est, ref: -si_sdr(est, ref, zero_mean=zero_mean).mean()


def _averaged(estimate: torch.Tensor, reference: torch.Tensor, dims: Tuple[int, ...]):
    """Shape check, float32, both averaged over `dims` (none: as they are); for the embedding losses."""
    _check_shapes(estimate, reference)
    estimate, reference = estimate.float(), reference.float()
    if dims:
        estimate, reference = estimate.mean(dim=dims), reference.mean(dim=dims)
    return estimate, reference


@LOSSES.register("mse")
def make_mse(mean_dims: Sequence[int] = ()) -> LossFn:
    """Mean squared error over all elements (stage-1 embedding distillation).

    `mean_dims`: average both tensors over these axes first (e.g. [2], the time axis of a
    [B, C, T, F] embedding, to match only what a time-pooling fusion sees).
    """
    dims = tuple(int(d) for d in mean_dims)

    def mse(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(*_averaged(est, ref, dims))

    return mse


@LOSSES.register("speaker_nmse")
def make_speaker_nmse(mean_dims: Sequence[int] = (2,), eps: float = 1e-8) -> LossFn:
    """Distillation of what tells the examples of a batch apart, relative to its size.

    Both tensors are averaged over `mean_dims` (default: the time axis of [B, C, T, F]),
    centred on their own batch means, and the squared error is divided by the energy of
    the centred reference. 0 is a perfect match, 1 is what predicting the batch mean
    scores. Why: a teacher's embedding is mostly a component common to all speakers, so
    plain MSE is met to ~98 % by an embedding with no speaker information; this term
    weighs only the speaker-specific part. Needs batches of several examples (B >= 2).
    """
    dims = tuple(int(d) for d in mean_dims)

    def speaker_nmse(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        est, ref = _averaged(est, ref, dims)
        if est.shape[0] < 2:
            raise ValueError("loss speaker_nmse: needs a batch of at least 2 examples (it compares them)")
        est, ref = est - est.mean(dim=0), ref - ref.mean(dim=0)
        return (est - ref).pow(2).sum() / ref.pow(2).sum().clamp_min(eps)

    return speaker_nmse


class WeightedLoss:
    """A weighted sum of registered losses; also reports each unweighted term."""

    def __init__(self, terms: Sequence[Tuple[str, float, LossFn]]):
        if not terms:
            raise ValueError("loss: at least one term is needed")
        self.terms = list(terms)

    def __call__(self, estimate: torch.Tensor, reference: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        total = None
        parts: Dict[str, torch.Tensor] = {}
        for name, weight, fn in self.terms:
            value = fn(estimate, reference)
            parts[name] = value.detach()
            total = weight * value if total is None else total + weight * value
        return total, parts


def build_loss(spec: Sequence[Mapping[str, Any]], source: str = "loss") -> WeightedLoss:
    """Build from `[{"name": ..., "weight": ..., "args": {...}}, ...]`; errors name the entry."""
    terms: List[Tuple[str, float, LossFn]] = []
    for i, entry in enumerate(spec):
        where = f"{source}[{i}]"
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise ValueError(f"{where}: expected a mapping with a 'name' (one of {', '.join(LOSSES)})")
        unknown = set(entry) - {"name", "weight", "args"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: name, weight, args")
        try:
            fn = LOSSES.build(entry["name"], **dict(entry.get("args") or {}))
        except (KeyError, TypeError) as err:
            raise ValueError(f"{where}: {err}") from None
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValueError(f"{where}.weight: must be a number, got {weight!r}")
        terms.append((entry["name"], float(weight), fn))
    return WeightedLoss(terms)
