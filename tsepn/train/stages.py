"""Training tasks: what a config trains, on which inputs, from which weights, with which losses.

A task config (tsepn.train.schema.TaskConf) says
- `kind`: `extract` (the model's signal output from the mixture: an end-to-end system, the
  teacher, stage 2) or `distill` (stage 1: the student's `embed(pos, neg)` learns a teacher's
  `embed_clean(batch[teacher.input])`, the teacher a model file);
- `inputs`: model input (`mix`, `pos`, `neg`; see model.inputs) -> batch field
  (`pos_clean`, `enroll_clean`, ...);
- `train`: the parameter groups trained (model.param_groups() names); the others are
  frozen (no gradients, eval mode);
and `init.warm_start` copies groups (optionally with buffers) from model files first.
Losses score named model outputs against batch fields or other outputs: an extract task's
outputs are `model.train_outputs(inputs)` when the model has it, else `{"wave": out}` from
`encode` and the mixture fed in `train.chunk_seconds` chunks carrying the state; a distill
task's are `{"embedding", "teacher_embedding"}`.

The paper's three stages are three such configs (teacher: extract, pos <- pos_clean, every
group; stage 1: distill, encoder + head; stage 2: extract, main, warm start of encoder +
head with buffers from stage 1).

Everything the model and the data decide is checked before training, each a ConfigError
naming the key: inputs the model does not take or lacks, batch fields the data does not
have, groups the model does not have, loss outputs the model does not produce.

A task is a module: `task(batch) -> (loss, stats)`. The whole step (enrollment encoding and
every chunk) is one forward call, so that DistributedDataParallel sees one forward per backward.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import torch

from tsepn.config import ConfigError
from tsepn.losses import WeightedLoss, build_loss, si_sdr
from tsepn.models.base import MODEL_INPUTS
from tsepn.train import model_io
from tsepn.train.schema import TrainConfig, loss_spec

log = logging.getLogger(__name__)


class StageError(RuntimeError):
    """A task that cannot start: missing or mismatched model files; the message says what to do."""


def _listing(names) -> str:
    return ", ".join(map(str, names)) or "(none)"


# --------------------------------------------------------------------------- groups and freezing
def named_groups(model: torch.nn.Module) -> Dict[str, List[Tuple[str, torch.nn.Parameter]]]:
    """model.param_groups() with parameter names; checks the groups cover every parameter once."""
    groups = model.param_groups()
    names = {id(p): n for n, p in model.named_parameters()}
    seen: Dict[int, str] = {}
    named: Dict[str, List[Tuple[str, torch.nn.Parameter]]] = {}
    for group, params in groups.items():
        named[group] = []
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


def check_groups(cfg: TrainConfig, model: torch.nn.Module) -> None:
    """task.train, optim.lr and init.warm_start name groups the model has."""
    groups = list(model.param_groups())
    what = f"model {cfg.model.name!r} has parameter groups {_listing(groups)}"
    for group in cfg.task.train:
        if group not in groups:
            raise ConfigError(f"task.train: no group {group!r}; {what}")
    for group in cfg.optim.lr:
        if group not in groups:
            raise ConfigError(f"optim.lr.{group}: no such group; {what}")
    for i, warm in enumerate(cfg.init.warm_start):
        bad = [g for g in warm.groups if g not in groups]
        if bad:
            raise ConfigError(f"init.warm_start[{i}].groups: no group {_listing(bad)}; {what}")
    idle = [g for g, lr in cfg.optim.lr.items() if lr > 0 and g not in cfg.task.train]
    if idle:
        log.warning("optim.lr gives %s a learning rate but task.train does not train it (frozen)", _listing(idle))


def freeze(model: torch.nn.Module, train: Sequence[str]) -> Dict[str, List[torch.nn.Parameter]]:
    """requires_grad on the groups of `train` only; returns them (model order, empty ones left out)."""
    trained: Dict[str, List[torch.nn.Parameter]] = {}
    for group, params in named_groups(model).items():
        on = group in train
        for _, p in params:
            p.requires_grad_(on)
        if on and params:
            trained[group] = [p for _, p in params]
    if not trained:
        raise ConfigError(f"task.train: groups {_listing(train)} hold no parameters; nothing to train")
    return trained


def set_frozen_eval(model: torch.nn.Module) -> None:
    """Put every submodule whose parameters are all frozen in eval mode (dropout, norms)."""
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


# --------------------------------------------------------------------------- inputs
def model_input_names(model: torch.nn.Module) -> Tuple[str, ...]:
    return tuple(getattr(model, "inputs", MODEL_INPUTS))


def resolve_inputs(cfg: TrainConfig, model: torch.nn.Module) -> Dict[str, str]:
    """task.inputs checked against model.inputs (null: each input from the field of its name)."""
    takes = model_input_names(model)
    mapping = dict(cfg.task.inputs) if cfg.task.inputs is not None else {name: name for name in takes}
    for name in mapping:
        if name not in takes:
            raise ConfigError(f"task.inputs.{name}: model {cfg.model.name!r} does not take input {name!r} "
                              f"(it takes {_listing(takes)})")
    needed = [n for n in takes if cfg.task.kind == "extract" or n != "mix"]
    missing = [n for n in needed if n not in mapping]
    if missing:
        raise ConfigError(f"task.inputs: model {cfg.model.name!r} takes {_listing(takes)}; map "
                          f"{_listing('task.inputs.' + n for n in missing)} to a batch field")
    return mapping


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
class Task(torch.nn.Module):
    """One task's forward: a batch in, the loss and a few detached figures out."""

    kind = ""

    def __init__(self, model: torch.nn.Module, loss: WeightedLoss, trained: Dict[str, List[torch.nn.Parameter]],
                 inputs: Mapping[str, str]):
        super().__init__()
        self.model = model
        self.loss = loss
        self.trained_groups = trained
        self.inputs = dict(inputs)  # model input -> batch field
        self.target_fields: Set[str] = set()  # loss targets that are batch fields (set by check_batch)
        self.keep_outputs = False  # keep the last forward's outputs for take_outputs() (adversarial training)
        self._outputs: Optional[Tuple[Dict[str, torch.Tensor], Mapping[str, Any]]] = None

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            set_frozen_eval(self.model)
        return self

    def take_outputs(self) -> Tuple[Dict[str, torch.Tensor], Mapping[str, Any]]:
        """(outputs, batch fields) of the last training forward (with keep_outputs set), as the
        losses saw them (latency-aligned), handed over once."""
        outputs, self._outputs = self._outputs, None
        if outputs is None:
            raise RuntimeError("take_outputs: no outputs kept (set keep_outputs before the forward)")
        return outputs

    def model_inputs(self, batch: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
        return {name: batch[batch_field] for name, batch_field in self.inputs.items()}

    def fields_used(self) -> Dict[str, str]:
        """config key -> the batch field it reads."""
        return {f"task.inputs.{name}": batch_field for name, batch_field in self.inputs.items()}

    def output_names(self, batch: Mapping[str, Any]) -> Set[str]:
        raise NotImplementedError

    def check_batch(self, batch: Mapping[str, Any], where: str, outputs: bool = True) -> None:
        """The batch fields the task reads and, with `outputs`, the losses' outputs and targets
        against what the task produces on this batch (a forward only for models with
        train_outputs); without, the targets found in the data at the last full check.
        Problems are ConfigErrors naming the key."""
        fields = sorted(k for k in batch)
        used = self.fields_used()
        if not outputs:
            used.update({f"loss[{i}].target": t.target for i, t in enumerate(self.loss.terms)
                         if t.target in self.target_fields})
        for key, batch_field in used.items():
            if batch_field not in batch:
                raise ConfigError(f"{key}: no batch field {batch_field!r} in the {where} data (its fields: "
                                  f"{_listing(fields)})")
        if not outputs:
            return
        produced = self.output_names(batch)
        for i, term in enumerate(self.loss.terms):
            if term.output not in produced:
                raise ConfigError(f"loss[{i}].output: the {self.kind} task with model {type(self.model).__name__} "
                                  f"produces no output {term.output!r} (its outputs: {_listing(sorted(produced))})")
            if term.target not in batch and term.target not in produced:
                raise ConfigError(f"loss[{i}].target: {term.target!r} is neither a batch field of the {where} data "
                                  f"({_listing(fields)}) nor a model output ({_listing(sorted(produced))})")
            if term.target in batch and term.target in produced:
                raise ConfigError(f"loss[{i}].target: {term.target!r} is both a batch field and a model output")
        self.target_fields = {t.target for t in self.loss.terms if t.target in batch}


def run_task_outputs(model, inputs: Dict[str, torch.Tensor], chunk: Optional[int], detach: bool) -> Dict[str, torch.Tensor]:
    """The model's training outputs: train_outputs(inputs), or {"wave": chunked forward after encode}."""
    if callable(getattr(model, "train_outputs", None)):
        outputs = model.train_outputs(inputs)
        if not isinstance(outputs, Mapping) or "wave" not in outputs:
            raise StageError(f"{type(model).__name__}.train_outputs() must return a dict with 'wave', "
                             f"got {type(outputs).__name__} {list(outputs) if isinstance(outputs, Mapping) else ''}")
        return dict(outputs)
    # No torch.no_grad() around encode even when the encoder is frozen: the condition
    # may include trained parts (fusion keys/values); frozen weights build no graph anyway.
    cond = model.encode(inputs["pos"], inputs.get("neg"))
    return {"wave": run_chunks(model, inputs["mix"], cond, chunk, detach)}


class ExtractTask(Task):
    """The signal out of the mixture: end-to-end systems, the teacher, stage 2."""

    kind = "extract"

    def __init__(self, model, loss, trained, inputs, chunk: Optional[int], detach: bool):
        super().__init__(model, loss, trained, inputs)
        self.chunk, self.detach = chunk, detach

    def output_names(self, batch: Mapping[str, Any]) -> Set[str]:
        if not callable(getattr(self.model, "train_outputs", None)):
            return {"wave"}
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return set(run_task_outputs(self.model, self.model_inputs(batch), self.chunk, False))
        finally:
            self.model.train(was_training)

    def forward(self, batch: Dict[str, Any]):
        inputs = self.model_inputs(batch)
        outputs = run_task_outputs(self.model, inputs, self.chunk, self.detach)
        latency = int(getattr(self.model, "latency", 0) or 0)
        fields: Mapping[str, Any] = batch
        if latency:
            outputs, fields = align_latency(outputs, batch, inputs["mix"].shape[-1], latency)
        if self.keep_outputs and self.training:
            self._outputs = (outputs, fields)
        loss, parts = self.loss.evaluate(outputs, fields)
        stats = dict(parts)
        if not self.training and "ref" in fields and "mix" in inputs:
            mix, ref = inputs["mix"].float(), fields["ref"].float()
            mix = mix[..., :ref.shape[-1]]
            out = outputs["wave"]
            if out.shape == ref.shape:
                stats["si_snri"] = si_snr_improvement(out.detach().float(), ref, mix)
                if mix.shape[0] > 1:
                    # The same mixtures with the next example's enrollments: a model that uses
                    # its enrollments must do worse here (the recipe's wrong-enrollment control).
                    wrong = {k: (v.roll(1, 0) if k != "mix" else v) for k, v in inputs.items()}
                    out = run_task_outputs(self.model, wrong, self.chunk, False)["wave"][..., latency:]
                    stats["si_snri_wrong_enroll"] = si_snr_improvement(out.float(), ref, mix)
        return loss, stats


def align_latency(outputs: Dict[str, torch.Tensor], batch: Mapping[str, Any], length: int,
                  latency: int) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Output sample n belongs to input sample n - latency: compare wave[..., latency:] with the
    batch's signals of the mixture's length cut to [..., :length - latency]."""
    if latency >= length:
        raise ValueError(f"a {length}-sample mixture is shorter than the model's latency ({latency} samples)")
    outputs = dict(outputs, wave=outputs["wave"][..., latency:])
    fields = {k: (v[..., :length - latency] if torch.is_tensor(v) and v.dim() >= 2 and v.shape[-1] == length else v)
              for k, v in batch.items()}
    return outputs, fields


class DistillTask(Task):
    """Stage 1: student.embed(pos, neg) regresses onto teacher.embed_clean(batch[teacher.input])."""

    kind = "distill"

    def __init__(self, model, loss, trained, inputs, teacher: torch.nn.Module, teacher_input: str):
        super().__init__(model, loss, trained, inputs)
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher = teacher.eval()
        self.teacher_input = teacher_input

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        return self

    def fields_used(self) -> Dict[str, str]:
        return {**super().fields_used(), "task.teacher.input": self.teacher_input}

    def output_names(self, batch: Mapping[str, Any]) -> Set[str]:
        return {"embedding", "teacher_embedding"}

    def forward(self, batch: Dict[str, Any]):
        with torch.no_grad():
            target = self.teacher.embed_clean(batch[self.teacher_input])
        inputs = self.model_inputs(batch)
        estimate = self.model.embed(inputs["pos"], inputs.get("neg"))
        loss, parts = self.loss.evaluate({"embedding": estimate, "teacher_embedding": target.detach()}, batch)
        stats = dict(parts)
        if not self.training:
            # error energy relative to the target's: 1.0 is what an all-zero embedding scores
            stats["relative_error"] = ((estimate - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)).detach()
        return loss, stats


# --------------------------------------------------------------------------- starting weights
def load_teacher(cfg: TrainConfig, student: torch.nn.Module, inputs: Mapping[str, str],
                 example: Dict[str, Any]) -> torch.nn.Module:
    """The teacher model file named by task.teacher.path, checked against the student's embedding."""
    conf = cfg.task.teacher
    path = conf.path
    if not Path(path).is_file():
        raise StageError(f"task.teacher.path={path}: no such file (train the teacher first, or fix the path)")
    try:
        teacher = model_io.load_model(path, arch=conf.arch)
    except Exception as err:
        raise StageError(f"task.teacher.path={path}: cannot load it as a teacher model: {err}") from None
    if not hasattr(teacher, "embed_clean"):
        raise StageError(f"task.teacher.path={path}: {type(teacher).__name__} has no embed_clean(); not a teacher model")
    if conf.input not in example:
        raise ConfigError(f"task.teacher.input: no batch field {conf.input!r} in the data.valid data "
                          f"(its fields: {_listing(sorted(example))})")
    with torch.no_grad():
        teacher.eval()
        student_was_training = student.training
        student.eval()
        try:
            want = tuple(teacher.embed_clean(example[conf.input]).shape)
            have = tuple(student.embed(example[inputs["pos"]], example[inputs["neg"]] if "neg" in inputs else None).shape)
        except Exception as err:
            raise StageError(f"task.teacher.path={path}: the teacher does not run on this data: {err}") from None
        finally:
            student.train(student_was_training)
    if want != have:
        raise StageError(
            f"task.teacher.path={path}: the teacher's embedding has shape {want} but model "
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
    log.info("%s: %s (%d tensors%s) loaded from %s", key, " + ".join(groups), len(wanted),
             ", and buffers" if copy_buffers else "", path)


def warm_start(cfg: TrainConfig, model: torch.nn.Module) -> None:
    """Copy the groups named in init.warm_start from their model files (in order)."""
    for i, warm in enumerate(cfg.init.warm_start):
        key = f"init.warm_start[{i}].path"
        if not Path(warm.path).is_file():
            raise StageError(f"{key}={warm.path}: no such file (train that step first, or fix the path)")
        copy_groups(model, warm.path, tuple(warm.groups), key, copy_buffers=warm.buffers)


def chunk_samples(cfg: TrainConfig) -> Optional[int]:
    if cfg.train.chunk_seconds is None:
        return None
    return max(1, int(round(cfg.train.chunk_seconds * cfg.train.sample_rate)))


def build_task(cfg: TrainConfig, example: Dict[str, Any]) -> Task:
    """The model (built from cfg.model) with its starting weights loaded and groups frozen, as a task.

    `example`: one collated validation batch (on the CPU): its fields are checked against
    the task's inputs, and the losses' outputs and targets against what the task produces.
    """
    try:
        model = model_io.build_model(cfg.model.name, **cfg.model.args)
    except (KeyError, TypeError, ValueError) as err:
        raise StageError(f"model: cannot build {cfg.model.name!r} with model.args: {err}") from None
    loss = build_loss(loss_spec(cfg))
    inputs = resolve_inputs(cfg, model)
    check_groups(cfg, model)
    if cfg.task.kind == "distill" and not callable(getattr(model, "embed", None)):
        raise ConfigError(f"task.kind: distill needs a model with embed(pos, neg); {cfg.model.name!r} has none")
    warm_start(cfg, model)
    trained = freeze(model, cfg.task.train)
    if cfg.task.kind == "distill":
        task: Task = DistillTask(model, loss, trained, inputs, load_teacher(cfg, model, inputs, example),
                                 cfg.task.teacher.input)
    else:
        chunk = chunk_samples(cfg)
        hop = getattr(model, "hop", None)
        if chunk is not None and isinstance(hop, int) and chunk % hop:
            raise ConfigError(
                f"train.chunk_seconds={cfg.train.chunk_seconds} at train.sample_rate={cfg.train.sample_rate} is "
                f"{chunk} samples, not a multiple of the model's hop ({hop}); a stream can only be cut at frame edges"
            )
        task = ExtractTask(model, loss, trained, inputs, chunk, cfg.train.detach_state)
    task.check_batch(example, "data.valid")
    return task
