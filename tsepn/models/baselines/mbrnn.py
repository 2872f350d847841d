"""Pitch-aware target speaker separation with an MBRNN separator (after "Target Speaker Separation
Using Joint Training with Pitch Information").

    model = build_model("pitch_mbrnn", pitch_mode="joint")
    cond = model.encode(pos)                # {"embedding": [B, 128]}
    out, _ = model(mix, cond)               # [B, 1, T]
    outs = model.train_outputs({"mix": mix, "pos": pos})
    # {"wave", "f0" [B, frames] Hz, "speaker_embedding", "speaker_logits"}

Parts:
- Speaker embedding module (group "speaker"): log-magnitude STFT of the enrollment ->
  LSTM -> linear to `embedding_dim` (128) -> mean over frames -> unit length; optional
  classifier over the training speakers.
- Target pitch extractor (group "pitch"): an LSTM over the mixture's log-magnitude
  spectrogram with the embedding appended to every frame -> one f0 (Hz, > 0; near 0 = unvoiced)
  per STFT frame (1 + T // hop frames, centred), trained with an L1 loss against the clean
  target's tracked pitch (tsepn.data.pitch, batch field `pitch`).
- MBRNN separator (group "main"): a learned conv encoder of the mixture (window n_fft,
  stride hop) gives latent frames; per frame the features [log |X|, embedding, pitch
  features] go through `blocks` blocks of (FC + ReLU, an RNNoise-like stack of GRUs, each
  GRU reading the block input and every earlier GRU's output, a linear merge), with a
  cumulative layer norm between blocks (residual); a sigmoid mask on the latent frames and
  a transposed-conv decoder give the waveform; loss SI-SNR.

`pitch_mode`:
- `none`: no pitch extractor, no pitch features (the separator sees zeros there);
- `concat`: the pitch extractor's estimate is fed to the separator with its gradient cut
  (the extractor is pre-trained on the L1 loss and frozen: a step training groups
  speaker + pitch, then a step training main, warm-started);
- `joint`: the estimate is fed with its gradient: SI-SNR + L1 train everything together;
- `oracle`: the true pitch track (model input `pitch`, from the batch) is fed instead of an
  estimate. An analysis of the upper bound: its forward needs `cond["pitch"]`, so it
  cannot decode a test set without pitch labels.
Pitch features per frame: f0 / 100 and log(1 + f0 / 100) (both 0 when unvoiced).

GRUs and the cumulative layer norm are causal; the centred frames look half a window
(n_fft / 2 samples) ahead. Run on whole signals here: `latency` 0 (aligned output),
`streaming` False.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from tsepn.models.base import TSEModule
from tsepn.models.common import check_audio, init_args
from tsepn.models.registry import MODELS

PITCH_MODES = ("none", "concat", "joint", "oracle")
PITCH_FEATURES = 2


def pitch_features(f0: torch.Tensor) -> torch.Tensor:
    """f0 [B, F] Hz -> [B, F, 2]; zeros where unvoiced."""
    f0 = f0.clamp_min(0.0) / 100.0
    return torch.stack([f0, torch.log1p(f0)], dim=-1)


class CumulativeLayerNorm(nn.Module):
    """Causal layer norm of [B, T, H]: frame t normalised by the mean and variance of frames 0..t (all features)."""

    def __init__(self, dim: int, eps: float = 1e-8):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype)[None, :, None] * x.shape[-1]
        mean = x.sum(-1, keepdim=True).cumsum(1) / count
        var = (x.pow(2).sum(-1, keepdim=True).cumsum(1) / count - mean.pow(2)).clamp_min(0.0)
        return (x - mean) / torch.sqrt(var + self.eps) * self.gain + self.bias


class GRUStack(nn.Module):
    """RNNoise-like: GRU i reads the stack input and the outputs of GRUs 0..i-1; a linear layer merges all outputs."""

    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.grus = nn.ModuleList(nn.GRU(dim * (i + 1), dim, batch_first=True) for i in range(layers))
        self.merge = nn.Linear(dim * layers, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen, outs = [x], []
        for gru in self.grus:
            y, _ = gru(torch.cat(seen, dim=-1))
            seen.append(y)
            outs.append(y)
        return self.merge(torch.cat(outs, dim=-1))


class MBRNNBlock(nn.Module):
    def __init__(self, in_dim: int, hidden: int, gru_layers: int):
        super().__init__()
        self.fc = nn.Linear(in_dim, hidden)
        self.grus = GRUStack(hidden, gru_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grus(F.relu(self.fc(x)))


@MODELS.register("pitch_mbrnn")
class PitchMBRNN(TSEModule):
    """Speaker embedding + target pitch extractor + MBRNN separator; groups speaker, pitch, main."""

    streaming = False
    latency = 0

    def __init__(self, channels: int = 1, n_fft: int = 512, hop: int = 128, embedding_dim: int = 128,
                 speaker_hidden: int = 256, speaker_layers: int = 2, pitch_mode: str = "joint",
                 pitch_hidden: int = 256, pitch_layers: int = 2, pitch_bidirectional: bool = False,
                 latent: int = 256, hidden: int = 256, blocks: int = 3, gru_layers: int = 3, num_speakers: int = 0,
                 sample_rate: int = 16000):
        super().__init__()
        self.init_args = init_args(locals())
        if pitch_mode not in PITCH_MODES:
            raise ValueError(f"pitch_mode must be one of {', '.join(PITCH_MODES)}, got {pitch_mode!r}")
        if n_fft % 2 or hop < 1 or hop > n_fft:
            raise ValueError(f"n_fft must be even and 1 <= hop <= n_fft, got n_fft={n_fft} hop={hop}")
        self.sample_rate = sample_rate
        self.in_channels = self.out_channels = channels
        self.inputs = ("mix", "pos", "pitch") if pitch_mode == "oracle" else ("mix", "pos")
        self.n_fft, self.hop, self.pitch_mode = n_fft, hop, pitch_mode
        bins = n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        # speaker embedding module
        self.speaker_lstm = nn.LSTM(bins, speaker_hidden, speaker_layers, batch_first=True)
        self.speaker_out = nn.Linear(speaker_hidden, embedding_dim)
        self.classifier = nn.Linear(embedding_dim, num_speakers) if num_speakers > 0 else None
        # target pitch extractor
        if pitch_mode in ("concat", "joint"):
            self.pitch_lstm = nn.LSTM(bins + embedding_dim, pitch_hidden, pitch_layers, batch_first=True,
                                      bidirectional=pitch_bidirectional)
            self.pitch_out = nn.Linear(pitch_hidden * (2 if pitch_bidirectional else 1), 1)
        else:
            self.pitch_lstm = self.pitch_out = None
        # MBRNN separator
        self.encoder = nn.Conv1d(channels, latent, n_fft, stride=hop, bias=False)
        cond_dim = embedding_dim + PITCH_FEATURES
        self.blocks = nn.ModuleList(
            MBRNNBlock((bins if i == 0 else hidden) + cond_dim, hidden, gru_layers) for i in range(blocks))
        self.norms = nn.ModuleList(CumulativeLayerNorm(hidden) for _ in range(blocks))
        self.mask = nn.Linear(hidden, latent)
        self.decoder = nn.ConvTranspose1d(latent, channels, n_fft, stride=hop, bias=False)

    # ------------------------------------------------------------------ parts
    def log_magnitude(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, T] -> [B, 1 + T // hop, bins] log magnitude of the channel mean (centred frames)."""
        spec = torch.stft(x.mean(dim=1), self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        return torch.log(spec.abs().transpose(1, 2) + 1e-5)

    def embed(self, pos: torch.Tensor) -> torch.Tensor:
        check_audio(pos, "enrollment (pos)", self.in_channels)
        frames, _ = self.speaker_lstm(self.log_magnitude(pos))
        return F.normalize(self.speaker_out(frames).mean(dim=1), dim=-1)

    def estimate_pitch(self, features: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Log-magnitude frames [B, F, bins] + embedding [B, D] -> f0 [B, F] in Hz (>= 0)."""
        if self.pitch_lstm is None:
            raise ValueError(f"pitch_mode={self.pitch_mode!r} has no pitch extractor")
        x = torch.cat([features, embedding[:, None].expand(-1, features.shape[1], -1)], dim=-1)
        y, _ = self.pitch_lstm(x)
        # softplus, not ReLU: a ReLU head that starts (or drifts) below zero everywhere has no
        # gradient and never learns; unvoiced frames are driven towards 0 Hz by the L1 loss
        return 100.0 * F.softplus(self.pitch_out(y).squeeze(-1))

    def separate(self, mix: torch.Tensor, features: torch.Tensor, embedding: torch.Tensor,
                 f0: Optional[torch.Tensor]) -> torch.Tensor:
        frames = features.shape[1]
        pitch = pitch_features(f0) if f0 is not None else features.new_zeros(features.shape[0], frames, PITCH_FEATURES)
        if pitch.shape[1] != frames:
            raise ValueError(f"pitch track has {pitch.shape[1]} frames, the mixture {frames} (1 + T // hop with "
                             f"hop={self.hop}): the pitch labels' hop must be the model's")
        cond = torch.cat([embedding[:, None].expand(-1, frames, -1), pitch], dim=-1)
        h = features
        for i, (block, norm) in enumerate(zip(self.blocks, self.norms)):
            y = norm(block(torch.cat([h, cond], dim=-1)))
            h = y if i == 0 else h + y
        pad = self.n_fft // 2
        latent = self.encoder(F.pad(mix, (pad, pad)))  # [B, N, F]
        mask = torch.sigmoid(self.mask(h)).transpose(1, 2)
        out = self.decoder(latent * mask)[..., pad:pad + mix.shape[-1]]
        return F.pad(out, (0, mix.shape[-1] - out.shape[-1]))

    # ------------------------------------------------------------------ interface
    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None,
               pitch: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """The enrollment (`pos`) -> {"embedding": [B, D]}; `neg` is ignored. `pitch` [B, F]: the
        true f0 track an oracle-pitch model separates with (stage 7 gives it from the set's labels)."""
        cond = {"embedding": self.embed(pos)}
        if pitch is not None:
            cond["pitch"] = pitch
        return cond

    def run(self, mix: torch.Tensor, cond: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """-> (waveform, the f0 estimate or None)."""
        check_audio(mix, "mixture", self.in_channels)
        features = self.log_magnitude(mix)
        embedding = cond["embedding"]
        estimate = None
        if self.pitch_mode == "none":
            f0 = None
        elif self.pitch_mode == "oracle":
            if "pitch" not in cond:
                raise ValueError("pitch_mode='oracle' separates with the true pitch track: cond['pitch'] is needed "
                                 "(train_outputs takes it from the batch); it cannot run without pitch labels")
            f0 = cond["pitch"]
        else:
            estimate = self.estimate_pitch(features, embedding)
            f0 = estimate.detach() if self.pitch_mode == "concat" else estimate
        return self.separate(mix, features, embedding, f0), estimate

    def forward(self, mix: torch.Tensor, cond: Dict[str, torch.Tensor], state=None) -> Tuple[torch.Tensor, None]:
        return self.run(mix, cond)[0], None

    def train_outputs(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        cond = self.encode(inputs["pos"])
        if self.pitch_mode == "oracle":
            cond["pitch"] = inputs["pitch"]
        wave, f0 = self.run(inputs["mix"], cond)
        outputs = {"wave": wave, "speaker_embedding": cond["embedding"]}
        if f0 is not None:
            outputs["f0"] = f0
        if self.classifier is not None:
            outputs["speaker_logits"] = self.classifier(cond["embedding"])
        return outputs

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        speaker = list(self.speaker_lstm.parameters()) + list(self.speaker_out.parameters())
        if self.classifier is not None:
            speaker += list(self.classifier.parameters())
        pitch = (list(self.pitch_lstm.parameters()) + list(self.pitch_out.parameters())) if self.pitch_lstm else []
        taken = {id(p) for p in speaker + pitch}
        return {"speaker": speaker, "pitch": pitch, "main": [p for p in self.parameters() if id(p) not in taken]}
