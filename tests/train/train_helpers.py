"""Toy models and data that follow tsepn's model and dataset contracts, small enough for CPU tests.

(A module of its own, not conftest.py: `from conftest import ...` resolves to whichever
test folder's conftest was imported first when several folders are collected together.)

The trainer reaches models only through tsepn.train.model_io; the `toys` fixture (conftest.py)
points it at the toy models below (and a plain torch.save file format).
"""
from __future__ import annotations

import numpy as np
import torch

from tsepn.config import from_dict
from tsepn.train.data import DATASETS
from tsepn.train.schema import TrainConfig, check_config

SR = 800


class ToyPosNeg(torch.nn.Module):
    """Siamese conv encoder + linear head + a conditioned causal FIR extractor (streaming)."""

    def __init__(self, channels=1, dim=4, taps=3, dropout=0.0):
        super().__init__()
        self.channels, self.dim, self.taps = channels, dim, taps
        self.encoder = torch.nn.Sequential(torch.nn.Conv1d(channels, dim, 8, stride=8), torch.nn.Dropout(dropout))
        self.head = torch.nn.Linear(2 * dim, dim)
        self.main = torch.nn.Linear(dim, taps)
        self.base = torch.nn.Parameter(torch.zeros(taps))  # also part of "main"
        self.cond_proj = torch.nn.Linear(dim, dim)  # "main", but applied in encode (like fusion keys)

    def param_groups(self):
        return {
            "encoder": list(self.encoder.parameters()),
            "head": list(self.head.parameters()),
            "main": list(self.main.parameters()) + [self.base] + list(self.cond_proj.parameters()),
        }

    def embed(self, pos, neg):
        p, n = self.encoder(pos), self.encoder(neg)  # [B, D, T']
        both = torch.cat([p, n.mean(-1, keepdim=True).expand_as(p)], dim=1)
        return self.head(both.transpose(1, 2)).transpose(1, 2)  # [B, D, T']

    def encode(self, pos, neg):
        return self.cond_proj(self.embed(pos, neg).mean(-1))  # [B, D]

    def init_state(self, batch_size):
        return torch.zeros(batch_size, self.channels, self.taps - 1, device=self.base.device)

    def forward(self, mix, cond, state=None):
        if state is None:
            state = self.init_state(mix.shape[0])
        taps = self.base + self.main(cond)  # [B, taps]
        padded = torch.cat([state, mix], dim=-1)
        frames = padded.unfold(-1, self.taps, 1)  # [B, C, T, taps]
        out = (frames * taps.flip(-1)[:, None, None, :]).sum(-1)
        return out, padded[..., -(self.taps - 1):]


class ToyTeacher(ToyPosNeg):
    """Embeds the clean enrollment only: encode(pos, neg) ignores neg."""

    inputs = ("mix", "pos")

    def embed_clean(self, pos_clean):
        e = self.encoder(pos_clean)
        return self.head(torch.cat([e, e], dim=1).transpose(1, 2)).transpose(1, 2)

    def encode(self, pos, neg=None):
        return self.cond_proj(self.embed_clean(pos).mean(-1))


class ToySpeakerNet(ToyPosNeg):
    """An end-to-end system whose training needs more than the waveform: speaker logits from
    the positive enrollment (group "speaker") next to the extractor (group "main")."""

    inputs = ("mix", "pos")

    def __init__(self, channels=1, dim=4, taps=3, dropout=0.0, speakers=3):
        super().__init__(channels, dim, taps, dropout)
        self.classifier = torch.nn.Linear(dim, speakers)

    def speaker_embedding(self, pos):
        return self.encoder(pos).mean(-1)  # [B, D]

    def encode(self, pos, neg=None):
        return self.cond_proj(self.speaker_embedding(pos))

    def param_groups(self):
        return {"speaker": list(self.encoder.parameters()) + list(self.classifier.parameters()),
                "main": list(self.head.parameters()) + list(self.main.parameters()) + [self.base]
                + list(self.cond_proj.parameters())}

    def train_outputs(self, inputs):
        embedding = self.speaker_embedding(inputs["pos"])
        out, _ = self(inputs["mix"], self.cond_proj(embedding))
        return {"wave": out, "speaker_logits": self.classifier(embedding), "speaker_embedding": embedding}


TOYS = {"toy_posneg": ToyPosNeg, "toy_teacher": ToyTeacher, "toy_speaker": ToySpeakerNet}


def toy_build(name, **args):
    model = TOYS[name](**args)
    model.toy_name, model.toy_args = name, dict(args)
    return model


def toy_save(path, model):
    from tsepn.fileio import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"model": model.toy_name, "model_args": model.toy_args, "state_dict": model.state_dict()}, tmp)


