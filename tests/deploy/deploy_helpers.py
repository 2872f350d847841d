"""Helpers for the deploy tests: a tiny model directory with wav inputs."""
from __future__ import annotations

from pathlib import Path

from extract_helpers import noise, tiny_posneg, write_wav
from tsepn.models.checkpoint import save_model
from tsepn.modeldir import write_model_dir

SR = 8000


def make_model_dir(root: Path, onnx: bool = True, chunk_seconds=0.004, **model_options) -> Path:
    """root/models/my-model (tiny posneg, 8 kHz) + root/{mix,pos,neg}.wav (1.5 s, 1 s, 1 s)."""
    ckpt = root / "tiny.pt"
    save_model(ckpt, tiny_posneg(**model_options))
    (root / "config.yaml").write_text("model: {name: posneg}\n")
    model_dir = root / "models" / "my-model"
    write_model_dir(model_dir, ckpt, config=str(root / "config.yaml"), training_data="random weights (a test)",
                    chunk_seconds=chunk_seconds, onnx=onnx, check=False)
    for name, samples, seed in (("mix", 12000, 1), ("pos", 8000, 2), ("neg", 8000, 3)):
        write_wav(root / f"{name}.wav", noise(1, samples, seed), SR)
    return model_dir
