"""The "improved" early-fusion model: USEF-TFGridNet style extraction from pos/neg enrollments.

Added by the authors after review (PAPER.md, "Improved" variant). Instead of a speaker
embedding injected late into a causal extractor, the mixture's TF features are
cross-attended with the whole enrollment embedding sequence right after the input
convolution, concatenated with themselves (2 x 64 = 128 channels) and refined by
non-causal TF-GridNetV2 blocks:

    cond = head(siamese(pos), siamese(neg))             # [B, 64, T_pos, 65], once per utterance
    X    = conv(STFT(mix / std))                        # [B, 64, T, 65]
    Y    = dual_mdl(cat[X, att(X, cond)])               # [B, 128, T, 65]
    out  = iSTFT(deconv(Y)) * std

Parameter names follow the authors' `Tar_Model` (improved_model/USEF_TFGridnet.py) so that
their `{"state_dict": ...}` files load unchanged: `att`, `conv`, `deconv`, `dual_mdl.N`,
`siamese.*`, `encoder_head.*` (with `pending_module.N`), in that order.

Streaming: this model is NOT streaming. `forward` treats every call as a whole signal
(its own std normalisation, centred STFT with reflect padding, attention over all its
frames) and carries no state: a chunked call pattern therefore returns the concatenation
of independent per-chunk extractions, exactly what the authors' code gives when it is run
chunk by chunk. `init_state` returns None and `forward` returns the state it was given.
"""
from __future__ import annotations

import math
import warnings
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from espnet2.enh.separator.tfgridnet_separator import GridNetBlock
    from espnet2.enh.separator.tfgridnetv2_separator import (
        AllHeadPReLULayerNormalization4DCF,
        GridNetV2Block,
        LayerNormalization4DCF,
    )

from tsepn.models.base import TSEModule
from tsepn.models.common import check_audio, compare_enrollments
from tsepn.models.encoder import STD_FLOOR, SiameseEncoder
from tsepn.models.extractor import Conditioning
from tsepn.models.head import EncoderHead
from tsepn.models.registry import MODELS
from tsepn.models.tfgridnet import gridnet_block_forward


class CrossFrameAttention(nn.Module):
    """Full-band multi-head attention: queries from the mixture frames, keys/values from
    the enrollment embedding frames (TF-GridNetV2's attention with two inputs).

    Every frame is one token of size channels x frequencies; heads are vectorised as in
    TF-GridNetV2 (`attn_conv_Q` makes all heads' queries at once, `attn_norm_Q` applies a
    per-head PReLU and a per-head layer norm over (channels, frequencies)).
    """

    def __init__(self, emb_dim: int, n_freqs: int, n_head: int = 4, approx_qk_dim: int = 512, eps: float = 1e-5):
        super().__init__()
        if emb_dim % n_head:
            raise ValueError(f"emb_dim {emb_dim} is not divisible by n_head {n_head}")
        qk_dim = math.ceil(approx_qk_dim / n_freqs)  # per head and frequency
        v_dim = emb_dim // n_head
        self.n_head, self.qk_dim, self.v_dim = n_head, qk_dim, v_dim
        # Registration order = the authors' state_dict order.
        self.attn_conv_Q = nn.Conv2d(emb_dim, n_head * qk_dim, 1)
        self.attn_norm_Q = AllHeadPReLULayerNormalization4DCF((n_head, qk_dim, n_freqs), eps=eps)
        self.attn_conv_K = nn.Conv2d(emb_dim, n_head * qk_dim, 1)
        self.attn_norm_K = AllHeadPReLULayerNormalization4DCF((n_head, qk_dim, n_freqs), eps=eps)
        self.attn_conv_V = nn.Conv2d(emb_dim, n_head * v_dim, 1)
        self.attn_norm_V = AllHeadPReLULayerNormalization4DCF((n_head, v_dim, n_freqs), eps=eps)
        self.attn_concat_proj = nn.Sequential(
            nn.Conv2d(emb_dim, emb_dim, 1),
            nn.PReLU(),
            LayerNormalization4DCF((emb_dim, n_freqs), eps=eps),
        )

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """query [B, C, T, F], context [B, C, Tc, F] -> [B, C, T, F]."""
        batch, _, frames, n_freqs = query.shape
        q = self.attn_norm_Q(self.attn_conv_Q(query))  # [B, H, E, T, F]
        k = self.attn_norm_K(self.attn_conv_K(context))  # [B, H, E, Tc, F]
        v = self.attn_norm_V(self.attn_conv_V(context))  # [B, H, D, Tc, F]
        q = _frames_as_tokens(q)  # [B, H, T, E*F]
        k = _frames_as_tokens(k)  # [B, H, Tc, E*F]
        v = _frames_as_tokens(v)  # [B, H, Tc, D*F]
        scores = torch.matmul(q, k.transpose(-1, -2)) / (q.shape[-1] ** 0.5)
        mixed = torch.matmul(torch.softmax(scores, dim=-1), v)  # [B, H, T, D*F]
        mixed = mixed.reshape(batch, self.n_head, frames, self.v_dim, n_freqs)
        mixed = mixed.permute(0, 1, 3, 2, 4).reshape(batch, self.n_head * self.v_dim, frames, n_freqs)
        return self.attn_concat_proj(mixed)


