"""What each training stage trains, and where its starting weights come from.

- teacher: the `teacher` model trained end to end on clean, target-only
  enrollments (pos_clean); its encoder then provides the distillation target.
- distill (stage 1): the siamese encoder + head learn to reproduce the
  teacher's `embed_clean(pos_clean)` from the noisy (pos, neg) pair; the
  extractor is untouched. The teacher is a model file (init.teacher): the
  teacher stage's result or an imported checkpoint.
- extract (stage 2): encoder and head frozen (no gradients, eval mode), the
  extractor + fusion trained on the mixture fed in chunks, carrying the
  streaming state. Starts from the stage-1 model file (init.distilled).
Any stage may also copy parameter groups from other model files first
(init.warm_start, e.g. the teacher's encoder or extractor).

A stage is a `StageTask` module: `task(batch) -> (loss, stats)`. The whole
step (enrollment encoding and every chunk) is one forward call, so that
DistributedDataParallel sees one forward per backward.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from tsepn.losses import WeightedLoss, build_loss, si_sdr
from tsepn.train import model_io
from tsepn.train.schema import TrainConfig

log = logging.getLogger(__name__)

GROUPS = ("encoder", "head", "main")
TRAINED_GROUPS = {"teacher": ("encoder", "head", "main"), "distill": ("encoder", "head"), "extract": ("main",)}


class StageError(RuntimeError):
    """A stage that cannot start: missing or mismatched inputs; the message says what to do."""


# --------------------------------------------------------------------------- freezing
def named_groups(model: torch.nn.Module) -> Dict[str, List[Tuple[str, torch.nn.Parameter]]]:
    """model.param_groups() with parameter names; checks the groups cover every parameter once."""
    groups = model.param_groups()
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise StageError(f"{type(model).__name__}.param_groups(): unknown group(s) {sorted(unknown)}; expected {GROUPS}")
    names = {id(p): n for n, p in model.named_parameters()}
    seen: Dict[int, str] = {}
    named: Dict[str, List[Tuple[str, torch.nn.Parameter]]] = {g: [] for g in GROUPS}
    for group, params in groups.items():
        for p in params:
            if id(p) not in names:
                raise StageError(f"{type(model).__name__}.param_groups()[{group!r}]: a parameter not in the model")
            if id(p) in seen:
                raise StageError(f"{type(model).__name__}: parameter {names[id(p)]} is in groups {seen[id(p)]} and {group}")
            seen[id(p)] = group
            named[group].append((names[id(p)], p))
    missing = [n for i, n in names.items() if i not in seen]
    if missing:
        raise StageError(f"{type(model).__name__}.param_groups(): parameters in no group: {', '.join(missing[:5])}")
    return named


def freeze_for_stage(model: torch.nn.Module, stage: str, lrs) -> Dict[str, List[torch.nn.Parameter]]:
    """Set requires_grad per group; returns the trained groups (lr > 0 and trained in `stage`)."""
    trained: Dict[str, List[torch.nn.Parameter]] = {}
    for group, params in named_groups(model).items():
        train = group in TRAINED_GROUPS[stage] and getattr(lrs, group) > 0
        for _, p in params:
            p.requires_grad_(train)
        if train and params:
            trained[group] = [p for _, p in params]
    if not trained:
        wanted = ", ".join(f"optim.lr.{g}" for g in TRAINED_GROUPS[stage])
        raise StageError(f"stage {stage}: nothing to train; set a learning rate > 0 for {wanted}")
    return trained


def set_frozen_eval(model: torch.nn.Module) -> None:
    """Put every submodule whose parameters are all frozen in eval mode (dropout, norms)."""
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


# --------------------------------------------------------------------------- streaming
def detach_state(state: Any) -> Any:
    """The same (nested) state with every tensor cut from the graph."""
    if torch.is_tensor(state) or callable(getattr(state, "detach", None)):
        return state.detach()
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(detach_state(v) for v in state)
    return state


def run_chunks(model, mix: torch.Tensor, cond, chunk: Optional[int], detach: bool = False) -> torch.Tensor:
    """Feed `mix` to the model in chunks of `chunk` samples, carrying the streaming state."""
    state = model.init_state(mix.shape[0])
    if chunk is None or chunk >= mix.shape[-1]:
        out, _ = model(mix, cond, state)
        return out
    outs = []
    for piece in torch.split(mix, chunk, dim=-1):
        out, state = model(piece, cond, state)
        if detach:
            state = detach_state(state)
        outs.append(out)
    return torch.cat(outs, dim=-1)


def si_snr_improvement(out: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """Mean SI-SNRi in dB, a readable validation figure next to the loss."""
    if mix.shape != ref.shape:
        mix = mix.mean(dim=1, keepdim=True).expand_as(ref)
    return (si_sdr(out, ref) - si_sdr(mix, ref)).mean()


# --------------------------------------------------------------------------- tasks
class StageTask(torch.nn.Module):
    """One stage's forward: a batch in, the loss and a few detached figures out."""

    stage = ""

    def __init__(self, model: torch.nn.Module, loss: WeightedLoss, trained: Dict[str, List[torch.nn.Parameter]]):
        super().__init__()
        self.model = model
        self.loss = loss
        self.trained_groups = trained

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            set_frozen_eval(self.model)
        return self


