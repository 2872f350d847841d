"""The training config: one checked YAML per experiment.

    cfg = load_train_config("conf/systems/proposed/6_stage2.yaml", ["optim.lr.main=1e-3"])

An unknown or missing key is an error naming the file and key (tsepn.config).
`model.args` and the dataset `args` are free-form mappings handed to the model
builder and dataset class, which check them. What depends on the model (its inputs,
parameter groups and outputs) and on the data (batch fields) is checked when the task
is built (tsepn.train.stages), before training starts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from tsepn.config import ConfigError, load_config
from tsepn.losses import build_loss

TASK_KINDS = ("extract", "distill")


@dataclass
class ModelConf:
    name: str
    args: Dict[str, Any] = field(default_factory=dict)


@dataclass
class TeacherConf:
    """distill: the model whose `embed_clean(batch[input])` the student's `embed(pos, neg)` learns."""

    path: Optional[str] = None  # a model file (the teacher run's model.pt, or an imported checkpoint)
    arch: Optional[str] = None  # load_model(arch=...) for a file in a foreign layout (the authors' {"state_dict"})
    input: str = "pos_clean"  # the batch field the teacher embeds


@dataclass
class TaskConf:
    """What is trained on which inputs (see tsepn.train.stages)."""

    kind: str  # extract (signal out of the mixture: end-to-end, teacher, stage 2) | distill (stage 1)
    train: List[str]  # parameter groups trained (model.param_groups() names), each with optim.lr.<group> > 0
    # model input -> batch field, e.g. {mix: mix, pos: pos_clean}; null: each input the model
    # takes (model.inputs) from the batch field of the same name
    inputs: Optional[Dict[str, str]] = None
    teacher: TeacherConf = field(default_factory=TeacherConf)


@dataclass
class WarmStart:
    path: str  # a tsepn model file
    groups: List[str]  # parameter groups to copy (names of the configured model's param_groups())
    buffers: bool = False  # also copy the buffers present in both with the same shape


@dataclass
class InitConf:
    """Where the weights a run starts from come from (besides random initialisation)."""

    # copy parameter groups from model files before training (same names and shapes), in
    # order: the stage-1 encoder + head for stage 2 (with buffers), the teacher's extractor, ...
    warm_start: List["WarmStart"] = field(default_factory=list)


@dataclass
class LossConf:
    name: str  # tsepn.losses.LOSSES
    weight: float = 1.0
    args: Dict[str, Any] = field(default_factory=dict)
    output: Optional[str] = None  # the model output it scores (null: wave)
    target: Optional[str] = None  # a batch field or another model output (null: ref)


@dataclass
class OptimConf:
    name: str = "adam"  # adam | adamw
    lr: Dict[str, float] = field(default_factory=dict)  # parameter group -> learning rate
    weight_decay: float = 0.0
    amsgrad: bool = False
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: float = 0.0  # max global gradient norm; 0 = off


@dataclass
class AdversarialConf:
    """A discriminator judging a task output against a batch field (tsepn.train.adversarial)."""

    discriminator: ModelConf  # tsepn.models.DISCRIMINATORS name + args
    output: str = "wave"  # the task output judged (fake)
    real: str = "ref"  # the batch field it is compared with (real)
    loss: str = "lsgan"  # lsgan | hinge
    weight: float = 1.0  # the generator's adversarial term, added to the task loss
    feature_matching: float = 0.0  # weight of the L1 distance of the discriminator's features, real vs fake
    start_step: int = 0  # optimizer steps before the generator's adversarial terms switch on
    optim: str = "adam"  # adam | adamw: the discriminator's own optimizer
    lr: float = 2e-4
    betas: List[float] = field(default_factory=lambda: [0.5, 0.9])
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # max gradient norm of the discriminator; 0 = off
    # weight of the gradient penalty E[(||grad D(x_hat)|| - 1)^2] on real/fake interpolates (Gulrajani et al.); 0 = off
    gradient_penalty: float = 0.0


@dataclass
class SchedulerConf:
    name: str = "plateau"  # plateau | step | cosine | none
    factor: float = 0.5  # plateau: lr *= factor after `patience` epochs without improvement
    patience: int = 50
    min_lr: float = 1e-6
    step_size: int = 100  # step: lr *= gamma every step_size epochs
    gamma: float = 0.5
    # cosine: lr falls from the configured rate to min_lr along half a cosine over train.epochs
    # (one step per epoch); a short run then ends at a small rate instead of mid-way


@dataclass
class DatasetConf:
    type: str  # simulated | scp (tsepn.train.data.DATASETS)
    args: Dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConf:
    train: DatasetConf
    valid: DatasetConf
    batch_size: int = 2
    valid_batch_size: int = 2
    num_workers: int = 2
    examples_per_epoch: Optional[int] = None  # None: len(train set)
    valid_examples: Optional[int] = None  # None: the whole validation set


@dataclass
class TrainConf:
    epochs: int = 1
    sample_rate: int = 16000
    chunk_seconds: Optional[float] = 1.0  # mixture fed in chunks carrying the state; None = one call
    detach_state: bool = False  # cut gradients between chunks (the authors' script does not)
    save_every: int = 50  # full training checkpoint every N epochs (besides last and best)
    keep_best: int = 5  # model snapshots of the K best epochs, for averaging
    max_bad_steps: int = 10  # stop after this many skipped steps in a row (NaN/Inf loss, OOM)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (GPU only)
    device: str = "auto"  # auto | cpu | cuda
    threads: Optional[int] = None  # torch.set_num_threads on CPU; None leaves torch's default
    tensorboard: bool = True
    progress: bool = True


