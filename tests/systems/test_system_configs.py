"""The recipe configs of the issue-11 systems: each loads and checks against the schema, its model builds
(the paper-size ones as a dry build, parameter count printed), and a system's steps chain correctly."""
from pathlib import Path

import pytest

from tsepn.models import build_model
from tsepn.train.schema import load_train_config

SYSTEMS_DIR = Path(__file__).resolve().parents[2] / "egs/librispeech_wham/mono/conf/systems"
SYSTEMS = ["spexplus", "refsel", "refsel_candidates", "spectron", "pitch_mbrnn", "pitch_mbrnn_none", "pitch_mbrnn_concat",
           "pitch_mbrnn_oracle"]
VARIABLES = {"data": "data", "exp": "exp/x", "simulate_config": "conf/simulate.yaml"}
CONFIGS = [p for s in SYSTEMS for suffix in ("", "_paper") for p in sorted((SYSTEMS_DIR / (s + suffix)).glob("[4-6]_*.yaml"))]


def test_every_system_has_a_tiny_and_a_paper_folder():
    for system in SYSTEMS:
        for suffix in ("", "_paper"):
            assert list((SYSTEMS_DIR / (system + suffix)).glob("6_*.yaml")), f"{system}{suffix}: no stage-6 step"


@pytest.mark.parametrize("path", CONFIGS, ids=[f"{p.parent.name}/{p.name}" for p in CONFIGS])
def test_config_loads_and_its_model_builds(path):
    cfg = load_train_config(path, variables=VARIABLES)
    model = build_model(cfg.model.name, **cfg.model.args)
    groups = model.param_groups()
    assert set(cfg.task.train) <= set(groups) and set(cfg.optim.lr) <= set(groups)
    assert set(cfg.task.inputs) <= set(model.inputs)
    count = sum(p.numel() for p in model.parameters())
    print(f"{path.parent.name}/{path.name}: {cfg.model.name} {count} parameters")
    header = path.read_text().splitlines()[0]
    assert header.startswith("# ")
    for warm in cfg.init.warm_start:  # a warm start names an earlier step of the same system
        step = Path(warm.path).parent.name
        assert warm.path.startswith("exp/x/") and list(path.parent.glob(f"[4-6]_{step}.yaml"))
        assert sorted(path.parent.glob("[4-6]_*.yaml")).index(path) > 0
