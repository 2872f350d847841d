"""The model registry (`MODELS`), `build_model`, and the discriminators' registry (`DISCRIMINATORS`,
the judges of adversarial training: tsepn.train.adversarial).

A module of its own, so that the model modules register themselves here without importing
the package `tsepn.models` (whose __init__ imports them): no hidden import cycle.
"""
from __future__ import annotations

import torch.nn as nn

from tsepn.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")
DISCRIMINATORS: Registry[nn.Module] = Registry("discriminator")


def build_model(name: str, **args) -> nn.Module:
    """Build registered model `name`; the result remembers name and args so save_model can rebuild it."""
    model = MODELS.build(name, **args)
    model.tsepn_name = name
    model.tsepn_args = dict(args)
    return model
