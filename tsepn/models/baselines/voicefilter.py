"""VoiceFilter (Wang et al., 2019) with its d-vector speaker encoder.

Speaker encoder (`DVector`, group `speaker`): 40 log-mel bands (25 ms / 10 ms) -> an LSTM
with projections (3 layers of 768 cells projected to 256 in the paper) -> the last layer's
outputs averaged over time and L2-normalised: the d-vector. A linear classifier over the
training speakers gives `speaker_logits`; the recipe trains the speaker group on its own
first (step `5_dvector`: cross-entropy against the batch field `spk`), then VoiceFilter
with the speaker group frozen (step `6_voicefilter`, warm start of `speaker`).

VoiceFilter (group `main`): STFT magnitude of the std-normalised mixture (1200-point FFT,
25 ms Hann window, 10 ms hop: 601 bins), power-law compressed (^0.3) -> 8 conv layers
(1x7, 7x1, then 5x5 with time dilations 1, 2, 4, 8, 16, then 1x1 to 8 channels; 64
channels, batch norm, ReLU; kernels written (time, frequency)) -> the d-vector
concatenated to every frame -> (B)LSTM (400 cells) -> FC 600 (ReLU) -> FC (sigmoid): the
magnitude mask; the output is the masked magnitude with the mixture's phase, inverse STFT,
times the mixture's std.

Departures from the paper, for tsepn's training: the waveform is trained with the task's
loss (SI-SDR) instead of the paper's spectrogram MSE; the d-vector model is trained with a
speaker-classification loss instead of GE2E. A clean-enrollment system: one enrollment in
`pos`, `neg` ignored. Non-causal (dilated time convolutions, BLSTM): not streaming.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from tsepn.models.base import TSEModule
from tsepn.models.common import check_audio, grad_only_if_trainable
from tsepn.models.encoder import STD_FLOOR
from tsepn.models.registry import MODELS


LOGIT_SCALE = 10.0  # the unit-norm d-vector is scaled before the classifier (softmax over unit vectors is too flat)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0,
                   fmax: Optional[float] = None) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, [n_mels, n_fft // 2 + 1] (peak 1)."""
    fmax = sample_rate / 2 if fmax is None else fmax

    def mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    edges_mel = torch.linspace(mel(fmin), mel(fmax), n_mels + 2, dtype=torch.float64)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    freqs = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class DVector(nn.Module):
    """Log-mel -> LSTM with projections -> time-averaged, L2-normalised d-vector; + speaker classifier."""

    def __init__(self, num_speakers: int, n_mels: int = 40, n_fft: int = 512, win: int = 400, hop: int = 160,
                 hidden: int = 768, layers: int = 3, dim: int = 256, sample_rate: int = 16000):
        super().__init__()
        if num_speakers < 1:
            raise ValueError(f"num_speakers must be >= 1 (the training speakers), got {num_speakers}")
        self.n_fft, self.win, self.hop = n_fft, win, hop
        self.register_buffer("mel", mel_filterbank(n_mels, n_fft, sample_rate), persistent=False)
        self.lstm = nn.LSTM(n_mels, hidden, num_layers=layers, batch_first=True, proj_size=dim if dim < hidden else 0)
        self.classifier = nn.Linear(dim, num_speakers)
        self.dim = dim

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, C, N] (channels averaged) -> d-vector [B, dim]."""
        wave = audio.mean(dim=1)
        wave = wave / wave.std(dim=-1, keepdim=True).clamp_min(STD_FLOOR)
        spec = torch.stft(wave, self.n_fft, self.hop, self.win, window=torch.hann_window(self.win, device=wave.device,
                          dtype=wave.dtype), center=True, return_complex=True)
        feats = torch.log(torch.matmul(self.mel, spec.abs() ** 2) + 1e-6).transpose(1, 2)  # [B, T, mels]
        out, _ = self.lstm(feats)
        return nn.functional.normalize(out.mean(dim=1), dim=-1)


@MODELS.register("voicefilter")
class VoiceFilter(TSEModule):
    """Defaults: the paper's sizes (16 kHz; 1200 / 400 / 160 STFT; 64-channel CNN, 400-cell
    BLSTM, FC 600; d-vector LSTM 3 x 768 projected to 256); `num_speakers` = the training
    speakers (LibriSpeech train-clean-360: 921)."""

    inputs = ("mix", "pos")
    streaming = False

    def __init__(self, num_speakers: int = 921, n_fft: int = 1200, win: int = 400, hop: int = 160,
                 conv_channels: int = 64, conv_out_channels: int = 8, dilations=(1, 2, 4, 8, 16),
                 lstm_hidden: int = 400, bidirectional: bool = True, fc_dim: int = 600, compress: float = 0.3,
                 dvector_mels: int = 40, dvector_hidden: int = 768, dvector_layers: int = 3, dvector_dim: int = 256,
                 sample_rate: int = 16000):
        super().__init__()
        self.sample_rate = sample_rate
        self.n_fft, self.win, self.hop, self.compress = n_fft, win, hop, compress
        self.n_freqs = n_fft // 2 + 1
        self.dvector = DVector(num_speakers, n_mels=dvector_mels, hidden=dvector_hidden, layers=dvector_layers,
                               dim=dvector_dim, sample_rate=sample_rate)
        c = conv_channels
        specs = [(1, c, (1, 7), (1, 1)), (c, c, (7, 1), (1, 1))]
        specs += [(c, c, (5, 5), (d, 1)) for d in dilations]
        specs += [(c, conv_out_channels, (1, 1), (1, 1))]
        layers = []
        for cin, cout, kernel, dilation in specs:
            padding = tuple((k - 1) * d // 2 for k, d in zip(kernel, dilation))
            layers += [nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation), nn.BatchNorm2d(cout),
                       nn.ReLU()]
        self.cnn = nn.Sequential(*layers)
        self.lstm = nn.LSTM(conv_out_channels * self.n_freqs + dvector_dim, lstm_hidden, batch_first=True,
                            bidirectional=bidirectional)
        self.fc1 = nn.Linear(lstm_hidden * (2 if bidirectional else 1), fc_dim)
        self.fc2 = nn.Linear(fc_dim, self.n_freqs)

    # ------------------------------------------------------------------ speaker side
    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The d-vector [B, dvector_dim] of the one enrollment (`neg` ignored)."""
        check_audio(pos, "enrollment", self.in_channels)
        with grad_only_if_trainable(self.dvector):
            return self.dvector(pos)

    # ------------------------------------------------------------------ mixture side
    def forward(self, mix: torch.Tensor, cond: torch.Tensor, state=None):
        check_audio(mix, "mix", self.in_channels)
        if cond.dim() != 2 or cond.shape[0] != mix.shape[0]:
            raise ValueError(f"cond must be the d-vector [{mix.shape[0]}, dim], got shape {tuple(cond.shape)}")
        length = mix.shape[-1]
        std = mix.std(dim=(1, 2), keepdim=True).clamp_min(STD_FLOOR)
        window = torch.hann_window(self.win, device=mix.device, dtype=mix.dtype)
        spec = torch.stft(mix[:, 0] / std[:, 0], self.n_fft, self.hop, self.win, window=window, center=True,
                          return_complex=True)  # [B, F, T]
        mag = spec.abs()
        x = self.cnn((mag.clamp_min(1e-8) ** self.compress).transpose(1, 2)[:, None])  # [B, C8, T, F]
        batch, channels, frames, freqs = x.shape
        x = x.permute(0, 2, 1, 3).reshape(batch, frames, channels * freqs)
        x = torch.cat([x, cond[:, None, :].expand(batch, frames, cond.shape[-1])], dim=-1)
        x, _ = self.lstm(x)
        mask = torch.sigmoid(self.fc2(torch.relu(self.fc1(x)))).transpose(1, 2)  # [B, F, T]
        out = torch.istft(spec * mask, self.n_fft, self.hop, self.win, window=window, center=True, length=length)
        return (out * std[:, 0])[:, None], state

    # ------------------------------------------------------------------ training
    def train_outputs(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """wave, the enrollment's d-vector (`speaker_embedding`) and its `speaker_logits`."""
        dvec = self.encode(inputs["pos"])
        with grad_only_if_trainable(self.dvector):
            logits = self.dvector.classifier(dvec * LOGIT_SCALE)
        wave, _ = self(inputs["mix"], dvec)
        return {"wave": wave, "speaker_embedding": dvec, "speaker_logits": logits}

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        speaker = list(self.dvector.parameters())
        ids = {id(p) for p in speaker}
        return {"speaker": speaker, "main": [p for p in self.parameters() if id(p) not in ids]}
