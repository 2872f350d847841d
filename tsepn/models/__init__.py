"""tsepn models: one registry (`MODELS`) names every model a recipe can build.

    model = build_model("proposed-monaural")          # the authors' published configuration
    model = build_model("posneg", n_layers=2, ...)    # the proposed model with other sizes
    cond = model.encode(pos, neg)                     # once per utterance
    out, state = model(mix_chunk, cond, state)        # per chunk; state=None starts a stream

Registered: `posneg` (+ presets `proposed-monaural`, `proposed-binaural`), `teacher`,
and the models of the modules listed in `MODEL_MODULES`.
"""
from __future__ import annotations

import importlib

import torch.nn as nn

from tsepn.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")

# Modules whose import registers models in MODELS (explicit: a broken module is an error).
MODEL_MODULES = ["posneg", "teacher", "early_fusion"]

for _module in MODEL_MODULES:
    importlib.import_module(f"{__name__}.{_module}")


def build_model(name: str, **args) -> nn.Module:
    """Build registered model `name`; the result remembers name and args so save_model can rebuild it."""
    model = MODELS.build(name, **args)
    model.tsepn_name = name
    model.tsepn_args = dict(args)
    return model
