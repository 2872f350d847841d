"""The model interface in code (tsepn.models.base) and the import structure of tsepn.models."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.models.conftest import ENROLL_SAMPLES, MIX_SAMPLES, REPO, seeded_audio, tiny_args
from tsepn.models import MODEL_MODULES, MODELS, TSEModel, TSEModule, build_model
from tsepn.models.base import MODEL_INPUTS, check_model

IMPROVED_TINY = dict(n_fft=32, hop=16, emb_dim=8, lstm_hidden=8, n_heads=2, approx_qk_dim=34, n_layers=1,
                     head_refine_layers=1)


def teacher_args():
    return {k: v for k, v in tiny_args().items() if not k.startswith("head_")}


MODELS_UNDER_TEST = [
    ("posneg", tiny_args(), ("mix", "pos", "neg"), True),
    ("teacher", teacher_args(), ("mix", "pos"), True),
    ("improved", IMPROVED_TINY, ("mix", "pos", "neg"), False),
]


@pytest.mark.parametrize("name,args,inputs,streaming", MODELS_UNDER_TEST, ids=[m[0] for m in MODELS_UNDER_TEST])
def test_models_follow_the_interface(name, args, inputs, streaming):
    model = build_model(name, **args).eval()
    assert isinstance(model, TSEModel) and isinstance(model, TSEModule)
    check_model(model)
    assert tuple(model.inputs) == inputs and model.streaming is streaming
    assert model.sample_rate == 16000 and model.in_channels == model.out_channels == 1 and model.latency == 0
    groups = model.param_groups()
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    pos, neg = seeded_audio(2, 1, ENROLL_SAMPLES), seeded_audio(2, 1, ENROLL_SAMPLES, seed=1)
    with torch.no_grad():
        cond = model.encode(pos, neg if "neg" in inputs else None)
        out, _ = model(seeded_audio(2, 1, MIX_SAMPLES, seed=2), cond, model.init_state(2))
    assert out.shape == (2, model.out_channels, MIX_SAMPLES)


def test_the_published_presets_follow_the_interface():
    for name in ("proposed-monaural", "proposed-binaural", "improved-monaural"):
        model = build_model(name)
        check_model(model)
        assert set(model.param_groups()) == {"encoder", "head", "main"}


def test_a_model_that_needs_a_negative_enrollment_says_so():
    model = build_model("posneg", **tiny_args())
    with pytest.raises(ValueError, match="neg is required"):
        model.encode(seeded_audio(1, 1, ENROLL_SAMPLES))


def test_base_class_defaults_and_the_check():
    class Gain(TSEModule):
        inputs = ("mix", "pos")

        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.ones(1))

        def encode(self, pos, neg=None):
            return pos.std(dim=-1, keepdim=True)

        def forward(self, mix, cond, state=None):
            return mix * self.gain * cond, state

    model = Gain()
    check_model(model)
    assert model.init_state(3) is None and model.latency == 0 and not model.streaming
    assert [id(p) for p in model.param_groups()["main"]] == [id(model.gain)]
    with pytest.raises(TypeError, match="missing: .*encode"):
        check_model(torch.nn.Linear(2, 2))
    model.inputs = ("pos", "spk")
    with pytest.raises(TypeError, match="must hold mix and pos"):
        check_model(model)
    assert set(MODEL_INPUTS) == {"mix", "pos", "neg"}


@pytest.mark.parametrize("module", ["tsepn.models.registry", "tsepn.models.base", "tsepn.models.common",
                                    "tsepn.models.checkpoint"] + [f"tsepn.models.{m}" for m in MODEL_MODULES])
def test_each_model_module_imports_alone(module):
    """A fresh interpreter imports the module first (no cycle through the registry), and every
    registered model is there afterwards."""
    code = (f"import importlib; importlib.import_module({module!r}); "
            "from tsepn.models import MODELS; print(' '.join(MODELS))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert set(result.stdout.split()) == set(MODELS)


def test_no_model_module_imports_the_package_registry_back():
    """Model modules take MODELS from tsepn.models.registry, not from the package that imports them."""
    for name in MODEL_MODULES:
        text = (REPO / "tsepn" / "models" / f"{name.replace('.', '/')}.py").read_text()  # baselines.x -> baselines/x.py
        assert "from tsepn.models import" not in text and "import tsepn.models\n" not in text, name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_follows_the_interface(name):
    """Whatever registers a model (presets, baselines) builds with its defaults into a TSEModel
    whose param_groups() cover every parameter exactly once."""
    model = build_model(name)
    check_model(model)
    ids = [id(p) for params in model.param_groups().values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters())), name
