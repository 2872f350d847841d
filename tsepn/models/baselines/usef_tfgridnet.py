"""USEF-TFGridNet: speaker-embedding-free TSE (Zeng et al., "USEF-TSE", 2024), the paper's baseline.

No speaker embedding: the enrollment goes through the same encoder as the mixture (conv of
the STFT of the std-normalised signal), the mixture frames cross-attend to the enrollment
frames (multi-head full-band attention), the result is concatenated with the mixture
features (early fusion) and refined by TF-GridNet blocks:

    E = conv(STFT(pos / std(pos)))                      # [B, emb, T_enr, F], once per utterance
    X = conv(STFT(mix / std(mix)))                      # [B, emb, T, F]
    Y = GridNetV2 blocks(cat[X, att(X, E)])             # [B, 2 emb, T, F]
    out = iSTFT(deconv(Y)) * std(mix)

Every part is the improved model's (tsepn.models.early_fusion.EarlyFusionExtractor): the
improved model is this architecture with a pos/neg siamese encoder + head in place of the
shared conv on one enrollment. A clean-enrollment system: it reads one enrollment from
`pos` (the noisy positive enrollment, as in the paper's table, or a clean one) and ignores
`neg`. Non-causal and not streaming (every call is a whole signal).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn as nn

from tsepn.models.common import check_audio
from tsepn.models.early_fusion import EarlyFusionExtractor
from tsepn.models.encoder import STD_FLOOR
from tsepn.models.extractor import Conditioning
from tsepn.models.registry import MODELS


@MODELS.register("usef_tfgridnet")
class USEFTFGridNet(EarlyFusionExtractor):
    """Defaults: the extractor sizes of the authors' improved model (STFT 128 / 64, 64 channels
    concatenated to 128, 3 TF-GridNetV2 blocks, LSTM 64, 4 heads), the paper's baseline setting."""

    inputs = ("mix", "pos")

    def __init__(self, channels: int = 1, n_fft: int = 128, hop: int = 64, emb_dim: int = 64, lstm_hidden: int = 64,
                 n_heads: int = 4, approx_qk_dim: int = 512, n_layers: int = 3, eps: float = 1e-5,
                 sample_rate: int = 16000):
        super().__init__()
        self._build_extractor(channels, n_fft, hop, emb_dim, lstm_hidden, n_heads, approx_qk_dim, n_layers, eps,
                              sample_rate)

    def embed(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The enrollment frames [B, emb_dim, T_enr, F] the mixture attends to (`neg` ignored)."""
        check_audio(pos, "enrollment", self.in_channels)
        pos = self._pad_short(pos)
        std = pos.std(dim=(1, 2), keepdim=True).clamp_min(STD_FLOOR)
        return self.features(pos / std)

    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> Conditioning:
        return Conditioning(embedding=self.embed(pos), fusion=[])

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {"main": list(self.parameters())}
