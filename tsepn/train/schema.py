"""The training config: one checked YAML per experiment.

    cfg = load_train_config("conf/train_stage2.yaml", ["optim.lr.main=1e-3"], stage="extract")

An unknown or missing key is an error naming the file and key (tsepn.config).
`model.args` and the dataset `args` are free-form mappings handed to the model
builder and dataset class, which check them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from tsepn.config import ConfigError, load_config
from tsepn.losses import build_loss

STAGES = ("teacher", "distill", "extract")


@dataclass
class ModelConf:
    name: str
    args: Dict[str, Any] = field(default_factory=dict)


@dataclass
class WarmStart:
    path: str  # a tsepn model file
    groups: List[str]  # parameter groups to copy: encoder, head, main


@dataclass
class InitConf:
    """Where the weights a stage starts from come from."""

    # distill: the teacher model file (exp/teacher/model.pt, or an imported checkpoint)
    teacher: Optional[str] = None
    # load_model(arch=...) for a teacher file in a foreign layout (the authors' {"state_dict"})
    teacher_arch: Optional[str] = None
    # extract: the stage-1 model file whose encoder and head are frozen
    distilled: Optional[str] = None
    # any stage: copy parameter groups from other model files before training (same names
    # and shapes), e.g. the teacher's encoder or extractor; the paper starts them at random
    warm_start: List["WarmStart"] = field(default_factory=list)


@dataclass
class LearningRates:
    encoder: float = 0.0
    head: float = 0.0
    main: float = 0.0


@dataclass
class OptimConf:
    name: str = "adam"  # adam | adamw
    lr: LearningRates = field(default_factory=LearningRates)
    weight_decay: float = 0.0
    amsgrad: bool = False
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: float = 0.0  # max global gradient norm; 0 = off


@dataclass
class SchedulerConf:
    name: str = "plateau"  # plateau | step | none
    factor: float = 0.5  # plateau: lr *= factor after `patience` epochs without improvement
    patience: int = 50
    min_lr: float = 1e-6
    step_size: int = 100  # step: lr *= gamma every step_size epochs
    gamma: float = 0.5


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
    stage: str
    model: ModelConf
    data: DataConf
    loss: List[Dict[str, Any]]
    seed: int = 0
    init: InitConf = field(default_factory=InitConf)
    optim: OptimConf = field(default_factory=OptimConf)
    scheduler: SchedulerConf = field(default_factory=SchedulerConf)
    train: TrainConf = field(default_factory=TrainConf)


def check_config(cfg: TrainConfig, source: str = "<config>") -> TrainConfig:
    """Value checks the schema's types cannot express; errors name the key."""

    def fail(key: str, message: str) -> None:
        raise ConfigError(f"{source}: {key}: {message}")

    if cfg.stage not in STAGES:
        fail("stage", f"must be one of {', '.join(STAGES)}, got {cfg.stage!r}")
    if cfg.optim.name not in ("adam", "adamw"):
        fail("optim.name", f"must be adam or adamw, got {cfg.optim.name!r}")
    if len(cfg.optim.betas) != 2:
        fail("optim.betas", "must be two numbers")
    for i, warm in enumerate(cfg.init.warm_start):
        bad = sorted(set(warm.groups) - {"encoder", "head", "main"})
        if bad or not warm.groups:
            fail(f"init.warm_start[{i}].groups", f"must name some of encoder, head, main, got {warm.groups}")
    for group in ("encoder", "head", "main"):
        if getattr(cfg.optim.lr, group) < 0:
            fail(f"optim.lr.{group}", "must be >= 0")
    if cfg.scheduler.name not in ("plateau", "step", "none"):
        fail("scheduler.name", f"must be plateau, step or none, got {cfg.scheduler.name!r}")
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
        build_loss(cfg.loss)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    return cfg


def load_train_config(path, overrides=None, stage: Optional[str] = None, variables=None) -> TrainConfig:
    """Load and check a training config; `stage` (from --stage) overrides the file's;
    `variables` fill its `${name}` placeholders (tsepn.config.substitute)."""
    overrides = list(overrides or [])
    if stage is not None:
        overrides.append(f"stage={stage}")
    cfg = load_config(TrainConfig, path, overrides, variables)
    return check_config(cfg, str(path) if path is not None else "<overrides>")
