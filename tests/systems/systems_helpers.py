"""Tiny sizes of every system, shared checks, and a toy 16-kHz dataset with every batch field they read.

(A module of its own, not conftest.py, for the same reason as tests/train/train_helpers.py.)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tsepn.models import build_model
from tsepn.models.base import check_model
from tsepn.train.data import DATASETS

SR = 16000
REPO = Path(__file__).resolve().parents[2]
SYSTEMS_DIR = REPO / "egs" / "librispeech_wham" / "mono" / "conf" / "systems"

TINY = {
    "usef_tfgridnet": dict(n_fft=64, hop=32, emb_dim=8, lstm_hidden=8, n_heads=2, approx_qk_dim=32, n_layers=1),
    "td_speakerbeam": dict(channel=16, kernel_size=16, stride=8, layer=2, stack=1, bottleneck_dim=8, hidden_dim=16,
                           skip_dim=8, i_adapt_layer=1, adapt_enroll_dim=8),
    "voicefilter": dict(num_speakers=5, n_fft=128, win=128, hop=64, conv_channels=4, conv_out_channels=2,
                        dilations=[1, 2], lstm_hidden=8, fc_dim=8, dvector_mels=16, dvector_hidden=8,
                        dvector_layers=1, dvector_dim=4),
    "nmf": dict(n_fft=128, hop=64, pos_bases=3, neg_bases=3, iterations=20),
    "teacher": dict(n_fft=128, hop=64, n_layers=1, fusion_layers=[0], lstm_hidden=8, emb_dim=8, n_heads=2,
                    approx_qk_dim=32, attention_span=10, fusion="film", fusion_args={}, encoder_layers=1,
                    encoder_lstm_hidden=8, encoder_emb_dim=8, encoder_emb_ks=1),
}


def tone(rng, f0: float, n: int) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in (1, 2, 3))


class SystemsToyData(torch.utils.data.Dataset):
    """Target = a harmonic tone of the speaker's pitch (speaker index % speakers), interferer = another
    tone, a little noise; every field of tsepn's dataset items (mix ref pos neg pos_clean enroll_clean spk key)."""

    def __init__(self, size: int = 4, seconds: float = 0.25, seed: int = 0, speakers: int = 5):
        self.size, self.n, self.seed, self.speakers = size, int(seconds * SR), seed, speakers

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, index])
        spk = index % self.speakers
        f0 = 120.0 + 40.0 * spk
        other = f0 + rng.uniform(150, 300)
        noise = lambda: 0.05 * rng.standard_normal(self.n)  # noqa: E731
        ref, pos_clean, enroll_clean = tone(rng, f0, self.n), tone(rng, f0, self.n), tone(rng, f0, self.n)
        interferer, enroll_interferer = 0.7 * tone(rng, other, self.n), 0.7 * tone(rng, other + 37, self.n)
        item = {"mix": ref + interferer + noise(), "ref": ref, "pos": pos_clean + enroll_interferer + noise(),
                "neg": enroll_interferer + noise(), "pos_clean": pos_clean, "enroll_clean": enroll_clean}
        item = {k: torch.tensor(0.1 * v[None], dtype=torch.float32) for k, v in item.items()}
        item["spk"] = torch.tensor(spk, dtype=torch.int64)
        item["key"] = f"toy{index:03d}"
        return item


if "systems_toy" not in DATASETS:
    DATASETS.register("systems_toy")(SystemsToyData)

TOY_DATA = {"train": {"type": "systems_toy", "args": {"size": 4}},
            "valid": {"type": "systems_toy", "args": {"size": 2, "seed": 7}},
            "batch_size": 2, "valid_batch_size": 2, "num_workers": 0}
TOY_TRAIN = {"epochs": 1, "sample_rate": SR, "chunk_seconds": None, "save_every": 1, "keep_best": 1,
             "max_bad_steps": 3, "device": "cpu", "threads": 1, "tensorboard": False, "progress": False}


def toy_config(raw: dict, **sections) -> dict:
    """A recipe config (raw YAML mapping) made to run on the toy data in seconds."""
    raw = dict(raw, data=dict(TOY_DATA), train=dict(TOY_TRAIN))
    raw.update(sections)
    return raw


SPEX_TINY = dict(windows=[8, 32, 64], filters=16, tcn_channels=16, tcn_hidden=32, stacks=2, blocks=2,
                 resnet_channels=32, embedding_dim=16, num_speakers=5)
SPECTRON_TINY = dict(filters=16, window=16, chunk=20, blocks=1, intra_layers=1, inter_layers=1, heads=2, ffn=32,
                     speaker_layers=1, embedding_dim=16, num_speakers=5)
MBRNN_TINY = dict(n_fft=128, hop=64, embedding_dim=16, speaker_hidden=16, speaker_layers=1, pitch_hidden=16,
                  pitch_layers=1, latent=16, hidden=16, blocks=2, gru_layers=2, num_speakers=5)
MIX, ENROLL = 4000, 3000


def audio(batch, samples, seed=0):
    return torch.randn(batch, 1, samples, generator=torch.Generator().manual_seed(seed))


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def check_interface_and_gradients(name, args, inputs=None):
    """The interface, encode + forward shapes, and one backward of the training outputs that
    reaches every parameter of every group; returns the model and its training outputs."""
    model = build_model(name, **args)
    check_model(model)
    groups = model.param_groups()
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    inputs = inputs or {"mix": audio(2, MIX), "pos": audio(2, ENROLL, seed=1)}
    outputs = model.train_outputs(inputs)
    assert outputs["wave"].shape == (2, 1, MIX)
    loss = sum(v.float().pow(2).mean() for v in outputs.values() if v.requires_grad)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    model.eval()
    with torch.no_grad():
        out, state = model(inputs["mix"], model.encode(inputs["pos"]), model.init_state(2))
    assert out.shape == (2, 1, MIX) and state is None
    return model, outputs, no_grad