def _frames_as_tokens(x: torch.Tensor) -> torch.Tensor:
    """[B, H, E, T, F] -> [B, H, T, E*F] (channel-major, frequency-minor)."""
    b, h, e, t, f = x.shape
    return x.permute(0, 1, 3, 2, 4).reshape(b, h, t, e * f)



def _refining_block(emb_dim: int, n_freqs: int, hidden: int, n_heads: int, approx_qk_dim: int, eps: float):
    """ESPnet's non-causal GridNetBlock (no unfolding), run through tsepn's channels-last
    `gridnet_block_forward`, which wants time-major LSTMs (the flag is not a parameter)."""
    block = GridNetBlock(emb_dim, 1, 1, n_freqs, hidden, n_head=n_heads, approx_qk_dim=approx_qk_dim,
                         activation="prelu", eps=eps)
    block.intra_rnn.batch_first = False
    block.inter_rnn.batch_first = False
    return block


class RefinedEncoderHead(EncoderHead):
    """The improved model's encoder head (the authors' GridnetAttnHead with refining blocks).

    Differs from the proposed model's head in two ways: every attention block is residual
    (`fusion_shortcut: [0, 1]`), and after the cut to the positive frames (`cut_pos`) the
    sequence is refined by non-causal GridNet blocks (`pending_module.N`).
    Channels-last in and out: (pos [B, Tp, F, C], neg [B, Tn, F, C]) -> [B, Tp, F, C].
    """

    def __init__(self, emb_dim: int = 64, n_freqs: int = 65, n_layers: int = 2, n_heads: int = 4,
                 approx_qk_dim: int = 512, refine_layers: int = 2, lstm_hidden: int = 64, eps: float = 1e-5):
        super().__init__(emb_dim, n_freqs, n_layers=n_layers, n_heads=n_heads, approx_qk_dim=approx_qk_dim, eps=eps)
        self.pending_module = nn.ModuleList(
            _refining_block(emb_dim, n_freqs, lstm_hidden, n_heads, approx_qk_dim, eps) for _ in range(refine_layers)
        )

    def forward(self, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        seg = self.segments()
        x = torch.cat([pos + seg[0], neg + seg[1]], dim=1)
        for layer in self.model[:-1]:
            x = x + layer(x)
        # Attention is per query frame, so the last block only needs the positive queries.
        n_pos = pos.shape[1]
        x = x[:, :n_pos] + self.model[-1].cross(x[:, :n_pos], x)
        for block in self.pending_module:
            x = gridnet_block_forward(block, x)
        return x


class EarlyFusionExtractor(TSEModule):
    """The mixture side of early fusion, shared by the improved model and USEF-TFGridNet
    (tsepn.models.baselines.usef_tfgridnet): STFT of the normalised mixture -> conv ->
    cross-attention to the enrollment sequence `cond` [B, emb_dim, T_enr, F], concatenated
    -> TF-GridNetV2 blocks -> deconv -> iSTFT. Subclasses build it with `_build_extractor`
    and say how `encode` turns the enrollment(s) into `cond`."""

    streaming = False  # every call is a whole signal (module docstring)

    def _build_extractor(self, channels: int, n_fft: int, hop: int, emb_dim: int, lstm_hidden: int, n_heads: int,
                         approx_qk_dim: int, n_layers: int, eps: float, sample_rate: int) -> None:
        self.in_channels = self.out_channels = channels
        self.sample_rate = sample_rate
        self.n_fft, self.hop, self.emb_dim = n_fft, hop, emb_dim
        self.n_freqs = n_fft // 2 + 1
        spec_channels = 2 * channels  # real parts of every channel, then imaginary parts
        # Registration order = the authors' state_dict order: att, conv, deconv, dual_mdl.
        self.att = CrossFrameAttention(emb_dim, self.n_freqs, n_heads, approx_qk_dim, eps)
        self.conv = nn.Sequential(
            nn.Conv2d(spec_channels, emb_dim, (3, 3), padding=(1, 1)),
            nn.GroupNorm(1, emb_dim, eps=eps),
        )
        self.deconv = nn.ConvTranspose2d(2 * emb_dim, spec_channels, (3, 3), padding=(1, 1))
        self.dual_mdl = nn.ModuleList(
            GridNetV2Block(2 * emb_dim, 1, 1, self.n_freqs, lstm_hidden, n_head=n_heads,
                           approx_qk_dim=approx_qk_dim, activation="prelu", eps=eps)
            for _ in range(n_layers)
        )

    def mixture_parameters(self) -> List[nn.Parameter]:
        return [p for module in (self.conv, self.att, self.dual_mdl, self.deconv) for p in module.parameters()]

    # ------------------------------------------------------------------ mixture side
    def init_state(self, batch_size: int) -> None:
        """No streaming state: every call is a whole signal (see the module docstring)."""
        return None

    def _pad_short(self, audio: torch.Tensor) -> torch.Tensor:
        # The centred STFT reflects n_fft/2 samples at each end, so it needs more than
        # that; a tiny (e.g. last) chunk is zero-padded and the output cut back.
        length = audio.shape[-1]
        return nn.functional.pad(audio, (0, self.n_fft - length)) if length <= self.n_fft // 2 else audio

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """Normalised audio [B, C, N] -> conv features of its STFT [B, emb_dim, T, F]."""
        spec = self._stft(audio)  # [B, C, F, T]
        return self.conv(torch.cat([spec.real, spec.imag], dim=1).transpose(2, 3))

    def forward(self, mix: torch.Tensor, cond: Union[Conditioning, torch.Tensor], state: Optional[object] = None):
        """mix [B, C, N], cond from `encode` (or the `embed` tensor) -> (out [B, C, N], state unchanged)."""
        check_audio(mix, "mix", self.in_channels)
        if isinstance(cond, Conditioning):
            cond = cond.embedding
        expected = (mix.shape[0], self.emb_dim, self.n_freqs)
        if cond.dim() != 4 or (cond.shape[0], cond.shape[1], cond.shape[3]) != expected:
            raise ValueError(f"cond embedding must be [{expected[0]}, {expected[1]}, frames, {expected[2]}], "
                             f"got shape {tuple(cond.shape)}")
        length = mix.shape[-1]
        mix = self._pad_short(mix)
        std = mix.std(dim=(1, 2), keepdim=True).clamp_min(STD_FLOOR)
        feats = self.features(mix / std)  # [B, emb, T, F]
        x = torch.cat([feats, self.att(feats, cond)], dim=1)
        for block in self.dual_mdl:
            x = block(x)
        x = self.deconv(x).transpose(2, 3)  # [B, 2C, F, T]: (re, im) of channel 0, then of channel 1
        out = self._istft(x, mix.shape[-1]) * std
        return out[..., :length], state

    def _stft(self, audio: torch.Tensor) -> torch.Tensor:
        batch, channels, samples = audio.shape
        spec = torch.stft(audio.reshape(batch * channels, samples), self.n_fft, self.hop, self.n_fft,
                          window=self._window(audio), center=True, pad_mode="reflect", normalized=False,
                          onesided=True, return_complex=True)
        return spec.view(batch, channels, *spec.shape[-2:])

    def _istft(self, parts: torch.Tensor, length: int) -> torch.Tensor:
        """[B, 2C, F, T] -> [B, C, length]. `length` keeps the input's length; the authors'
        code returns hop * (frames - 1) samples, the same values where the two overlap."""
        batch, _, freqs, frames = parts.shape
        pairs = parts.reshape(batch * self.out_channels, 2, freqs, frames)
        spec = torch.complex(pairs[:, 0].contiguous(), pairs[:, 1].contiguous())
        audio = torch.istft(spec, self.n_fft, self.hop, self.n_fft, window=self._window(parts), center=True,
                            length=length)
        return audio.view(batch, self.out_channels, length)

    def _window(self, like: torch.Tensor) -> torch.Tensor:
        return torch.hann_window(self.n_fft, device=like.device, dtype=like.dtype)


@MODELS.register("improved")
class EarlyFusionTSE(EarlyFusionExtractor):
    """Siamese encoder + refined head (enrollment side), early-fusion non-causal extractor.

    Defaults are the authors' improved monaural model (configs/Hyperparameter_monaural_
    improved_stage-*.yaml, improved_model/*.py): encoder with 1 GridNet block, head with 2
    attention blocks + 2 refining blocks, 3 TF-GridNetV2 blocks at 2 x 64 channels,
    LSTM 64, 4 heads, STFT 128 / hop 64 (Hann), 16 kHz. `channels=2` is the binaural
    variant (the authors' `binaural=True`: 2 channels in and out).
    """

    inputs = ("mix", "pos", "neg")

    def __init__(self, channels: int = 1, n_fft: int = 128, hop: int = 64, emb_dim: int = 64, lstm_hidden: int = 64,
                 n_heads: int = 4, approx_qk_dim: int = 512, n_layers: int = 3, encoder_channels: int = 2,
                 encoder_layers: int = 1, encoder_emb_ks: int = 4, encoder_emb_hs: int = 1, head_layers: int = 2,
                 head_refine_layers: int = 2, eps: float = 1e-5, sample_rate: int = 16000):
        super().__init__()
        if channels not in (1, encoder_channels):
            raise ValueError(f"a {encoder_channels}-channel encoder takes mono or {encoder_channels}-channel "
                             f"enrollments, not {channels}")
        # Registration order = the authors' state_dict order: att, conv, deconv, dual_mdl, siamese, encoder_head.
        self._build_extractor(channels, n_fft, hop, emb_dim, lstm_hidden, n_heads, approx_qk_dim, n_layers, eps,
                              sample_rate)
        self.siamese = SiameseEncoder(in_channels=encoder_channels, n_fft=n_fft, hop=hop, n_layers=encoder_layers,
                                      lstm_hidden=lstm_hidden, emb_dim=emb_dim, emb_ks=encoder_emb_ks,
                                      emb_hs=encoder_emb_hs, n_heads=n_heads, approx_qk_dim=approx_qk_dim, eps=eps)
        self.encoder_head = RefinedEncoderHead(emb_dim, self.n_freqs, n_layers=head_layers, n_heads=n_heads,
                                               approx_qk_dim=approx_qk_dim, refine_layers=head_refine_layers,
                                               lstm_hidden=lstm_hidden, eps=eps)

    # ------------------------------------------------------------------ enrollment side
    def embed(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(pos [B, C, Np], neg [B, C, Nn]) -> embedding sequence [B, emb_dim, T_pos, F].

        This is both what stage 1 distils and all the extractor needs from the enrollments.
        """
        features = compare_enrollments(self.siamese, self.encoder_head, pos, neg, self.in_channels)
        return features.permute(0, 3, 1, 2).contiguous()

    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> Conditioning:
        """Once per utterance: the embedding sequence, as `Conditioning.embedding` like every tsepn model."""
        return Conditioning(embedding=self.embed(pos, neg), fusion=[])

    # ------------------------------------------------------------------ training
    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {
            "encoder": list(self.siamese.parameters()),
            "head": list(self.encoder_head.parameters()),
            "main": self.mixture_parameters(),
        }


# The authors' published configuration = the defaults (checkpoints: `arch="improved-monaural"`).
IMPROVED_MONAURAL: dict = {}


@MODELS.register("improved-monaural")
def improved_monaural(**overrides) -> EarlyFusionTSE:
    return EarlyFusionTSE(**{**IMPROVED_MONAURAL, **overrides})
