"""Helpers shared by several models (the enrollment side of posneg, teacher and improved)."""
from __future__ import annotations

import contextlib
from typing import Optional

import torch
import torch.nn as nn

from tsepn.models.encoder import SiameseEncoder


def init_args(values: dict) -> dict:
    """Constructor arguments as plain data (lists, not tuples) for checkpoints."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items() if k not in ("self", "__class__")}


def grad_only_if_trainable(module: nn.Module):
    """Skip building an autograd graph through a frozen module (saves time and memory)."""
    trainable = any(p.requires_grad for p in module.parameters())
    return contextlib.nullcontext() if trainable else torch.no_grad()


def check_audio(x: torch.Tensor, name: str, channels: int) -> None:
    if x.dim() != 3 or x.shape[1] != channels:
        raise ValueError(f"{name} must be [batch, {channels}, samples], got shape {tuple(x.shape)}")


def enrollment_encoder(args: dict) -> SiameseEncoder:
    """The siamese encoder of PosNegTSE and TeacherTSE, built from their constructor arguments (`init_args`).

    Mono input is duplicated across the encoder's channels, so the model takes mono or
    `encoder_channels`-channel audio.
    """
    channels, encoder_channels = args["channels"], args["encoder_channels"]
    if channels not in (1, encoder_channels):
        raise ValueError(f"a {encoder_channels}-channel encoder takes mono or {encoder_channels}-channel "
                         f"enrollments, not {channels}")
    return SiameseEncoder(in_channels=encoder_channels, n_fft=args["n_fft"], hop=args["hop"],
                          n_layers=args["encoder_layers"], lstm_hidden=args["encoder_lstm_hidden"],
                          emb_dim=args["encoder_emb_dim"], emb_ks=args["encoder_emb_ks"],
                          emb_hs=args["encoder_emb_hs"], n_heads=args["n_heads"],
                          approx_qk_dim=args["approx_qk_dim"], eps=args["eps"])


def compare_enrollments(encoder: SiameseEncoder, head: nn.Module, pos: torch.Tensor, neg: Optional[torch.Tensor],
                        channels: int) -> torch.Tensor:
    """(pos [B, C, Np], neg [B, C, Nn]) -> head(encoder(pos), encoder(neg)), channels-last [B, T_pos, F, C_emb].

    The same encoder embeds both enrollments (one batched pass when their shapes agree);
    frozen modules build no autograd graph.
    """
    if neg is None:
        raise ValueError("this model compares a positive with a negative enrollment: neg is required")
    check_audio(pos, "positive enrollment", channels)
    check_audio(neg, "negative enrollment", channels)
    if pos.shape[0] != neg.shape[0]:
        raise ValueError(f"positive and negative batch sizes differ: {pos.shape[0]} vs {neg.shape[0]}")
    with grad_only_if_trainable(encoder):
        if pos.shape == neg.shape:  # one batched pass through the shared encoder
            pos_emb, neg_emb = encoder.features(torch.cat([pos, neg])).chunk(2)
        else:
            pos_emb, neg_emb = encoder.features(pos), encoder.features(neg)
    with grad_only_if_trainable(head):
        return head(pos_emb, neg_emb)
