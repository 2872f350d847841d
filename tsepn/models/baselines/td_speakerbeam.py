"""TD-SpeakerBeam (Delcroix et al., 2020) through ESPnet's implementation.

ESPnet's `ConvEncoder` (learned 1-D conv filterbank + ReLU), `TDSpeakerBeamExtractor`
(a Conv-TasNet TCN whose `i_adapt_layer`-th block is scaled by the enrollment embedding:
multiplicative adaptation; the auxiliary network, a one-stack TCN over the enrollment's
encoded frames, averaged over time, makes that embedding) and `ConvDecoder` (transposed
conv), imported, not rewritten:

    emb  = mean_t aux_net(encoder(pos))                 # once per utterance
    mask = tcn(encoder(mix), emb)                       # TCN with the adaptation layer
    out  = decoder(encoder(mix) * mask)

`encode` runs the auxiliary network once and `forward` the adapted TCN, the same
computation as `TDSpeakerBeamExtractor.forward` on full-length inputs (checked in
tests/systems). Parameter groups: `speaker` (the auxiliary network) and `main`. A
clean-enrollment system: one enrollment in `pos`, `neg` ignored. Mono; not streaming.
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional

import torch
import torch.nn as nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from espnet2.enh.decoder.conv_decoder import ConvDecoder
    from espnet2.enh.encoder.conv_encoder import ConvEncoder
    from espnet2.enh.extractor.td_speakerbeam_extractor import TDSpeakerBeamExtractor

from tsepn.models.base import TSEModule
from tsepn.models.common import check_audio
from tsepn.models.registry import MODELS


@MODELS.register("td_speakerbeam")
class TDSpeakerBeam(TSEModule):
    """Defaults: ESPnet's Libri2Mix TD-SpeakerBeam recipe (egs2/librimix/tse1,
    train_enh_tse_td_speakerbeam.yaml): conv encoder/decoder 256 filters, kernel 32, stride 16;
    TCN 8 layers x 4 stacks, bottleneck 256, hidden 512, skip 256, kernel 3, gLN, ReLU mask;
    multiplicative adaptation after block 7 with a 256-dim enrollment embedding."""

    inputs = ("mix", "pos")
    streaming = False

    def __init__(self, channel: int = 256, kernel_size: int = 32, stride: int = 16, layer: int = 8, stack: int = 4,
                 bottleneck_dim: int = 256, hidden_dim: int = 512, skip_dim: int = 256, kernel: int = 3,
                 causal: bool = False, norm_type: str = "gLN", nonlinear: str = "relu", i_adapt_layer: int = 7,
                 adapt_layer_type: str = "mul", adapt_enroll_dim: int = 256, sample_rate: int = 16000):
        super().__init__()
        if adapt_layer_type == "mul" and adapt_enroll_dim != bottleneck_dim:
            raise ValueError(f"adapt_layer_type mul scales the bottleneck: adapt_enroll_dim ({adapt_enroll_dim}) "
                             f"must equal bottleneck_dim ({bottleneck_dim})")
        if not 0 <= i_adapt_layer < layer * stack:
            raise ValueError(f"i_adapt_layer {i_adapt_layer} is not a block of the TCN (0..{layer * stack - 1})")
        self.sample_rate = sample_rate
        self.kernel_size, self.stride = kernel_size, stride
        self.encoder = ConvEncoder(channel=channel, kernel_size=kernel_size, stride=stride)
        self.extractor = TDSpeakerBeamExtractor(
            input_dim=channel, layer=layer, stack=stack, bottleneck_dim=bottleneck_dim, hidden_dim=hidden_dim,
            skip_dim=skip_dim, kernel=kernel, causal=causal, norm_type=norm_type, nonlinear=nonlinear,
            i_adapt_layer=i_adapt_layer, adapt_layer_type=adapt_layer_type, adapt_enroll_dim=adapt_enroll_dim)
        self.decoder = ConvDecoder(channel=channel, kernel_size=kernel_size, stride=stride)

    def _frames(self, audio: torch.Tensor, name: str):
        """[B, 1, N] -> (encoded [B, L, channel], padded length): padded so that the frames cover N."""
        check_audio(audio, name, 1)
        length = audio.shape[-1]
        frames = max(1, -(-max(length - self.kernel_size, 0) // self.stride) + 1)
        padded = (frames - 1) * self.stride + self.kernel_size
        wave = nn.functional.pad(audio[:, 0], (0, padded - length))
        lens = torch.full((wave.shape[0],), padded, dtype=torch.long, device=wave.device)
        feats, _ = self.encoder(wave, lens)
        return feats, padded

    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The enrollment embedding [B, adapt_enroll_dim (x2 with skip connections)] (`neg` ignored)."""
        feats, _ = self._frames(pos, "enrollment")
        return self.extractor.auxiliary_net(feats.transpose(1, 2)).squeeze(1).mean(dim=-1)

    def forward(self, mix: torch.Tensor, cond: torch.Tensor, state=None):
        feats, padded = self._frames(mix, "mix")
        mask = self.extractor.tcn(feats.transpose(1, 2), cond).transpose(1, 2)
        lens = torch.full((feats.shape[0],), padded, dtype=torch.long, device=feats.device)
        wave, _ = self.decoder(feats * mask, lens)
        return wave[:, None, : mix.shape[-1]], state

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        speaker = list(self.extractor.auxiliary_net.parameters())
        ids = {id(p) for p in speaker}
        return {"speaker": speaker, "main": [p for p in self.parameters() if id(p) not in ids]}
