"""Spectron: target speaker extraction with a dual-path transformer conditioned by a speaker token.

    model = build_model("spectron")
    cond = model.encode(pos)              # enrollment -> speaker embedding [B, D]
    out, _ = model(mix, cond)             # [B, 1, T], the whole mixture at once
    outs = model.train_outputs({"mix": mix, "pos": pos})
    # {"wave", "output_embedding", "enrollment_embedding", "speaker_logits"}

Parts:
- Waveform encoder: 1-D conv (window `window`, stride window / 2, N filters, ReLU): the
  latent frames.
- Speaker encoder: its own conv encoder on the enrollment (window `speaker_window`, 10 ms by
  default, so that full self-attention over a long enrollment stays affordable), a small
  transformer, mean over time, linear to D: the speaker embedding; a linear map to N makes
  the speaker token.
- Separator: dual-path transformer (as in DPTNet / SepFormer): the latent frames cut into
  chunks of `chunk` frames with 50 % overlap; each block runs an intra-chunk transformer
  over the frames of every chunk and an inter-chunk transformer over the chunks at every
  frame position; the speaker token is prepended to every one of these sequences, so
  every attention layer can look at it, and dropped after the layer. A mask on the latent
  frames, a transposed-conv decoder.
- Training outputs for the embedding-consistency loss: `output_embedding`, the extracted
  waveform re-embedded by the speaker encoder with its weights detached (the loss trains
  the extractor, not the speaker encoder: otherwise a constant embedding would satisfy
  it), and `enrollment_embedding`, the enrollment's embedding detached (the target).
  Config: `{name: embedding_consistency, output: output_embedding, target: enrollment_embedding}`.
- Adversarial refinement: the multi-scale waveform discriminator (tsepn.models.discriminators,
  `waveform`) with its own optimizer, through the training config's `adversarial:` section
  (tsepn.train.adversarial): `start_step` lets the discriminator warm up before the
  generator's adversarial term starts, `gradient_penalty` adds the penalty on interpolates;
  the recipe pre-trains the generator without it first (a step of its own).

Non-causal (whole-chunk attention over the whole mixture): `latency` 0 (aligned output),
`streaming` False.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from tsepn.models.base import TSEModule
from tsepn.models.common import check_audio, init_args
from tsepn.models.registry import MODELS


def sinusoidal(length: int, dim: int, device, dtype) -> torch.Tensor:
    """[length, dim] sinusoidal position encoding."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table.to(dtype)


