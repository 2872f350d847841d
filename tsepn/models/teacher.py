"""The teacher: target speaker extraction from a clean, target-only enrollment.

Same TF-GridNet encoder architecture as the pos/neg model, applied to the clean positive
enrollment alone (no negative, no head), fused into the same streaming extractor. Once
trained, `embed_clean(pos_clean)` is the target that the student's `embed(pos, neg)`
learns to reproduce in stage 1 (same shape [B, C_emb, T_pos, F]).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from tsepn.models.base import TSEModule
from tsepn.models.common import check_audio, enrollment_encoder, grad_only_if_trainable, init_args
from tsepn.models.extractor import Conditioning, StreamingExtractor
from tsepn.models.registry import MODELS


@MODELS.register("teacher")
class TeacherTSE(StreamingExtractor, TSEModule):
    """Clean-enrollment TSE; `encode(pos_clean)` / forward as PosNegTSE (negative ignored)."""

    inputs = ("mix", "pos")  # `pos`: a clean target-only enrollment (training maps it from pos_clean)
    streaming = True

    def __init__(self, channels: int = 1, n_fft: int = 128, hop: int = 64, n_layers: int = 3, lstm_hidden: int = 64,
                 emb_dim: int = 64, n_heads: int = 4, approx_qk_dim: int = 512, attention_span: int = 50,
                 fusion: str = "cross_attention", fusion_layers: Sequence[int] = (0, 1),
                 fusion_args: Optional[Dict] = None, normalization: str = "per_call", framing: str = "upstream",
                 encoder_channels: int = 2, encoder_layers: int = 3, encoder_lstm_hidden: int = 64,
                 encoder_emb_dim: int = 64, encoder_emb_ks: int = 4, encoder_emb_hs: int = 1,
                 eps: float = 1e-5, sample_rate: int = 16000):
        super().__init__()
        self.init_args = init_args(locals())
        self.sample_rate = sample_rate
        self._build_extractor(channels, n_fft, hop, n_layers, lstm_hidden, emb_dim, n_heads, approx_qk_dim,
                              attention_span, fusion, fusion_layers, fusion_args, encoder_emb_dim, normalization,
                              framing, eps)
        self.encoder = enrollment_encoder(self.init_args)

    def clean_features(self, pos_clean: torch.Tensor) -> torch.Tensor:
        check_audio(pos_clean, "clean positive enrollment", self.in_channels)
        with grad_only_if_trainable(self.encoder):
            return self.encoder.features(pos_clean)

    def embed_clean(self, pos_clean: torch.Tensor) -> torch.Tensor:
        """The distillation target [B, C_emb, T, F] for the student's embed(pos, neg)."""
        return self.clean_features(pos_clean).permute(0, 3, 1, 2)

    def embed(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.embed_clean(pos)

    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> Conditioning:
        """`pos` is the clean target-only enrollment; `neg` is accepted for the common contract and ignored."""
        return self.prepare_fusions(self.clean_features(pos), pos)

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {"encoder": list(self.encoder.parameters()), "main": self.main_parameters()}
