"""Training checkpoints: everything an exact resume needs, loadable with weights_only=True.

A training checkpoint is a dict of tensors and plain Python values:
    {"format": "tsepn-train", "model": name, "model_args": {...}, "state_dict": ...,
     "optimizer": ..., "scheduler": ..., "scaler": ..., "rng": {...},
     "epoch": completed epochs, "step": optimizer steps, "best": {...}, "top": [...],
     "history": [per-epoch records]}
Files are written to a temporary name and renamed (tsepn.fileio.atomic_path),
and never from non-finite weights, so a crash or a diverged run leaves what
was saved before intact.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch

from tsepn.fileio import atomic_path

log = logging.getLogger(__name__)

FORMAT = "tsepn-train"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read as asked; the message names the file."""


# --------------------------------------------------------------------------- RNG states
def rng_state() -> Dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states as tensors and plain values."""
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached),
        },
        "python": {"version": int(py_version), "internal": list(py_internal), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((
        np_state["name"],
        np_state["keys"].numpy().astype(np.uint32),
        np_state["pos"],
        np_state["has_gauss"],
        np_state["cached_gaussian"],
    ))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- weights
def non_finite_parameters(module_or_state) -> List[str]:
    """Names of floating-point tensors holding NaN or Inf."""
    state = module_or_state.state_dict() if isinstance(module_or_state, torch.nn.Module) else module_or_state
    return [
        name for name, value in state.items()
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]


def check_finite(module_or_state, what: str) -> None:
    bad = non_finite_parameters(module_or_state)
    if bad:
        shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise CheckpointError(f"{what}: refusing to save non-finite weights ({len(bad)} tensors: {shown})")


def cpu_state_dict(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


# --------------------------------------------------------------------------- files
def save_checkpoint(path, checkpoint: Dict[str, Any]) -> None:
    """Write a training checkpoint atomically; non-finite weights are refused."""
    check_finite(checkpoint["state_dict"], str(path))
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def load_checkpoint(path) -> Dict[str, Any]:
    """Read a training checkpoint with weights_only=True; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise CheckpointError(f"{path}: not a readable checkpoint: {err}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tsepn training checkpoint (format != {FORMAT!r})")
    return checkpoint


# --------------------------------------------------------------------------- best K
def update_top(top: Sequence[Sequence[float]], epoch: int, loss: float, keep: int):
    """Add (loss, epoch) to the K best; returns (new list, epochs that fell out)."""
    entries = sorted([(float(l), int(e)) for l, e in top] + [(float(loss), int(epoch))])
    kept, dropped = entries[:keep], entries[keep:]
    return [[l, e] for l, e in kept], [e for _, e in dropped]


def average_state_dicts(states: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Element-wise mean of floating-point tensors; other tensors are taken from the first."""
    if not states:
        raise ValueError("average_state_dicts: nothing to average")
    keys = list(states[0])
    for i, state in enumerate(states[1:], start=1):
        if list(state) != keys:
            raise ValueError(f"average_state_dicts: state {i} has different keys from state 0")
    averaged = {}
    for key in keys:
        first = states[0][key]
        if torch.is_tensor(first) and first.is_floating_point():
            total = torch.zeros_like(first, dtype=torch.float64)
            for state in states:
                total += state[key].to(torch.float64)
            averaged[key] = (total / len(states)).to(first.dtype)
        else:
            averaged[key] = first
    return averaged


def average_model_files(paths: Iterable, out_path) -> None:
    """Average tsepn model files (tsepn.models.checkpoint format) into one model file."""
    from tsepn.train import model_io

    paths = [Path(p) for p in paths]
    if not paths:
        raise CheckpointError(f"{out_path}: no model files to average")
    models = [model_io.load_model(p) for p in paths]
    model = models[0]
    averaged = average_state_dicts([m.state_dict() for m in models])
    check_finite(averaged, str(out_path))
    model.load_state_dict(averaged)
    model_io.save_model(out_path, model)
    log.info("averaged %d model files into %s", len(paths), out_path)


def best_model_paths(exp_dir, num: int) -> List[Path]:
    """The model snapshots of the `num` best epochs recorded in exp_dir's last checkpoint."""
    exp_dir = Path(exp_dir)
    checkpoint = load_checkpoint(exp_dir / "checkpoints" / "last.pt")
    top = checkpoint.get("top", [])
    if len(top) < num:
        raise CheckpointError(
            f"{exp_dir}: {len(top)} best-epoch snapshots kept (train.keep_best), {num} asked for"
        )
    paths = [snapshot_path(exp_dir, int(epoch)) for _, epoch in top[:num]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CheckpointError(f"{exp_dir}: snapshot(s) missing: {', '.join(missing)}")
    return paths


def snapshot_path(exp_dir, epoch: int) -> Path:
    return Path(exp_dir) / "checkpoints" / f"epoch{epoch}.model.pt"