def transformer(dim: int, heads: int, ffn: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(dim, heads, ffn, dropout=dropout, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class TokenTransformer(nn.Module):
    """A transformer over sequences [N_seq, L, D] with one token [N_seq, D] prepended (and dropped after)."""

    def __init__(self, dim: int, heads: int, ffn: int, layers: int, dropout: float):
        super().__init__()
        self.net = transformer(dim, heads, ffn, layers, dropout)

    def forward(self, x: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        y = self.net(torch.cat([token[:, None], x], dim=1))
        return y[:, 1:]


class DualPathBlock(nn.Module):
    """Intra-chunk then inter-chunk token transformer on [B, N, K, S], each with a residual."""

    def __init__(self, dim: int, heads: int, ffn: int, intra_layers: int, inter_layers: int, dropout: float):
        super().__init__()
        self.intra = TokenTransformer(dim, heads, ffn, intra_layers, dropout)
        self.inter = TokenTransformer(dim, heads, ffn, inter_layers, dropout)

    def forward(self, x: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        b, n, k, s = x.shape
        intra = x.permute(0, 3, 2, 1).reshape(b * s, k, n)  # sequences over the frames of a chunk
        pe = sinusoidal(k, n, x.device, x.dtype)
        intra = self.intra(intra + pe, token.repeat_interleave(s, dim=0))
        x = x + intra.view(b, s, k, n).permute(0, 3, 2, 1)
        inter = x.permute(0, 2, 3, 1).reshape(b * k, s, n)  # sequences over the chunks at a frame position
        pe = sinusoidal(s, n, x.device, x.dtype)
        inter = self.inter(inter + pe, token.repeat_interleave(k, dim=0))
        return x + inter.view(b, k, s, n).permute(0, 3, 1, 2)


def to_chunks(x: torch.Tensor, chunk: int) -> Tuple[torch.Tensor, int]:
    """[B, N, T] -> ([B, N, chunk, S] with 50 % overlap, padded length)."""
    hop = chunk // 2
    t = x.shape[-1]
    s = max(1, math.ceil(max(t - chunk, 0) / hop) + 1)
    total = (s - 1) * hop + chunk
    x = F.pad(x, (0, total - t))
    return x.unfold(-1, chunk, hop).transpose(2, 3), total


def from_chunks(x: torch.Tensor, total: int, frames: int) -> torch.Tensor:
    """Overlap-add [B, N, K, S] (50 % overlap) back to [B, N, frames], averaging the overlaps."""
    b, n, k, s = x.shape
    hop = k // 2
    out = F.fold(x.reshape(b, n * k, s), (1, total), kernel_size=(1, k), stride=(1, hop)).view(b, n, total)
    ones = torch.ones(1, k, s, device=x.device, dtype=x.dtype)
    count = F.fold(ones, (1, total), kernel_size=(1, k), stride=(1, hop)).view(1, 1, total)
    return (out / count.clamp_min(1.0))[..., :frames]


class ConvEncoder(nn.Module):
    """Waveform [B, C, T] -> latent frames [B, N, K] (ReLU), padded to whole strides."""

    def __init__(self, channels: int, filters: int, window: int):
        super().__init__()
        self.window, self.stride = window, window // 2
        self.conv = nn.Conv1d(channels, filters, window, stride=self.stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        k = max(0, math.ceil((t - self.window) / self.stride)) + 1
        return F.relu(self.conv(F.pad(x, (0, (k - 1) * self.stride + self.window - t))))


class SpeakerTransformer(nn.Module):
    """Enrollment -> D-dim embedding: conv encoder, transformer, mean over time, linear."""

    def __init__(self, channels: int, filters: int, window: int, heads: int, ffn: int, layers: int, dim: int,
                 dropout: float):
        super().__init__()
        self.encoder = ConvEncoder(channels, filters, window)
        self.norm = nn.LayerNorm(filters)
        self.net = transformer(filters, heads, ffn, layers, dropout)
        self.out = nn.Linear(filters, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.norm(self.encoder(x).transpose(1, 2))
        frames = frames + sinusoidal(frames.shape[1], frames.shape[2], x.device, frames.dtype)
        return self.out(self.net(frames).mean(dim=1))


@MODELS.register("spectron")
class Spectron(TSEModule):
    """Dual-path transformer TSE conditioned by a speaker token. Groups: "speaker" (speaker
    encoder, token projection, classifier), "main" (encoder, separator, decoder)."""

    inputs = ("mix", "pos")
    streaming = False
    latency = 0

    def __init__(self, channels: int = 1, filters: int = 256, window: int = 16, chunk: int = 250, blocks: int = 2,
                 intra_layers: int = 4, inter_layers: int = 4, heads: int = 8, ffn: int = 1024, dropout: float = 0.0,
                 speaker_layers: int = 2, speaker_window: int = 160, embedding_dim: int = 256, num_speakers: int = 0,
                 sample_rate: int = 16000):
        super().__init__()
        self.init_args = init_args(locals())
        if window % 2 or chunk % 2 or chunk < 2 or speaker_window % 2:
            raise ValueError(f"window, speaker_window and chunk must be even (50 % overlaps), got window={window} "
                             f"speaker_window={speaker_window} chunk={chunk}")
        self.sample_rate = sample_rate
        self.in_channels = self.out_channels = channels
        self.chunk = chunk
        self.encoder = ConvEncoder(channels, filters, window)
        self.speaker = SpeakerTransformer(channels, filters, speaker_window, heads, ffn, speaker_layers, embedding_dim,
                                          dropout)
        self.token = nn.Linear(embedding_dim, filters)
        self.classifier = nn.Linear(embedding_dim, num_speakers) if num_speakers > 0 else None
        self.norm = nn.GroupNorm(1, filters)
        self.proj = nn.Conv1d(filters, filters, 1)
        self.blocks = nn.ModuleList(DualPathBlock(filters, heads, ffn, intra_layers, inter_layers, dropout)
                                    for _ in range(blocks))
        self.mask = nn.Sequential(nn.PReLU(), nn.Conv1d(filters, filters, 1), nn.ReLU())
        self.decoder = nn.ConvTranspose1d(filters, channels, window, stride=window // 2, bias=False)

    # ------------------------------------------------------------------ interface
    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The enrollment (`pos`) -> speaker embedding [B, D]; `neg` is ignored."""
        check_audio(pos, "enrollment (pos)", self.in_channels)
        return self.speaker(pos)

    def forward(self, mix: torch.Tensor, cond: torch.Tensor, state=None) -> Tuple[torch.Tensor, None]:
        check_audio(mix, "mixture", self.in_channels)
        latent = self.encoder(mix)  # [B, N, K]
        frames = latent.shape[-1]
        x, total = to_chunks(self.proj(self.norm(latent)), self.chunk)
        token = self.token(cond)
        for block in self.blocks:
            x = block(x, token)
        mask = self.mask(from_chunks(x, total, frames))
        out = self.decoder(latent * mask)
        t = mix.shape[-1]
        return (F.pad(out, (0, max(0, t - out.shape[-1])))[..., :t]), None

    def reembed(self, wave: torch.Tensor) -> torch.Tensor:
        """The speaker encoder on `wave` with its weights detached: gradients reach `wave` only."""
        params = {name: p.detach() for name, p in self.speaker.named_parameters()}
        return functional_call(self.speaker, params, (wave,))

    def train_outputs(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        embedding = self.encode(inputs["pos"])
        wave, _ = self(inputs["mix"], embedding)
        outputs = {"wave": wave, "output_embedding": self.reembed(wave), "enrollment_embedding": embedding.detach()}
        if self.classifier is not None:
            outputs["speaker_logits"] = self.classifier(embedding)
        return outputs

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        speaker = list(self.speaker.parameters()) + list(self.token.parameters())
        if self.classifier is not None:
            speaker += list(self.classifier.parameters())
        main = [p for name, p in self.named_parameters()
                if not name.startswith(("speaker.", "token.", "classifier."))]
        return {"speaker": speaker, "main": main}
