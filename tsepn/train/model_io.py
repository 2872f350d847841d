"""The three model-file operations training needs, in one place.

They come from tsepn.models (build_model) and tsepn.models.checkpoint
(save_model / load_model); imported on first use so that the training code
can be imported, configured and checked without building a model.
"""
from __future__ import annotations

from typing import Optional

import torch


def build_model(name: str, **args) -> torch.nn.Module:
    from tsepn.models import build_model as build

    return build(name, **args)


def load_model(path, arch: Optional[str] = None) -> torch.nn.Module:
    from tsepn.models.checkpoint import load_model as load

    return load(path, arch=arch)


def save_model(path, model: torch.nn.Module) -> None:
    from tsepn.models.checkpoint import save_model as save

    save(path, model)
