"""Tiny sizes of the baseline systems and shared checks (a module, not conftest: see tests/train/train_helpers.py)."""
from __future__ import annotations

import torch

from tsepn.models import build_model
from tsepn.models.base import check_model

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
