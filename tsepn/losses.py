"""Training losses, picked by name in YAML through the `LOSSES` registry.

Every loss takes `(estimate, reference)` tensors and returns one scalar to
minimise: the mean over the batch (and channels) of a per-example value.
Signals are `[..., T]`; the last axis is time. `cross_entropy` takes logits
[B, K] and int64 class indices [B].

    loss = build_loss([{"name": "snr", "weight": 10.0}])
    total, parts = loss(out, ref)      # parts = {"snr": tensor}, unweighted
    loss = build_loss([{"name": "si_sdr"}, {"name": "cross_entropy", "weight": 0.5,
                        "output": "speaker_logits", "target": "spk"}])
    total, parts = loss.evaluate(outputs, batch)   # each term on its named output and target

The signal-ratio losses are negated ratios in dB (lower is better), the
convention of the paper's training script (negative torchmetrics SNR).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Sequence, Tuple

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


@LOSSES.register("cross_entropy")
def make_cross_entropy(ignore_index: int = -1, label_smoothing: float = 0.0) -> LossFn:
    """Classification: logits [B, K] (or [B, K, ...]) against int64 class indices [B] (or [B, ...]).

    Examples whose target is `ignore_index` (-1: not a training speaker) do not count; a
    batch with none left scores 0 (with a gradient of 0).
    """

    def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.dim() < 2 or target.shape != logits.shape[:1] + logits.shape[2:]:
            raise ValueError(f"loss cross_entropy: logits [B, K, ...] and targets [B, ...] expected, got shapes "
                             f"{tuple(logits.shape)} and {tuple(target.shape)}")
        if target.is_floating_point():
            raise ValueError(f"loss cross_entropy: targets must be integer class indices, got {target.dtype}")
        target = target.long()
        if not bool((target != ignore_index).any()):
            return logits.float().sum() * 0.0
        return F.cross_entropy(logits.float(), target, ignore_index=ignore_index, label_smoothing=label_smoothing)

    return cross_entropy


@LOSSES.register("l1")
def make_l1(mask_zero_target: bool = False) -> LossFn:
    """Mean absolute error. `mask_zero_target`: only where the target is > 0 (pitch in Hz,
    0 = unvoiced); none such scores 0."""

    def l1(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        _check_shapes(est, ref)
        error = (est.float() - ref.float()).abs()
        if not mask_zero_target:
            return error.mean()
        mask = ref > 0
        if not bool(mask.any()):
            return error.sum() * 0.0
        return error[mask].mean()

    return l1


@LOSSES.register("embedding_consistency")
def make_embedding_consistency(dim: int = 1, eps: float = 1e-8) -> LossFn:
    """1 - cosine similarity of two embeddings along `dim` (the feature axis of [B, D, ...]),
    averaged over everything else: 0 for parallel embeddings, 1 for orthogonal, 2 for opposite."""

    def embedding_consistency(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        _check_shapes(est, ref)
        return (1.0 - F.cosine_similarity(est.float(), ref.float(), dim=dim, eps=eps)).mean()

    return embedding_consistency


@LOSSES.register("pitch_miss_rate")
def make_pitch_miss_rate(tolerance_cents: float = 50.0) -> LossFn:
    """1 - the pitch precision rate of f0 tracks [B, frames] (Hz, 0 = unvoiced): the share of the
    target's voiced frames (pooled over the batch) where the estimate is unvoiced or off by more
    than `tolerance_cents`. A figure to report (weight 0): not differentiable, no gradient.
    (tsepn.data.pitch.precision_rate is the same measure on numpy arrays.)"""

    def pitch_miss_rate(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        _check_shapes(est, ref)
        est, ref = est.detach().float(), ref.detach().float()
        voiced = ref > 0
        if not bool(voiced.any()):
            return est.sum() * 0.0
        off = 1200.0 * torch.log2(est.clamp_min(1e-6) / ref.clamp_min(1e-6)).abs()
        hit = voiced & (est > 0) & (off <= tolerance_cents)
        return 1.0 - hit[voiced].float().mean()

    return pitch_miss_rate


class LossTerm(NamedTuple):
    """One weighted loss on a model output (`output`) against a batch field or another output (`target`)."""

    name: str
    weight: float
    fn: LossFn
    output: str = "wave"
    target: str = "ref"
    label: str = ""  # the name its value is reported under (the loss name; made unique)


class WeightedLoss:
    """A weighted sum of registered losses; also reports each unweighted term.

    `loss(estimate, reference)` applies every term to one pair of tensors;
    `loss.evaluate(outputs, fields)` gives each term its own output and target by name.
    """

    def __init__(self, terms: Sequence[LossTerm]):
        if not terms:
            raise ValueError("loss: at least one term is needed")
        self.terms = list(terms)

    def _sum(self, pairs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        total = None
        parts: Dict[str, torch.Tensor] = {}
        for term, (estimate, reference) in zip(self.terms, pairs):
            value = term.fn(estimate, reference)
            parts[term.label or term.name] = value.detach()
            total = term.weight * value if total is None else total + term.weight * value
        return total, parts

    def __call__(self, estimate: torch.Tensor, reference: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        return self._sum([(estimate, reference)] * len(self.terms))

    def evaluate(self, outputs: Mapping[str, torch.Tensor],
                 fields: Mapping[str, Any]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Each term on outputs[term.output] against fields[term.target] (else outputs[term.target])."""
        return self._sum([(outputs[t.output], fields[t.target] if t.target in fields else outputs[t.target])
                          for t in self.terms])


LOSS_KEYS = ("name", "weight", "args", "output", "target")


def build_loss(spec: Sequence[Mapping[str, Any]], source: str = "loss") -> WeightedLoss:
    """Build from `[{"name", "weight", "args", "output", "target"}, ...]`; errors name the entry.

    `output` (default "wave") names a model output, `target` (default "ref") a batch field or
    another model output. Terms are reported under their loss name (`name_<output>` for a
    second term of the same name).
    """
    terms: List[LossTerm] = []
    labels = set()
    for i, entry in enumerate(spec):
        where = f"{source}[{i}]"
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise ValueError(f"{where}: expected a mapping with a 'name' (one of {', '.join(LOSSES)})")
        unknown = set(entry) - set(LOSS_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(LOSS_KEYS)}")
        try:
            fn = LOSSES.build(entry["name"], **dict(entry.get("args") or {}))
        except (KeyError, TypeError) as err:
            raise ValueError(f"{where}: {err}") from None
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValueError(f"{where}.weight: must be a number, got {weight!r}")
        names = {}
        for key, default in (("output", "wave"), ("target", "ref")):
            value = entry.get(key)
            value = default if value is None else value
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}.{key}: must be a name, got {value!r}")
            names[key] = value
        label = entry["name"]
        if label in labels:
            label = f"{label}_{names['output']}"
        n = 2
        while label in labels:
            label, n = f"{entry['name']}_{names['output']}{n}", n + 1
        labels.add(label)
        terms.append(LossTerm(entry["name"], float(weight), fn, names["output"], names["target"], label))
    return WeightedLoss(terms)
