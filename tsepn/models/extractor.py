"""The causal streaming TF-GridNet extractor shared by the pos/neg model and the teacher.

Waveform chunk -> STFT (conv1d) -> causal 2-D conv -> causal GridNet blocks, with a
fusion of the enrollment embedding after chosen blocks -> causal transposed conv ->
iSTFT (overlap-add). Everything a chunk needs from the past travels in `StreamState`:
the conv and deconv frame buffers, each block's inter-frame LSTM state and attention
key/value cache, and the STFT input/overlap-add buffers. The enrollment side arrives
precomputed in `Conditioning` (see `encode` of the subclasses), so a chunk never
touches the encoder.

Two framings of the waveform:
- "upstream" (the authors'): each call frames its own samples from its first sample on,
  without the previous call's tail, and the iSTFT re-adds the previous call's last
  frame. Within one call this is an ordinary STFT/iSTFT with no delay; across calls the
  frame grid restarts, so chunked output differs from a whole call near chunk edges.
- "streaming" (tsepn): the last n_fft - hop input samples and the unfinished overlap-add
  tail are carried over, so the frame grid runs on across calls and only finished
  samples are emitted: the output lags the input by `latency` = n_fft - hop samples,
  and any split of the input into hop-multiple chunks gives the same samples as one call.

Three input normalisations ("normalization"):
- "per_call" (the authors'): each call divides its input by that call's std and
  multiplies the output back, so results depend on how the stream is chunked;
- "enrollment": divides by the std of the positive enrollment, fixed per utterance
  (scale-equivariant like per_call, but chunk-invariant);
- "none": the waveform as it comes.
Chunked calls equal one whole call exactly when framing="streaming" and normalization
is not "per_call".

A call whose length cannot be framed exactly (not a multiple of hop; in the upstream
framing also shorter than n_fft) is zero-padded, its output trimmed back, and it ends
the stream: a further call with that state is an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from tsepn.models.encoder import STD_FLOOR
from tsepn.models.fusion import build_fusion
from tsepn.models.stft import STFTAnalysis, STFTSynthesis
from tsepn.models import kernels
from tsepn.models.attention import cached_without_grad, own_parameters
from tsepn.models.tfgridnet import BlockState, CausalGridNetBlock, use_fast_frame

NORMALIZATIONS = ("per_call", "enrollment", "none")
FRAMINGS = ("upstream", "streaming")
CONV_TIME_KERNEL = 3  # frames seen by the input conv / output deconv (2 past + current)


@dataclass
class Conditioning:
    """Everything the extractor needs from the enrollments, computed once per utterance."""

    embedding: torch.Tensor  # [B, C, T, F]
    fusion: List[Optional[object]]  # per extractor block: the fusion's prepared tensors, or None
    scale: Optional[torch.Tensor] = None  # [B, 1, 1] enrollment std for normalization="enrollment"


@dataclass
class StreamState:
    """What one call leaves for the next (all tensors batch-first)."""

    samples: torch.Tensor  # [B, M, n_fft - hop] last input samples (streaming framing; empty otherwise)
    conv: torch.Tensor  # [B, 2M, 2, F] last input-conv frames
    blocks: List[BlockState]
    deconv: torch.Tensor  # [B, C, 2, F] last output-deconv frames
    synthesis: torch.Tensor  # upstream: last spectrum frame [B, S, 2F, 1]; streaming: overlap-add tail [B, S, n_fft - hop]
    ended: bool = False

    def detach(self) -> "StreamState":
        """Cut the autograd history (truncated back-propagation through time)."""
        return StreamState(self.samples.detach(), self.conv.detach(), [b.detach() for b in self.blocks],
                           self.deconv.detach(), self.synthesis.detach(), self.ended)


class StreamingExtractor(nn.Module):
    """Base class: builds the extractor parts (`enc`, `dec`, `conv`, `blocks`, `fusions`, `deconv`).

    Subclasses add the enrollment side and implement `encode`.
    """

    sample_rate: int = 16000

    def _build_extractor(self, channels: int, n_fft: int, hop: int, n_layers: int, lstm_hidden: int, emb_dim: int,
                         n_heads: int, approx_qk_dim: int, attention_span: int, fusion: str,
                         fusion_layers: Sequence[int], fusion_args: Optional[Dict], cond_channels: int,
                         normalization: str, framing: str, eps: float) -> None:
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if not 0 < hop <= n_fft:
            raise ValueError(f"need 0 < hop <= n_fft, got hop={hop}, n_fft={n_fft}")
        if framing == "upstream" and n_fft % hop:
            raise ValueError(f"the upstream framing needs n_fft to be a multiple of hop, got {n_fft}, {hop}")
        bad = [i for i in fusion_layers if not 0 <= i < n_layers]
        if bad:
            raise ValueError(f"fusion_layers {list(fusion_layers)}: {bad} outside 0..{n_layers - 1}")
        self.in_channels = self.out_channels = channels
        self.n_fft, self.hop, self.n_freqs, self.emb_dim = n_fft, hop, n_fft // 2 + 1, emb_dim
        self.normalization, self.framing = normalization, framing
        self.fusion_layers = sorted(set(fusion_layers))

        self.enc = STFTAnalysis(n_fft, hop)
        self.dec = STFTSynthesis(n_fft, hop)
        self.conv = nn.Sequential(nn.Conv2d(2 * channels, emb_dim, (CONV_TIME_KERNEL, 3), padding=(0, 1)))
        self.blocks = nn.ModuleList(
            CausalGridNetBlock(emb_dim, self.n_freqs, lstm_hidden, n_heads=n_heads, attention_span=attention_span,
                               approx_qk_dim=approx_qk_dim, eps=eps)
            for _ in range(n_layers)
        )
        self.fusions = nn.ModuleList(
            build_fusion(fusion, emb_dim, cond_channels, self.n_freqs, dict(fusion_args or {}))
            if i in self.fusion_layers else nn.Identity()
            for i in range(n_layers)
        )
        self.deconv = nn.ConvTranspose2d(emb_dim, 2 * channels, (CONV_TIME_KERNEL, 3), padding=(CONV_TIME_KERNEL - 1, 1))

    # ------------------------------------------------------------------ contract

    @property
    def latency(self) -> int:
        """Output sample n belongs to input sample n - latency (0 in the upstream framing)."""
        return self.n_fft - self.hop if self.framing == "streaming" else 0

    def main_parameters(self) -> List[nn.Parameter]:
        parts = [self.enc, self.dec, self.conv, self.blocks, self.fusions, self.deconv]
        return [p for part in parts for p in part.parameters()]

    def prepare_fusions(self, embedding: torch.Tensor, pos: torch.Tensor) -> Conditioning:
        """Channels-last embedding [B, T, F, C] -> Conditioning (pooled keys/values etc. computed here, once)."""
        prepared = [fusion.prepare(embedding) if i in self.fusion_layers else None
                    for i, fusion in enumerate(self.fusions)]
        scale = None
        if self.normalization == "enrollment":
            scale = torch.std(pos, dim=(1, 2), keepdim=True).clamp_min(STD_FLOOR)
        return Conditioning(embedding=embedding.permute(0, 3, 1, 2), fusion=prepared, scale=scale)

    def init_state(self, batch: int, device=None, dtype=torch.float32) -> StreamState:
        if device is None:
            device = self.conv[0].weight.device
        zeros = lambda *shape: torch.zeros(*shape, device=device, dtype=dtype)  # noqa: E731
        overlap = self.n_fft - self.hop
        channels, freqs, past = self.in_channels, self.n_freqs, CONV_TIME_KERNEL - 1
        streaming = self.framing == "streaming"
        return StreamState(
            samples=zeros(batch, channels, overlap if streaming else 0),
            conv=zeros(batch, 2 * channels, past, freqs),
            blocks=[block.init_state(batch, device, dtype) for block in self.blocks],
            deconv=zeros(batch, self.emb_dim, past, freqs),
            synthesis=zeros(batch, self.out_channels, overlap) if streaming
            else zeros(batch, self.out_channels, 2 * freqs, 1),
        )

    def forward(self, mix: torch.Tensor, cond: Conditioning, state: Optional[StreamState] = None):
        """mix [B, C, N] -> (out [B, C, N], state); `state=None` starts a new stream."""
        if mix.dim() != 3 or mix.shape[1] != self.in_channels:
            raise ValueError(f"mix must be [batch, {self.in_channels}, samples], got shape {tuple(mix.shape)}")
        if not isinstance(cond, Conditioning):
            raise TypeError(f"cond must be the Conditioning returned by encode(), got {type(cond).__name__}")
        batch, _, samples = mix.shape
        if cond.embedding.shape[0] != batch:
            raise ValueError(f"mix batch {batch} differs from the conditioning's batch {cond.embedding.shape[0]}")
        if state is None:
            state = self.init_state(batch, mix.device, mix.dtype)
        if state.ended:
            raise RuntimeError("this stream was ended by a call whose length was not a multiple of the hop "
                               f"({self.hop} samples); start a new one with init_state()")

        scale = self._input_scale(mix, cond)
        wave = mix if scale is None else mix / scale
        wave, ended = self._pad_to_frames(wave)
        spec, samples_state = self._analyse(wave, state)
        x, conv_state = self._input_conv(spec, state)
        block_states = []
        for i, (block, fusion) in enumerate(zip(self.blocks, self.fusions)):
            x, block_state = block(x, state.blocks[i])
            block_states.append(block_state)
            if cond.fusion[i] is not None:
                x = x + fusion(x, cond.fusion[i])
        spec, deconv_state = self._output_deconv(x, state)
        out, synthesis_state = self._synthesise(spec, state)
        out = out[..., :samples]
        if scale is not None:
            out = out * scale
        return out, StreamState(samples_state, conv_state, block_states, deconv_state, synthesis_state, ended)

    # ------------------------------------------------------------------ steps

    def _input_scale(self, mix: torch.Tensor, cond: Conditioning) -> Optional[torch.Tensor]:
        if self.normalization == "per_call":
            return torch.std(mix, dim=(1, 2), keepdim=True).clamp_min(STD_FLOOR)
        if self.normalization == "enrollment":
            if cond.scale is None:
                raise ValueError("normalization='enrollment' needs a Conditioning from this model's encode()")
            return cond.scale
        return None

    def _pad_to_frames(self, wave: torch.Tensor):
        samples = wave.shape[-1]
        length = -(-samples // self.hop) * self.hop
        if self.framing == "upstream":
            length = max(length, self.n_fft)
        if length == samples:
            return wave, False
        return F.pad(wave, (0, length - samples)), True

    def _analyse(self, wave: torch.Tensor, state: StreamState):
        """Waveform -> [B, 2M, T, F] (real parts of all channels, then imaginary parts)."""
        if self.framing == "streaming":
            wave = torch.cat([state.samples, wave], dim=-1)
            carried = wave[..., wave.shape[-1] - state.samples.shape[-1]:]
        else:
            carried = state.samples
        freqs = self.n_freqs
        if wave.shape[-1] == self.n_fft and use_fast_frame(wave, frames=1):  # one frame: one matmul
            batch, channels, samples = wave.shape
            rows = torch.mm(wave.reshape(batch * channels, samples), self._stft_matrices()[0])
            spec = rows.view(batch, channels, 2, freqs).transpose(1, 2).reshape(batch, 2 * channels, 1, freqs)
            return spec, carried
        spec = self.enc(wave)  # [B, M, 2F, T]
        spec = torch.cat([spec[:, :, :freqs], spec[:, :, freqs:]], dim=1)
        return spec.transpose(2, 3), carried

    def _stft_matrices(self):
        """(analysis [n_fft, 2F], synthesis from the previous frame [2F, n_fft], from the new frame
        [2F, n_fft]): the filterbanks as the matrices of a one-frame call (upstream framing)."""

        def build():
            analysis = self.enc.filterbank.filters[:, 0, :].t().contiguous()
            synthesis = self.dec.filterbank.filters[:, 0, :]
            previous = torch.zeros_like(synthesis)
            previous[:, : self.n_fft - self.hop] = synthesis[:, self.hop:]
            return analysis, previous, synthesis.contiguous()

        return cached_without_grad(self, "stft", [self.enc.filterbank.filters, self.dec.filterbank.filters], build)

    def _conv_weights(self):
        """Input conv and output deconv weights laid out for the one-frame kernels (cached)."""

        def build():
            numpy = lambda t: t.detach().contiguous().numpy()  # noqa: E731
            return (numpy(self.conv[0].weight.permute(1, 2, 3, 0)), numpy(self.conv[0].bias),
                    numpy(self.deconv.weight.permute(1, 2, 3, 0)), numpy(self.deconv.bias))

        params = own_parameters(self.conv) + own_parameters(self.deconv)
        return cached_without_grad(self, "frame_convs", params, build)

    def _input_conv(self, spec: torch.Tensor, state: StreamState):
        if use_fast_frame(spec, frames=spec.shape[2]):  # one frame: the compiled kernel, channels-last out
            weight, bias = self._conv_weights()[:2]
            batch, _, _, freqs = spec.shape
            out = torch.empty(batch, 1, freqs, bias.shape[0])
            past = torch.empty_like(state.conv)
            kernels.conv_frame(state.conv.detach().numpy(), spec.detach().numpy()[:, :, 0], weight, bias,
                               out.numpy()[:, 0], past.numpy())
            return out, past
        x = torch.cat([state.conv, spec], dim=2)
        past = x[:, :, x.shape[2] - (CONV_TIME_KERNEL - 1):]
        # Contiguous channels-last: a permuted view here would make every residual sum of the
        # blocks keep the conv's channels-first layout, and each later norm and linear copy it.
        return self.conv(x).permute(0, 2, 3, 1).contiguous(), past

    def _output_deconv(self, x: torch.Tensor, state: StreamState):
        """Channels-last features [B, T, F, C] -> stacked spectrum [B, S, 2F, T]."""
        batch, frames, freqs, _ = x.shape
        if use_fast_frame(x):
            weight, bias = self._conv_weights()[2:]
            out = torch.empty(batch, self.out_channels, 2 * freqs, 1)
            past = torch.empty_like(state.deconv)
            kernels.deconv_frame(state.deconv.detach().numpy(), x.detach().numpy()[:, 0], weight, bias,
                                 out.numpy().reshape(batch, -1, freqs), past.numpy())
            return out, past
        y = torch.cat([state.deconv, x.permute(0, 3, 1, 2)], dim=2)
        past = y[:, :, y.shape[2] - (CONV_TIME_KERNEL - 1):]
        y = self.deconv(y).view(batch, self.out_channels, 2, frames, freqs).transpose(3, 4)
        return torch.cat([y[:, :, 0], y[:, :, 1]], dim=2), past

    def _synthesise(self, spec: torch.Tensor, state: StreamState):
        if self.framing == "upstream" and use_fast_frame(spec, frames=spec.shape[3]):  # one frame: two matmuls
            batch, sources, rows, _ = spec.shape
            _, previous, current = self._stft_matrices()
            wave = torch.mm(state.synthesis.reshape(batch * sources, rows), previous)
            wave = wave.addmm_(spec.reshape(batch * sources, rows), current)
            return wave.view(batch, sources, -1), spec
        if self.framing == "upstream":
            spec = torch.cat([state.synthesis, spec], dim=3)
            wave = self.dec(spec)[..., self.hop:]
            return wave, spec[..., -1:]
        wave = self.dec(spec)
        overlap = state.synthesis.shape[-1]
        emitted = wave.shape[-1] - overlap
        head = wave[..., :overlap] + state.synthesis
        wave = torch.cat([head, wave[..., overlap:]], dim=-1)
        return wave[..., :emitted], wave[..., emitted:]
