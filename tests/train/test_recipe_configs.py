"""Every training YAML of the recipes loads, names a registered model that builds with its
args, feeds it inputs it takes, trains groups it has, and (teacher -> stage 1) embeds to the same shape."""
from pathlib import Path

import pytest
import torch

from tsepn.models import build_model
from tsepn.train.data import DATASETS
from tsepn.train.schema import load_train_config
from tsepn.train.stages import check_groups, freeze, resolve_inputs

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(ROOT.glob("egs/*/*/conf/systems/*/[0-9]_*.yaml"))
# what the recipe's stage script passes (--var): the system's configs name no folder themselves
VARIABLES = {"data": "data", "exp": "exp/system", "simulate_config": "conf/simulate.yaml"}


def load(path):
    return load_train_config(path, variables=VARIABLES)


def test_there_are_recipe_configs():
    names = {str(p.relative_to(ROOT / "egs/librispeech_wham/mono/conf/systems")) for p in CONFIGS
             if "mono" in p.parts}
    assert {"proposed/4_teacher.yaml", "proposed/5_stage1.yaml", "proposed/6_stage2.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_builds(path):
    cfg = load(path)
    assert cfg.data.train.type in DATASETS and cfg.data.valid.type in DATASETS
    model = build_model(cfg.model.name, **cfg.model.args)
    inputs = resolve_inputs(cfg, model)
    check_groups(cfg, model)
    if not any(True for _ in model.parameters()):  # NMF: tsepn.bin.train writes its model file, trains nothing
        assert set(model.param_groups()) >= set(cfg.task.train)
    else:
        trained = freeze(model, cfg.task.train)
        assert trained and set(trained) == set(cfg.task.train)
    if path.name == "6_stage2.yaml":
        assert cfg.task.kind == "extract" and inputs == {"mix": "mix", "pos": "pos", "neg": "neg"}
        first = cfg.init.warm_start[0]
        assert first.path == "exp/system/stage1/model.pt" and first.groups == ["encoder", "head"] and first.buffers, \
            "stage 2 starts from stage 1's encoder + head"
    if path.name == "5_stage1.yaml":
        assert cfg.task.kind == "distill" and cfg.task.teacher.path, "stage 1 needs task.teacher.path"
    if path.name == "4_teacher.yaml":
        assert inputs["pos"] == "pos_clean", "the teacher hears the clean enrollment"


def _teacher_config(stage1_path: Path):
    cfg = load(stage1_path)
    step = Path(cfg.task.teacher.path).parent.name  # ${exp}/<step>/model.pt
    candidate = stage1_path.parent / f"4_{step}.yaml"
    return cfg, (load(candidate) if candidate.is_file() else None)


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name == "5_stage1.yaml"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_teacher_embedding_fits_the_student(path):
    student_cfg, teacher_cfg = _teacher_config(path)
    assert teacher_cfg is not None, f"{path}: no teacher config for task.teacher.path={student_cfg.task.teacher.path}"
    torch.manual_seed(0)
    student = build_model(student_cfg.model.name, **student_cfg.model.args).eval()
    teacher = build_model(teacher_cfg.model.name, **teacher_cfg.model.args).eval()
    x = torch.randn(1, getattr(student, "in_channels", 1), 8000)
    with torch.no_grad():
        assert teacher.embed_clean(x).shape == student.embed(x, x).shape
    stage2 = load(path.parent / "6_stage2.yaml")
    # warm starts from the teacher's file copy parameters of the same names and shapes
    teacher_params = dict(teacher.named_parameters())
    for cfg in (student_cfg, stage2):
        model = build_model(cfg.model.name, **cfg.model.args)
        groups = model.param_groups()
        for warm in cfg.init.warm_start:
            if warm.path != student_cfg.task.teacher.path:
                continue
            ids = {id(p) for g in warm.groups for p in groups[g]}
            for name, p in model.named_parameters():
                if id(p) in ids:
                    assert name in teacher_params and teacher_params[name].shape == p.shape, name