class ExtractTask(StageTask):
    """Stages teacher and extract: enrollment -> condition, chunked extraction, signal loss."""

    def __init__(self, model, loss, trained, chunk: Optional[int], detach: bool, enroll_key: str = "pos"):
        super().__init__(model, loss, trained)
        self.chunk, self.detach, self.enroll_key = chunk, detach, enroll_key
        self.stage = "teacher" if enroll_key == "pos_clean" else "extract"

    def forward(self, batch: Dict[str, Any]):
        # No torch.no_grad() around encode even when the encoder is frozen: the condition
        # may include trained parts (fusion keys/values); frozen weights build no graph anyway.
        cond = self.model.encode(batch[self.enroll_key], batch["neg"])
        out = run_chunks(self.model, batch["mix"], cond, self.chunk, self.detach)
        loss, parts = self.loss(out, batch["ref"])
        stats = dict(parts)
        if not self.training:
            mix, ref = batch["mix"].float(), batch["ref"].float()
            stats["si_snri"] = si_snr_improvement(out.detach().float(), ref, mix)
            if mix.shape[0] > 1:
                # The same mixtures with the next example's enrollments: a model that uses
                # its enrollments must do worse here (the recipe's wrong-enrollment control).
                wrong = self.model.encode(batch[self.enroll_key].roll(1, 0), batch["neg"].roll(1, 0))
                out = run_chunks(self.model, batch["mix"], wrong, self.chunk)
                stats["si_snri_wrong_enroll"] = si_snr_improvement(out.float(), ref, mix)
        return loss, stats


class DistillTask(StageTask):
    """Stage 1: student.embed(pos, neg) regresses onto teacher.embed_clean(pos_clean)."""

    stage = "distill"

    def __init__(self, model, loss, trained, teacher: torch.nn.Module):
        super().__init__(model, loss, trained)
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher = teacher.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, batch: Dict[str, Any]):
        with torch.no_grad():
            target = self.teacher.embed_clean(batch["pos_clean"])
        estimate = self.model.embed(batch["pos"], batch["neg"])
        loss, parts = self.loss(estimate, target.detach())
        stats = dict(parts)
        if not self.training:
            # error energy relative to the target's: 1.0 is what an all-zero embedding scores
            stats["relative_error"] = ((estimate - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)).detach()
        return loss, stats


# --------------------------------------------------------------------------- inputs of a stage
def load_teacher(cfg: TrainConfig, student: torch.nn.Module, example: Dict[str, Any]) -> torch.nn.Module:
    """The teacher model file named by init.teacher, checked against the student's embedding."""
    path = cfg.init.teacher
    if not path:
        raise StageError(
            "stage distill needs a teacher: set init.teacher to the teacher stage's model file "
            "(exp/<teacher>/model.pt) or an imported checkpoint (with init.teacher_arch)"
        )
    if not Path(path).is_file():
        raise StageError(f"init.teacher={path}: no such file (run the teacher stage first, or fix the path)")
    try:
        teacher = model_io.load_model(path, arch=cfg.init.teacher_arch)
    except Exception as err:
        raise StageError(f"init.teacher={path}: cannot load it as a teacher model: {err}") from None
    if not hasattr(teacher, "embed_clean"):
        raise StageError(f"init.teacher={path}: {type(teacher).__name__} has no embed_clean(); not a teacher model")
    with torch.no_grad():
        teacher.eval()
        student_was_training = student.training
        student.eval()
        try:
            want = tuple(teacher.embed_clean(example["pos_clean"]).shape)
            have = tuple(student.embed(example["pos"], example["neg"]).shape)
        except Exception as err:
            raise StageError(f"init.teacher={path}: the teacher does not run on this data: {err}") from None
        finally:
            student.train(student_was_training)
    if want != have:
        raise StageError(
            f"init.teacher={path}: the teacher's embedding has shape {want} but model "
            f"{cfg.model.name!r} (model.args) embeds to {have}; the teacher must match the student encoder"
        )
    return teacher


