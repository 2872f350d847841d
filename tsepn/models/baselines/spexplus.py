"""SpEx+ (Ge et al., Interspeech 2020): time-domain target speaker extraction with a shared
multi-scale encoder.

    model = build_model("spexplus", num_speakers=251)
    cond = model.encode(pos)                  # the reference utterance -> speaker embedding [B, D]
    out, _ = model(mix, cond)                 # [B, 1, T], the whole mixture at once
    outs = model.train_outputs({"mix": mix, "pos": pos})
    # {"wave", "wave_middle", "wave_long", "speaker_logits", "speaker_embedding"}

Parts (the paper's names and default sizes):
- Multi-scale speech encoder, shared by the mixture and the reference: three 1-D
  convolutions with short / middle / long windows (L1, L2, L3 samples; 20, 80, 160 at
  8 kHz in the paper, doubled here for 16 kHz) and one stride (L1 / 2), each N filters,
  ReLU; the longer windows see the same frame starts (the signal is padded on the right).
- Speaker encoder: the reference's multi-scale encoding -> channel layer norm -> 1x1 conv
  -> three ResNet blocks (BN, PReLU, max-pool by 3) -> 1x1 conv to D -> mean over time
  = the speaker embedding; a linear layer on it gives logits over the training speakers
  (the cross-entropy term).
- Speaker extractor: layer norm + 1x1 conv of the mixture encoding, then `stacks` TCN
  stacks of `blocks` dilated depthwise-separable conv blocks (dilation 2^b); the first block
  of each stack also takes the speaker embedding, repeated over time. Three masks (1x1
  conv + ReLU) on the three encodings, three transposed-conv decoders: three estimates,
  scored by SI-SDR with weights (1 - a - b, a, b) = (0.8, 0.1, 0.1) (config), plus the
  cross-entropy with weight 0.5.

Non-causal (global layer norm, centred dilated convolutions): the model needs the whole
mixture; `latency` (the alignment of output to input) is 0 and `streaming` is False.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from tsepn.models.base import TSEModule
from tsepn.models.common import check_audio, init_args
from tsepn.models.registry import MODELS


class GlobalLayerNorm(nn.Module):
    """Normalisation over channels and time of [B, C, T] (the non-causal gLN of Conv-TasNet)."""

    def __init__(self, channels: int, eps: float = 1e-8):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, channels, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(1, 2), keepdim=True)
        return self.gamma * (x - mean) / torch.sqrt(var + self.eps) + self.beta


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of [B, C, T] (per frame)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class TCNBlock(nn.Module):
    """1x1 conv -> PReLU -> gLN -> dilated depthwise conv -> PReLU -> gLN -> 1x1 conv, residual.

    `aux_channels` > 0: the block also takes an auxiliary vector [B, aux] (the speaker
    embedding), repeated over time and concatenated to its input.
    """

    def __init__(self, channels: int, hidden: int, kernel: int = 3, dilation: int = 1, aux_channels: int = 0):
        super().__init__()
        self.aux_channels = aux_channels
        self.conv_in = nn.Conv1d(channels + aux_channels, hidden, 1)
        self.act1, self.norm1 = nn.PReLU(), GlobalLayerNorm(hidden)
        self.depthwise = nn.Conv1d(hidden, hidden, kernel, groups=hidden, dilation=dilation,
                                   padding=dilation * (kernel - 1) // 2)
        self.act2, self.norm2 = nn.PReLU(), GlobalLayerNorm(hidden)
        self.conv_out = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: torch.Tensor, aux: Optional[torch.Tensor] = None) -> torch.Tensor:
        y = x
        if self.aux_channels:
            if aux is None:
                raise ValueError("this TCN block takes the speaker embedding")
            y = torch.cat([x, aux[:, :, None].expand(-1, -1, x.shape[-1])], dim=1)
        y = self.norm1(self.act1(self.conv_in(y)))
        y = self.norm2(self.act2(self.depthwise(y)))
        return x + self.conv_out(y)


class TCNStack(nn.Module):
    """`blocks` TCN blocks with dilations 1, 2, 4, ...; the first one takes the speaker embedding."""

    def __init__(self, channels: int, hidden: int, blocks: int, kernel: int, aux_channels: int):
        super().__init__()
        self.blocks = nn.ModuleList(
            TCNBlock(channels, hidden, kernel, 2 ** b, aux_channels if b == 0 else 0) for b in range(blocks))

    def forward(self, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x, aux if i == 0 else None)
        return x


class ResBlock(nn.Module):
    """The speaker encoder's ResNet block: two convs with BN, PReLU, a 1x1 shortcut when the
    width changes, and max-pooling over time by 3."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.act1, self.act2 = nn.PReLU(), nn.PReLU()
        self.shortcut = nn.Conv1d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None
        self.pool = nn.MaxPool1d(3, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = y + (self.shortcut(x) if self.shortcut is not None else x)
        return self.pool(self.act2(y))


class MultiScaleEncoder(nn.Module):
    """Three 1-D conv encoders (windows L1 < L2 < L3, one stride L1 / 2) on the same frame grid."""

    def __init__(self, channels: int, windows: Sequence[int], filters: int):
        super().__init__()
        if len(windows) != 3 or not (windows[0] < windows[1] < windows[2]) or windows[0] % 2:
            raise ValueError(f"windows must be three increasing window lengths (the first even), got {list(windows)}")
        self.windows = tuple(int(w) for w in windows)
        self.stride = self.windows[0] // 2
        self.convs = nn.ModuleList(nn.Conv1d(channels, filters, w, stride=self.stride) for w in self.windows)

    def frames(self, samples: int) -> int:
        """Frames of a signal of `samples` samples (padded to a whole number of strides)."""
        short = self.windows[0]
        return max(0, -(-(samples - short) // self.stride)) + 1

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """[B, C, T] -> three [B, N, K] encodings (ReLU), K = frames(T)."""
        short, k = self.windows[0], self.frames(x.shape[-1])
        needed = (k - 1) * self.stride + short
        outs = []
        for window, conv in zip(self.windows, self.convs):
            padded = F.pad(x, (0, needed - x.shape[-1] + window - short))
            outs.append(F.relu(conv(padded)))
        return outs


class SpeakerEncoder(nn.Module):
    """Multi-scale encoding of the reference -> D-dim embedding (mean over time of the ResNet output)."""

    def __init__(self, filters: int, channels: int, resnet_channels: int, embedding_dim: int, blocks: int = 3):
        super().__init__()
        self.norm = ChannelLayerNorm(3 * filters)
        self.conv_in = nn.Conv1d(3 * filters, channels, 1)
        widths = [channels] + [resnet_channels] * blocks
        if blocks >= 1:
            widths[1] = channels  # the paper: O -> O, then O -> P, P -> P
        self.blocks = nn.Sequential(*(ResBlock(widths[i], widths[i + 1]) for i in range(blocks)))
        self.conv_out = nn.Conv1d(widths[-1], embedding_dim, 1)

    def forward(self, encodings: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self.conv_in(self.norm(torch.cat(list(encodings), dim=1)))
        return self.conv_out(self.blocks(x)).mean(dim=-1)


class SpExExtractor(nn.Module):
    """The speaker extractor: TCN stacks conditioned on the embedding, three masks."""

    def __init__(self, filters: int, channels: int, hidden: int, embedding_dim: int, stacks: int, blocks: int,
                 kernel: int):
        super().__init__()
        self.norm = ChannelLayerNorm(3 * filters)
        self.conv_in = nn.Conv1d(3 * filters, channels, 1)
        self.stacks = nn.ModuleList(TCNStack(channels, hidden, blocks, kernel, embedding_dim) for _ in range(stacks))
        self.masks = nn.ModuleList(nn.Conv1d(channels, filters, 1) for _ in range(3))

    def forward(self, encodings: Sequence[torch.Tensor], embedding: torch.Tensor) -> List[torch.Tensor]:
        x = self.conv_in(self.norm(torch.cat(list(encodings), dim=1)))
        for stack in self.stacks:
            x = stack(x, embedding)
        return [enc * F.relu(mask(x)) for enc, mask in zip(encodings, self.masks)]


class MultiScaleDecoder(nn.Module):
    """Three transposed-conv decoders (same windows and stride as the encoder), trimmed to T samples."""

    def __init__(self, channels: int, windows: Sequence[int], filters: int):
        super().__init__()
        stride = int(windows[0]) // 2
        self.deconvs = nn.ModuleList(nn.ConvTranspose1d(filters, channels, int(w), stride=stride) for w in windows)

    def forward(self, masked: Sequence[torch.Tensor], samples: int) -> List[torch.Tensor]:
        outs = []
        for x, deconv in zip(masked, self.deconvs):
            y = deconv(x)
            if y.shape[-1] < samples:
                y = F.pad(y, (0, samples - y.shape[-1]))
            outs.append(y[..., :samples])
        return outs


@MODELS.register("spexplus")
class SpExPlus(TSEModule):
    """SpEx+: shared multi-scale encoder, ResNet speaker encoder, conditioned TCN stacks, multi-scale decoder.

    Groups: "speaker" (speaker encoder + classifier), "main" (shared encoder, extractor,
    decoder). Inputs: mix and one enrollment `pos` (the reference; `neg` is ignored).
    """

    inputs = ("mix", "pos")
    streaming = False
    latency = 0

    def __init__(self, channels: int = 1, windows: Sequence[int] = (40, 160, 320), filters: int = 256,
                 tcn_channels: int = 256, tcn_hidden: int = 512, tcn_kernel: int = 3, stacks: int = 4,
                 blocks: int = 8, resnet_channels: int = 512, resnet_blocks: int = 3, embedding_dim: int = 256,
                 num_speakers: int = 0, sample_rate: int = 16000):
        super().__init__()
        self.init_args = init_args(locals())
        self.sample_rate = sample_rate
        self.in_channels = self.out_channels = channels
        self.encoder = MultiScaleEncoder(channels, windows, filters)
        self.speaker = SpeakerEncoder(filters, tcn_channels, resnet_channels, embedding_dim, resnet_blocks)
        self.classifier = nn.Linear(embedding_dim, num_speakers) if num_speakers > 0 else None
        self.extractor = SpExExtractor(filters, tcn_channels, tcn_hidden, embedding_dim, stacks, blocks, tcn_kernel)
        self.decoder = MultiScaleDecoder(channels, windows, filters)

    # ------------------------------------------------------------------ interface
    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The reference (`pos`) -> speaker embedding [B, D]; `neg` is ignored."""
        check_audio(pos, "reference (pos)", self.in_channels)
        return self.speaker(self.encoder(pos))

    def extract(self, mix: torch.Tensor, embedding: torch.Tensor) -> List[torch.Tensor]:
        """The three estimates (short, middle, long window) [B, C, T]."""
        check_audio(mix, "mixture", self.in_channels)
        return self.decoder(self.extractor(self.encoder(mix), embedding), mix.shape[-1])

    def forward(self, mix: torch.Tensor, cond: torch.Tensor, state=None) -> Tuple[torch.Tensor, None]:
        return self.extract(mix, cond)[0], None

    def speaker_logits(self, embedding: torch.Tensor) -> torch.Tensor:
        if self.classifier is None:
            raise ValueError("speaker_logits: built with num_speakers=0 (no classifier); set model.args.num_speakers "
                             "to the number of training speakers")
        return self.classifier(embedding)

    def train_outputs(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        embedding = self.encode(inputs["pos"])
        short, middle, long = self.extract(inputs["mix"], embedding)
        outputs = {"wave": short, "wave_middle": middle, "wave_long": long, "speaker_embedding": embedding}
        if self.classifier is not None:
            outputs["speaker_logits"] = self.classifier(embedding)
        return outputs

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        speaker = list(self.speaker.parameters()) + (list(self.classifier.parameters()) if self.classifier else [])
        main = list(self.encoder.parameters()) + list(self.extractor.parameters()) + list(self.decoder.parameters())
        return {"speaker": speaker, "main": main}