def toy_load(path, arch=None):
    data = torch.load(path, map_location="cpu", weights_only=True)
    model = toy_build(arch or data["model"], **data["model_args"])
    model.load_state_dict(data["state_dict"])
    return model


class ToyData(torch.utils.data.Dataset):
    """Items drawn from a per-index seed: a target tone plus an interferer and noise.

    `nan_at`: indices whose mixture is NaN; `interrupt_at_call`: the n-th item
    read (from 1) raises KeyboardInterrupt (a Ctrl-C in the middle of an epoch).
    """

    def __init__(self, size=8, seconds=0.5, seed=0, channels=1, nan_at=(), interrupt_at_call=None, speakers=0):
        self.size, self.n, self.seed, self.channels = size, int(seconds * SR), seed, channels
        self.speakers = speakers  # > 0: an int64 `spk` field (index % speakers; -1 for every 4th)
        self.nan_at, self.interrupt_at_call, self.calls = set(nan_at), interrupt_at_call, 0

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        self.calls += 1
        if self.calls == self.interrupt_at_call:
            raise KeyboardInterrupt("test interrupt")
        rng = np.random.default_rng(self.seed * 100_003 + index)
        t = np.arange(self.n) / SR
        tone = lambda: np.sin(2 * np.pi * rng.uniform(50, 300) * t + rng.uniform(0, 6))  # noqa: E731
        target_f = rng.uniform(60, 120)
        target = lambda: np.sin(2 * np.pi * target_f * t + rng.uniform(0, 6))  # noqa: E731
        ref, interferer = target(), tone() * 0.7
        noise = lambda: 0.1 * rng.standard_normal(self.n)  # noqa: E731
        clean_enroll, enroll_interf = target(), tone() * 0.7
        item = {
            "mix": ref + interferer + noise(),
            "ref": ref,
            "pos": clean_enroll + enroll_interf + noise(),
            "neg": enroll_interf + noise(),
            "pos_clean": clean_enroll,
        }
        item = {k: torch.tensor(np.tile(v, (self.channels, 1)), dtype=torch.float32) for k, v in item.items()}
        if index in self.nan_at:
            item["mix"][:] = float("nan")
        if self.speakers:
            item["spk"] = torch.tensor(-1 if index % 4 == 3 else index % self.speakers, dtype=torch.int64)
        item["key"] = f"toy{index:04d}"
        return item


if "toy" not in DATASETS:
    DATASETS.register("toy")(ToyData)


# The paper's three steps as tasks (tsepn.train.schema.TaskConf) for the toy models.
TASKS = {
    "teacher": {"kind": "extract", "inputs": {"mix": "mix", "pos": "pos_clean"}, "train": ["encoder", "head", "main"]},
    "distill": {"kind": "distill", "train": ["encoder", "head"]},
    "extract": {"kind": "extract", "train": ["main"]},
}
LOSSES = {
    "teacher": [{"name": "snr", "weight": 1.0}],
    "distill": [{"name": "mse", "weight": 1.0, "output": "embedding", "target": "teacher_embedding"}],
    "extract": [{"name": "snr", "weight": 1.0}],
}


def make_config(stage="extract", model="toy_posneg", model_args=None, distilled=None, teacher=None, **sections):
    """A TrainConfig for the toys: the task of `stage` (a TASKS key, or a task mapping);
    `distilled`: a stage-1 model file warm-starting encoder + head with buffers (stage 2);
    `teacher`: task.teacher.path; `sections` update the defaults section by section."""
    task = dict(TASKS[stage] if isinstance(stage, str) else stage)
    if teacher is not None:
        task["teacher"] = {"path": str(teacher)}
    data = {
        "task": task,
        "seed": 3,
        "model": {"name": model, "args": model_args or {}},
        "loss": LOSSES[stage] if isinstance(stage, str) else LOSSES["extract"],
        "optim": {"name": "adam", "lr": {"encoder": 1e-2, "head": 1e-2, "main": 1e-2}, "amsgrad": True,
                  "weight_decay": 1e-4},
        "scheduler": {"name": "plateau", "factor": 0.5, "patience": 2, "min_lr": 1e-5},
        "data": {"train": {"type": "toy", "args": {"size": 8}}, "valid": {"type": "toy", "args": {"size": 4, "seed": 9}},
                 "batch_size": 2, "valid_batch_size": 2, "num_workers": 0, "examples_per_epoch": 6},
        "train": {"epochs": 3, "sample_rate": SR, "chunk_seconds": 0.125, "save_every": 2, "keep_best": 2,
                  "max_bad_steps": 3, "device": "cpu", "tensorboard": False, "progress": False},
    }
    if distilled is not None:
        data["init"] = {"warm_start": [{"path": str(distilled), "groups": ["encoder", "head"], "buffers": True}]}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return check_config(from_dict(TrainConfig, data, source="<test>"))
