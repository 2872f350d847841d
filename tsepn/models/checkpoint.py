"""Model checkpoints: tsepn's self-describing format, and the authors' bare state dicts.

A tsepn checkpoint rebuilds its model with no other input:
    {"format": "tsepn", "model": <registry name>, "model_args": {...}, "state_dict": {...},
     "versions": {"torch", "tsepn", "python"}, "git_revision": <commit or None>, **extra}
The authors publish `{"state_dict": ...}` only; `load_model(path, arch=...)` names the
architecture (see tsepn.models.upstream.AUTHORS_ARCHS). Everything loads with
torch.load(weights_only=True).
"""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

import tsepn
from tsepn.fileio import atomic_path
from tsepn.models.registry import MODELS, build_model
from tsepn.models.upstream import AUTHORS_ARCHS, to_tsepn_state_dict

FORMAT = "tsepn"
SHOWN = 5  # how many offending keys an error message lists


class CheckpointError(ValueError):
    """A checkpoint file that cannot be turned into the requested model; the message names the file."""


def git_revision() -> Optional[str]:
    """Commit of the tsepn source tree, or None outside a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(tsepn.__file__).parent,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def save_model(path, model: nn.Module, **extra) -> None:
    """Write a tsepn checkpoint of a model made by build_model / load_model (atomically)."""
    name = getattr(model, "tsepn_name", None)
    if name is None:
        raise ValueError("save_model needs a model made by tsepn.models.build_model or load_model "
                         "(it records the registry name and arguments that rebuild it)")
    reserved = {"format", "model", "model_args", "state_dict", "versions", "git_revision"} & set(extra)
    if reserved:
        raise ValueError(f"extra fields {sorted(reserved)} would overwrite checkpoint fields")
    checkpoint = {
        "format": FORMAT,
        "model": name,
        "model_args": dict(model.tsepn_args),
        "state_dict": model.state_dict(),
        "versions": {"torch": str(torch.__version__), "tsepn": str(tsepn.__version__), "python": platform.python_version()},
        "git_revision": git_revision(),
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def read_checkpoint(path) -> dict:
    """torch.load(weights_only=True) with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt file, pickle with code objects, ...
        raise CheckpointError(f"{path}: not a loadable checkpoint: {err}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(data).__name__}")
    if not isinstance(data.get("state_dict"), dict):
        raise CheckpointError(f"{path}: no 'state_dict' entry (keys: {sorted(map(str, data))[:SHOWN]})")
    return data


def _listing(keys) -> str:
    keys = sorted(keys)
    more = f" ... ({len(keys)} in all)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def load_weights(model: nn.Module, state_dict: dict, source: str) -> None:
    """Strict load: missing / unexpected keys and shape mismatches are one clear error."""
    own = model.state_dict()
    missing = own.keys() - state_dict.keys()
    unexpected = state_dict.keys() - own.keys()
    mismatched = [f"{k} {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in own.keys() & state_dict.keys()
                  if not isinstance(state_dict[k], torch.Tensor) or state_dict[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches: {_listing(mismatched)}")
    if problems:
        raise CheckpointError(f"{source}: state_dict does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(state_dict, strict=True)


def load_model(path, arch: Optional[str] = None, map_location="cpu") -> nn.Module:
    """Rebuild a model from a tsepn checkpoint, or from the authors' file with `arch` named."""
    data = read_checkpoint(path)
    if arch is not None:
        if arch not in AUTHORS_ARCHS:
            raise ValueError(f"unknown published architecture {arch!r}; known: {', '.join(AUTHORS_ARCHS)}")
        if data.get("format") == FORMAT:
            raise CheckpointError(f"{path}: is a tsepn checkpoint (model {data.get('model')!r}); load it without arch")
        model = build_model(arch)
        load_weights(model, to_tsepn_state_dict(arch, data["state_dict"]), f"{path} (as {arch})")
    else:
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a tsepn checkpoint (no format='tsepn'): for the authors' "
                                  f"published files name the architecture, arch=one of {', '.join(AUTHORS_ARCHS)}")
        name = data.get("model")
        if name not in MODELS:
            raise CheckpointError(f"{path}: model {name!r} is not registered; known: {', '.join(MODELS)}")
        args = data.get("model_args") or {}
        if not isinstance(args, dict):
            raise CheckpointError(f"{path}: model_args must be a dict, got {type(args).__name__}")
        model = build_model(name, **args)
        load_weights(model, data["state_dict"], str(path))
    return model.to(map_location)