def copy_groups(model: torch.nn.Module, path: str, groups: Sequence[str], key: str, copy_buffers: bool) -> None:
    """Copy the parameters of `groups` by name from model file `path` (config key `key`).

    With `copy_buffers`, buffers present in both with the same shape are copied too.
    """
    try:
        source = model_io.load_model(path)
    except Exception as err:
        raise StageError(f"{key}={path}: cannot load the model file: {err}") from None
    state = source.state_dict()
    named = named_groups(model)
    wanted = [(name, p) for g in groups for name, p in named[g]]
    missing = [n for n, _ in wanted if n not in state]
    mismatched = [f"{n} {tuple(state[n].shape)} vs {tuple(p.shape)}"
                  for n, p in wanted if n in state and state[n].shape != p.shape]
    if missing or mismatched:
        detail = "; ".join(filter(None, [
            f"missing {', '.join(missing[:5])}" if missing else "",
            f"shape mismatch {', '.join(mismatched[:5])}" if mismatched else "",
        ]))
        raise StageError(f"{key}={path}: does not fit the {' + '.join(groups)} of the configured model ({detail})")
    with torch.no_grad():
        for name, p in wanted:
            p.copy_(state[name])
        if copy_buffers:
            for name, buf in model.named_buffers():
                if name in state and state[name].shape == buf.shape:
                    buf.copy_(state[name])
    log.info("%s: %s (%d tensors) loaded from %s", key, " + ".join(groups), len(wanted), path)


def load_distilled(cfg: TrainConfig, model: torch.nn.Module) -> None:
    """Copy the stage-1 encoder + head weights (and matching buffers) from init.distilled."""
    path = cfg.init.distilled
    if not path:
        raise StageError(
            "stage extract needs the stage-1 (distill) result: run stage 1 first and set "
            "init.distilled to its model file (exp/<stage1>/model.pt)"
        )
    if not Path(path).is_file():
        raise StageError(f"init.distilled={path}: no such file; run stage 1 (distill) first")
    copy_groups(model, path, ("encoder", "head"), "init.distilled", copy_buffers=True)


def warm_start(cfg: TrainConfig, model: torch.nn.Module) -> None:
    """Copy the groups named in init.warm_start from their model files (in order)."""
    for i, warm in enumerate(cfg.init.warm_start):
        key = f"init.warm_start[{i}].path"
        if not Path(warm.path).is_file():
            raise StageError(f"{key}={warm.path}: no such file")
        copy_groups(model, warm.path, tuple(warm.groups), key, copy_buffers=False)


def chunk_samples(cfg: TrainConfig) -> Optional[int]:
    if cfg.train.chunk_seconds is None:
        return None
    return max(1, int(round(cfg.train.chunk_seconds * cfg.train.sample_rate)))


def build_task(cfg: TrainConfig, example: Dict[str, Any]) -> StageTask:
    """The model (built from cfg.model) with the stage's inputs loaded and groups frozen.

    `example`: one collated batch (on the CPU), for the shape checks of imported weights.
    """
    try:
        model = model_io.build_model(cfg.model.name, **cfg.model.args)
    except (KeyError, TypeError, ValueError) as err:
        raise StageError(f"model: cannot build {cfg.model.name!r} with model.args: {err}") from None
    loss = build_loss(cfg.loss)
    if cfg.stage == "extract":
        load_distilled(cfg, model)
    warm_start(cfg, model)
    trained = freeze_for_stage(model, cfg.stage, cfg.optim.lr)
    if cfg.stage == "distill":
        teacher = load_teacher(cfg, model, example)
        return DistillTask(model, loss, trained, teacher)
    chunk = chunk_samples(cfg)
    hop = getattr(model, "hop", None)
    if chunk is not None and isinstance(hop, int) and chunk % hop:
        raise StageError(
            f"train.chunk_seconds={cfg.train.chunk_seconds} at train.sample_rate={cfg.train.sample_rate} is "
            f"{chunk} samples, not a multiple of the model's hop ({hop}); a stream can only be cut at frame edges"
        )
    enroll_key = "pos_clean" if cfg.stage == "teacher" else "pos"
    return ExtractTask(model, loss, trained, chunk, cfg.train.detach_state, enroll_key)