@dataclass
class TrainConfig:
    task: TaskConf
    model: ModelConf
    data: DataConf
    loss: List[LossConf]
    seed: int = 0
    init: InitConf = field(default_factory=InitConf)
    optim: OptimConf = field(default_factory=OptimConf)
    scheduler: SchedulerConf = field(default_factory=SchedulerConf)
    train: TrainConf = field(default_factory=TrainConf)
    adversarial: Optional[AdversarialConf] = None


def check_config(cfg: TrainConfig, source: str = "<config>") -> TrainConfig:
    """Value checks the schema's types cannot express; errors name the key."""

    def fail(key: str, message: str) -> None:
        raise ConfigError(f"{source}: {key}: {message}")

    task = cfg.task
    if task.kind not in TASK_KINDS:
        fail("task.kind", f"must be one of {', '.join(TASK_KINDS)}, got {task.kind!r}")
    if not task.train:
        fail("task.train", "name the parameter groups to train (e.g. [main])")
    if len(set(task.train)) != len(task.train):
        fail("task.train", f"a group is named twice: {task.train}")
    for model_input, batch_field in (task.inputs or {}).items():
        if not isinstance(batch_field, str) or not batch_field:
            fail(f"task.inputs.{model_input}", f"must name a batch field, got {batch_field!r}")
    if task.kind == "distill" and not task.teacher.path:
        fail("task.teacher.path", "a distill task needs the teacher's model file")
    if task.kind != "distill" and (task.teacher.path or task.teacher.arch):
        fail("task.teacher", f"only a distill task has a teacher (task.kind is {task.kind})")
    if cfg.optim.name not in ("adam", "adamw"):
        fail("optim.name", f"must be adam or adamw, got {cfg.optim.name!r}")
    if len(cfg.optim.betas) != 2:
        fail("optim.betas", "must be two numbers")
    for group, lr in cfg.optim.lr.items():
        if isinstance(lr, bool) or not isinstance(lr, (int, float, str)):
            fail(f"optim.lr.{group}", f"must be a number, got {lr!r}")
        try:
            cfg.optim.lr[group] = float(lr)  # YAML 1.1 reads 2e-3 as a string
        except ValueError:
            fail(f"optim.lr.{group}", f"must be a number, got {lr!r}")
        if cfg.optim.lr[group] < 0:
            fail(f"optim.lr.{group}", "must be >= 0")
    for group in task.train:
        if cfg.optim.lr.get(group, 0.0) <= 0:
            fail(f"optim.lr.{group}", f"task.train trains group {group!r}: its learning rate must be > 0")
    for i, warm in enumerate(cfg.init.warm_start):
        if not warm.groups:
            fail(f"init.warm_start[{i}].groups", "name the parameter groups to copy")
    adv = cfg.adversarial
    if adv is not None:
        if task.kind != "extract":
            fail("adversarial", f"only an extract task trains adversarially (task.kind is {task.kind})")
        if adv.loss not in ("lsgan", "hinge"):
            fail("adversarial.loss", f"must be lsgan or hinge, got {adv.loss!r}")
        if adv.optim not in ("adam", "adamw"):
            fail("adversarial.optim", f"must be adam or adamw, got {adv.optim!r}")
        if adv.lr <= 0:
            fail("adversarial.lr", "must be > 0")
        if len(adv.betas) != 2:
            fail("adversarial.betas", "must be two numbers")
        if adv.weight < 0 or adv.feature_matching < 0 or adv.start_step < 0 or adv.grad_clip < 0:
            fail("adversarial", "weight, feature_matching, start_step and grad_clip must be >= 0")
        if adv.gradient_penalty < 0:
            fail("adversarial.gradient_penalty", "must be >= 0")
        if cfg.train.precision == "fp16":
            fail("train.precision", "adversarial training runs in fp32 or bf16 (fp16 would need a second loss scaler)")
    if cfg.scheduler.name not in ("plateau", "step", "cosine", "none"):
        fail("scheduler.name", f"must be plateau, step, cosine or none, got {cfg.scheduler.name!r}")
    if cfg.train.precision not in ("fp32", "bf16", "fp16"):
        fail("train.precision", f"must be fp32, bf16 or fp16, got {cfg.train.precision!r}")
    if cfg.train.device not in ("auto", "cpu", "cuda"):
        fail("train.device", f"must be auto, cpu or cuda, got {cfg.train.device!r}")
    if cfg.train.chunk_seconds is not None and cfg.train.chunk_seconds <= 0:
        fail("train.chunk_seconds", "must be > 0 (or null for one call)")
    for key in ("epochs", "save_every", "max_bad_steps"):
        if getattr(cfg.train, key) < 1:
            fail(f"train.{key}", "must be >= 1")
    if cfg.train.keep_best < 0:
        fail("train.keep_best", "must be >= 0")
    if cfg.data.batch_size < 1 or cfg.data.valid_batch_size < 1:
        fail("data.batch_size", "batch sizes must be >= 1")
    if cfg.data.num_workers < 0:
        fail("data.num_workers", "must be >= 0")
    if cfg.data.examples_per_epoch is not None and cfg.data.examples_per_epoch < 1:
        fail("data.examples_per_epoch", "must be >= 1")
    if not cfg.loss:
        fail("loss", "at least one loss term is needed")
    try:
        build_loss(loss_spec(cfg))
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    return cfg


def loss_spec(cfg: TrainConfig) -> List[Dict[str, Any]]:
    """cfg.loss as the mappings tsepn.losses.build_loss takes."""
    return [asdict(entry) for entry in cfg.loss]


def load_train_config(path, overrides=None, variables=None) -> TrainConfig:
    """Load and check a training config: `variables` fill its `${name}` placeholders
    (tsepn.config.substitute), dotted `key=value` overrides are applied first."""
    cfg = load_config(TrainConfig, path, list(overrides or []), variables)
    return check_config(cfg, str(path) if path is not None else "<overrides>")
