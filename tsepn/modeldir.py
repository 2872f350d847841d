"""Model directories: a trained model packaged for use (what `tsepn.load` reads).

    models/my-model/
      model.json      machine-readable card: format, model file, arch (authors' files), sample rate,
                      channels, streaming chunk, model name, parameter count, training data, scores
      model.pt        the checkpoint (tsepn format, or the authors' file with `arch` set)
      config.yaml     the training configuration (when known)
      README.md       the human-readable card: what the model is, what it was trained on, its scores,
                      and how to use it
      onnx/           optional tsepn-export graphs (manifest.json, enroll.onnx, step.onnx)

`write_model_dir` makes one (`tsepn-export` calls it); `read_model_dir` checks one. Everything
is local: nothing is fetched.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tsepn.fileio import atomic_path, write_text_atomic

CARD_FILE = "model.json"
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.yaml"
README_FILE = "README.md"
ONNX_DIR = "onnx"
FORMAT = "tsepn-model-dir-1"
SCORE_COLUMNS = ("si_snri", "sdri", "snri", "pesq", "stoi", "estoi", "wrong_speaker_rate")


class ModelDirError(ValueError):
    """A model directory that is incomplete or inconsistent; the message names the file."""


def read_model_dir(path) -> dict:
    path = Path(path)
    card_path = path / CARD_FILE
    if not card_path.is_file():
        raise ModelDirError(f"{path}: not a model directory (no {CARD_FILE})")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as err:
        raise ModelDirError(f"{card_path}: not valid JSON: {err}") from None
    if card.get("format") != FORMAT:
        raise ModelDirError(f"{card_path}: format {card.get('format')!r}, expected {FORMAT!r}")
    model_file = card.get("model_file")
    if not isinstance(model_file, str) or not (path / model_file).is_file():
        raise ModelDirError(f"{card_path}: model_file {model_file!r} does not exist in {path}")
    return card


def export_dir_of(path) -> Optional[Path]:
    """The tsepn-export folder of a model directory (its onnx/), or the folder itself if it is one."""
    path = Path(path)
    for candidate in (path / ONNX_DIR, path):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def read_scores(paths: Sequence[str]) -> Dict[str, dict]:
    """`NAME=summary.json` or `summary.json` (named by its folder) -> {name: {column: mean}}."""
    scores = {}
    for item in paths:
        name, _, file = item.rpartition("=") if "=" in item else ("", "", item)
        file = Path(file)
        if file.is_dir():
            file = file / "summary.json"
        if not file.is_file():
            raise ModelDirError(f"{file}: no such scoring summary")
        summary = json.loads(file.read_text())
        name = name or file.parent.name.removeprefix("score_")
        row = {}
        for column in SCORE_COLUMNS:
            value = summary.get(column)
            if isinstance(value, dict) and value.get("mean") is not None:
                row[column] = float(value["mean"])
            elif isinstance(value, (int, float)):
                row[column] = float(value)
        row["n"] = summary.get("n_examples")
        scores[name] = row
    return scores


def _readme(card: dict) -> str:
    lines = [f"# {card['name']}", "",
             f"tsepn model `{card['model']}`" + (f" (the authors' `{card['arch']}` file)" if card.get("arch") else "")
             + f": {card['parameters']:,} parameters, {card['sample_rate']} Hz, {card['channels']} channel(s), "
             + ("streaming" + (f" in {card['chunk_seconds']} s chunks" if card.get("chunk_seconds") else "")
                if card["streaming"] else "not streaming (long input runs in overlapping windows)")
             + (f", latency {card['latency']} samples" if card.get("latency") else "") + ".", "",
             "## Training data", "", card.get("training_data") or "Not recorded.", ""]
    lines += ["## Scores", ""]
    scores = card.get("scores") or {}
    if scores:
        columns = [c for c in SCORE_COLUMNS if any(c in row for row in scores.values())]
        lines.append("| set | " + " | ".join(columns) + " | n |")
        lines.append("|---" * (len(columns) + 2) + "|")
        for name, row in scores.items():
            cells = [f"{row[c]:.2f}" if c in row else "" for c in columns]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {row.get('n') or ''} |")
    else:
        lines.append("Not recorded.")
    lines += ["", "## Use", "", "```python", "import tsepn",
              'tse = tsepn.load("path/to/this/folder")',
              "out = tse.extract(mix, pos, neg)   # numpy or torch, [T] or [channels, T]",
              "```", "", "```", "tsepn-extract --checkpoint path/to/this/folder --mix mix.wav --pos pos.wav "
              "--neg neg.wav --out out.wav", "```", ""]
    if card.get("onnx"):
        lines += [f"ONNX graphs in `{ONNX_DIR}/` (`tsepn.load(path, backend=\"onnx\")`, or "
                  "`tsepn-extract --backend onnx`).", ""]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(card.get("versions", {}).items())), ""]
    return "\n".join(lines)


def write_model_dir(out_dir, checkpoint, arch: Optional[str] = None, name: Optional[str] = None,
                    config: Optional[str] = None, training_data: Optional[str] = None,
                    scores: Sequence[str] = (), chunk_seconds: Optional[float] = None,
                    onnx: bool = True, check: bool = True) -> dict:
    """Package `checkpoint` into `out_dir` (see the module docstring); returns the card."""
    import torch

    import tsepn
    from tsepn.models.checkpoint import load_model

    checkpoint = Path(checkpoint)
    out_dir = Path(out_dir)
    model = load_model(checkpoint, arch=arch)
    if config is None and (checkpoint.parent / CONFIG_FILE).is_file():
        config = str(checkpoint.parent / CONFIG_FILE)
    streaming = model.init_state(1) is not None
    if onnx:
        from tsepn.export import ExportError, streaming_problem

        problem = streaming_problem(model)
        if problem is not None:  # before writing anything: no half-made directory
            raise ExportError(f"cannot export the streaming step: {problem}")
    card = {
        "format": FORMAT,
        "name": name or out_dir.name,
        "model": getattr(model, "tsepn_name", type(model).__name__),
        "arch": arch,
        "model_file": MODEL_FILE,
        "config_file": CONFIG_FILE if config else None,
        "sample_rate": int(getattr(model, "sample_rate", 16000)),
        "channels": int(getattr(model, "in_channels", 1)),
        "streaming": streaming,
        "latency": int(getattr(model, "latency", 0)),
        "chunk_seconds": chunk_seconds if streaming else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "training_data": training_data,
        "scores": read_scores(scores),
        "onnx": None,
        "versions": {"tsepn": tsepn.__version__, "torch": str(torch.__version__)},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        shutil.copyfile(checkpoint, tmp)
    if config:
        with atomic_path(out_dir / CONFIG_FILE) as tmp:
            shutil.copyfile(config, tmp)
    if onnx:
        from tsepn.export import DEFAULT_CHUNK_SECONDS, export_model

        manifest = export_model(model, out_dir / ONNX_DIR, chunk_seconds=chunk_seconds or DEFAULT_CHUNK_SECONDS,
                                model_name=card["model"], check=check)
        card["onnx"] = {"dir": ONNX_DIR, "chunk_seconds": manifest["chunk_seconds"],
                        "check": manifest.get("check")}
    write_text_atomic(out_dir / README_FILE, _readme(card))
    write_text_atomic(out_dir / CARD_FILE, json.dumps(card, indent=1) + "\n")
    return card


def list_scores(card: dict) -> List[str]:
    return sorted((card.get("scores") or {}).keys())
