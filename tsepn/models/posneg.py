"""The proposed model: target speaker extraction from a noisy positive/negative enrollment pair."""
from __future__ import annotations

import copy
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from tsepn.models.base import TSEModule
from tsepn.models.common import compare_enrollments, enrollment_encoder, init_args
from tsepn.models.extractor import Conditioning, StreamingExtractor
from tsepn.models.head import EncoderHead
from tsepn.models.registry import MODELS
from tsepn.models.upstream import PRESETS


@MODELS.register("posneg")
class PosNegTSE(StreamingExtractor, TSEModule):
    """Siamese TF-GridNet encoder + attention head on (pos, neg), fused into a causal streaming TF-GridNet.

    Usage: `cond = model.encode(pos, neg)` once per utterance, then
    `out, state = model(chunk, cond, state)` for each chunk of the mixture (state=None
    starts a stream); `model.embed(pos, neg)` is the stage-1 embedding [B, C, T_pos, F].

    Streaming behaviour is set by two options (details in tsepn.models.extractor):
    - normalization="per_call" (the authors'): every call is divided by its own std and the
      output multiplied back, so chunked output differs from one whole call (the published
      models were trained and evaluated like this; `out_chunked_1s` of the fixtures);
      "enrollment": divided by the positive enrollment's std, fixed per utterance;
      "none": no normalisation.
    - framing="upstream" (the authors'): each call frames only its own samples (no delay,
      frame grid restarts at every call); "streaming": the frame grid and overlap-add run
      on across calls, output delayed by `latency` = n_fft - hop samples.
    With framing="streaming" and normalization "enrollment" or "none", feeding the mixture
    in any hop-multiple chunks gives exactly the output of one whole call.
    """

    inputs = ("mix", "pos", "neg")
    streaming = True

    def __init__(self, channels: int = 1, n_fft: int = 128, hop: int = 64, n_layers: int = 3, lstm_hidden: int = 64,
                 emb_dim: int = 64, n_heads: int = 4, approx_qk_dim: int = 512, attention_span: int = 50,
                 fusion: str = "cross_attention", fusion_layers: Sequence[int] = (0, 1),
                 fusion_args: Optional[Dict] = None, normalization: str = "per_call", framing: str = "upstream",
                 encoder_channels: int = 2, encoder_layers: int = 3, encoder_lstm_hidden: int = 64,
                 encoder_emb_dim: int = 64, encoder_emb_ks: int = 4, encoder_emb_hs: int = 1,
                 head_layers: int = 2, head_heads: int = 4, eps: float = 1e-5, sample_rate: int = 16000):
        super().__init__()
        self.init_args = init_args(locals())
        self.sample_rate = sample_rate
        self._build_extractor(channels, n_fft, hop, n_layers, lstm_hidden, emb_dim, n_heads, approx_qk_dim,
                              attention_span, fusion, fusion_layers, fusion_args, encoder_emb_dim, normalization,
                              framing, eps)
        self.encoder = enrollment_encoder(self.init_args)
        self.encoder_head = EncoderHead(encoder_emb_dim, self.n_freqs, n_layers=head_layers, n_heads=head_heads,
                                        approx_qk_dim=approx_qk_dim, eps=eps)

    def embedding_features(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(pos [B, C, Np], neg [B, C, Nn]) -> channels-last embedding [B, T_pos, F, C_emb]."""
        return compare_enrollments(self.encoder, self.encoder_head, pos, neg, self.in_channels)

    def embed(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The stage-1 (distilled) embedding [B, C_emb, T_pos, F]."""
        return self.embedding_features(pos, neg).permute(0, 3, 1, 2)

    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> Conditioning:
        """Everything the extractor needs from the enrollments, computed once per utterance."""
        return self.prepare_fusions(self.embedding_features(pos, neg), pos)

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {"encoder": list(self.encoder.parameters()), "head": list(self.encoder_head.parameters()),
                "main": self.main_parameters()}


def _preset(args: dict):
    def build(**overrides) -> PosNegTSE:
        return PosNegTSE(**{**copy.deepcopy(args), **overrides})

    return build


for _name, _args in PRESETS.items():
    MODELS.register(_name)(_preset(_args))
