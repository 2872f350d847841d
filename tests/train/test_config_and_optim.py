"""Training config checks, optimiser groups and learning-rate schedules."""
import math
import pytest
import torch
import yaml

from tsepn.config import ConfigError
from tsepn.train.optim import Scheduler, build_optimizer, learning_rates
from tsepn.train.schema import OptimConf, SchedulerConf, load_train_config

MINIMAL = {
    "task": {"kind": "extract", "train": ["main"]},
    "optim": {"lr": {"main": 1e-3}},
    "model": {"name": "toy_posneg"},
    "loss": [{"name": "snr", "weight": 10.0}],
    "data": {"train": {"type": "toy"}, "valid": {"type": "toy"}},
}


def write(tmp_path, data, name="train.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_minimal_config_loads_with_defaults_and_overrides(tmp_path):
    path = write(tmp_path, MINIMAL)
    cfg = load_train_config(path, ["optim.lr.main=0.002", "train.chunk_seconds=null", "task.kind=distill",
                                   "task.teacher.path=t.pt", "optim.lr.encoder=2e-3"])
    assert cfg.task.kind == "distill" and cfg.optim.lr == {"main": 2e-3, "encoder": 2e-3}
    assert cfg.train.chunk_seconds is None and cfg.task.inputs is None and cfg.task.teacher.input == "pos_clean"
    assert cfg.loss[0].output is None and cfg.loss[0].weight == 10.0
    assert cfg.scheduler.name == "plateau" and cfg.data.batch_size == 2


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, {**MINIMAL, "optim": {"lr": {"main": 1e-3}, "lrs": {}}})
    with pytest.raises(ConfigError, match=r"train\.yaml: unknown key\(s\) optim\.lrs"):
        load_train_config(path)
    path = write(tmp_path, {**MINIMAL, "task": {"kind": "extract", "train": ["main"], "input": {}}})
    with pytest.raises(ConfigError, match=r"train\.yaml: unknown key\(s\) task\.input\b"):
        load_train_config(path)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) train\.epoch\b"):
        load_train_config(write(tmp_path, MINIMAL), ["train.epoch=3"])


def test_missing_key_names_file_and_key(tmp_path):
    data = dict(MINIMAL)
    del data["loss"]
    with pytest.raises(ConfigError, match=r"train\.yaml: missing required key\(s\) loss"):
        load_train_config(write(tmp_path, data))
    data = {**MINIMAL, "data": {"train": {"type": "toy"}}}
    with pytest.raises(ConfigError, match=r"missing required key\(s\) data\.valid"):
        load_train_config(write(tmp_path, data))


@pytest.mark.parametrize("override, message", [
    ("task.kind=finetune", "task.kind: must be one of extract, distill"),
    ("task.train=[]", "task.train: name the parameter groups"),
    ("task.train=[main, main]", "task.train: a group is named twice"),
    ("task.train=[main, speaker]", r"optim\.lr\.speaker: task.train trains group 'speaker': its learning rate must be > 0"),
    ("optim.lr.main=0", r"optim\.lr\.main: task.train trains group 'main': its learning rate must be > 0"),
    ("optim.lr.head=-1", r"optim\.lr\.head: must be >= 0"),
    ("task.kind=distill", r"task\.teacher\.path: a distill task needs the teacher's model file"),
    ("task.teacher.path=t.pt", "task.teacher: only a distill task has a teacher"),
    ("task.inputs={pos: 3}", r"task\.inputs\.pos: must name a batch field"),
    ("loss=[{name: snr, outptu: wave}]", r"unknown key\(s\) loss\[0\]\.outptu"),
    ("train.precision=fp8", "train.precision: must be fp32, bf16 or fp16"),
    ("optim.name=sgd", "optim.name: must be adam or adamw"),
    ("train.epochs=0", "train.epochs: must be >= 1"),
    ("loss=[{name: sisnr}]", r"loss\[0\]: .*unknown loss 'sisnr'"),
    ("optim.lr.main=fast", "optim.lr.main: must be a number"),
    ("init.warm_start=[{path: t.pt, groups: []}]", r"init\.warm_start\[0\]\.groups: name the parameter groups"),
    ("init.warm_start=[{path: t.pt, group: [main]}]", r"unknown key\(s\) init\.warm_start\[0\]\.group\b"),
])
def test_bad_values_are_named(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        load_train_config(write(tmp_path, MINIMAL), [override])


def test_parameter_groups_get_their_own_learning_rates():
    enc, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    conf = OptimConf(name="adamw", weight_decay=1e-4, amsgrad=True)
    conf.lr.update(encoder=5e-4, head=1e-3)
    opt = build_optimizer({"encoder": list(enc.parameters()), "head": list(head.parameters())}, conf)
    assert isinstance(opt, torch.optim.AdamW)
    assert learning_rates(opt) == {"encoder": 5e-4, "head": 1e-3}
    with pytest.raises(ValueError, match="optim.lr: no learning rate for trained group.*speaker"):
        build_optimizer({"speaker": list(enc.parameters())}, conf)
    assert all(g["amsgrad"] and g["weight_decay"] == 1e-4 for g in opt.param_groups)


def test_plateau_halves_after_patience_and_stops_at_min_lr():
    p = torch.nn.Parameter(torch.zeros(1))
    conf = OptimConf(lr={"main": 1e-3})
    opt = build_optimizer({"main": [p]}, conf)
    sched = Scheduler(opt, SchedulerConf(name="plateau", factor=0.5, patience=3, min_lr=2e-4))
    lrs = []
    sched.step(1.0)  # the best so far
    for _ in range(12):
        sched.step(1.0)  # no improvement
        lrs.append(opt.param_groups[0]["lr"])
    # patience 3: the 4th epoch without improvement halves the rate, then 4 more, ...
    assert lrs[:3] == [1e-3] * 3
    assert lrs[3] == pytest.approx(5e-4) and lrs[7] == pytest.approx(2.5e-4)
    assert lrs[11] == pytest.approx(2e-4)  # floored at min_lr
    sched.step(0.5)  # an improvement resets the count
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-4)


def test_step_schedule():
    p = torch.nn.Parameter(torch.zeros(1))
    conf = OptimConf(lr={"main": 1.0})
    opt = build_optimizer({"main": [p]}, conf)
    sched = Scheduler(opt, SchedulerConf(name="step", step_size=2, gamma=0.1))
    seen = []
    for _ in range(4):
        opt.step()
        sched.step(0.0)
        seen.append(opt.param_groups[0]["lr"])
    assert seen == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_cosine_schedule_falls_to_min_lr_over_the_run_per_group():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer({"enc": [a], "main": [b]}, OptimConf(lr={"enc": 1.0, "main": 0.5}))
    sched = Scheduler(opt, SchedulerConf(name="cosine", min_lr=0.0), epochs=4)
    seen = []
    for _ in range(4):
        opt.step()
        sched.step(0.0)
        seen.append([g["lr"] for g in opt.param_groups])
    # after epoch e of 4: lr = base * (1 + cos(pi e / 4)) / 2
    expected = [(1 + math.cos(math.pi * e / 4)) / 2 for e in (1, 2, 3, 4)]
    assert [s[0] for s in seen] == pytest.approx(expected)
    assert [s[1] for s in seen] == pytest.approx([0.5 * x for x in expected])
    assert seen[-1][0] == pytest.approx(0.0, abs=1e-12)
