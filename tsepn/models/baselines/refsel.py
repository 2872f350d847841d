"""Target speaker extraction with reference selection: a SpEx+-style extractor conditioned on the
best (or a weighted mix) of several candidate references.

    model = build_model("refsel", num_candidates=4, candidate_seconds=1.0)
    cond = model.encode(pos)                   # candidates cut from pos (or encode(pos, None, candidates)), embedded
    out, _ = model(mix, cond)
    outs = model.train_outputs({"mix": mix, "pos": pos})
    # {"wave", "wave_middle", "wave_long", "speaker_logits", "selection_weights", "candidate_scores"}

Candidates: with `rendered_candidates: true` the model takes a third input, `candidates`
[B, K, C, L]: the scenario spec's candidate list (other recordings of the target, each at its
own noise level; scenario `candidate_count`, tsepn.data.scenario), plus the whole positive
enrollment as the last candidate (`include_whole`). Without it (and wherever only `pos` is
given, e.g. `encode(pos)` at decoding), the fallback: `num_candidates` windows of
`candidate_seconds` cut from the positive enrollment at evenly spaced starts, plus the whole
enrollment. Segments of a noisy positive enrollment differ in quality too (where the target
talks alone, where others overlap, where nobody talks).

Selector: each candidate's SpEx+ speaker embedding e_k and the mixture's embedding m (the
same speaker encoder on the mixture) go through a small MLP on [e_k, m, e_k * m] to a
score s_k. `selection`: "weighted" conditions the extractor on sum_k softmax(s)_k e_k
(differentiable, used for training); "best" on e_argmax (hard choice; at inference).
Training in "best" mode uses the straight-through estimator (forward: the hard choice;
gradients: the softmax's), so the selector still learns.

`candidate_embeddings` / `extract_with` let an evaluation condition on any candidate,
e.g. the oracle one (the candidate whose output scores best against the truth):
`oracle_report(model, batch)` gives the SI-SDR of the selected and of the oracle
candidate per example.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from tsepn.losses import si_sdr
from tsepn.models.base import TSEModule
from tsepn.models.baselines.spexplus import MultiScaleDecoder, MultiScaleEncoder, SpeakerEncoder, SpExExtractor
from tsepn.models.common import check_audio, init_args
from tsepn.models.registry import MODELS

SELECTIONS = ("weighted", "best")


def cut_candidates(pos: torch.Tensor, count: int, length: int) -> torch.Tensor:
    """`count` windows of `length` samples at evenly spaced starts of pos [B, C, T] -> [B, count, C, length].

    A shorter enrollment is zero-padded to `length` first (every window then is the whole of it).
    """
    total = pos.shape[-1]
    if total < length:
        pos = F.pad(pos, (0, length - total))
        total = length
    if count == 1:
        starts = [(total - length) // 2]
    else:
        starts = [round(i * (total - length) / (count - 1)) for i in range(count)]
    return torch.stack([pos[..., s:s + length] for s in starts], dim=1)


@MODELS.register("refsel")
class ReferenceSelectionTSE(TSEModule):
    """SpEx+ parts plus a candidate selector. Groups: "speaker" (speaker encoder, classifier),
    "selector", "main" (shared encoder, extractor, decoder)."""

    inputs = ("mix", "pos")
    streaming = False
    latency = 0

    def __init__(self, channels: int = 1, windows: Sequence[int] = (40, 160, 320), filters: int = 256,
                 tcn_channels: int = 256, tcn_hidden: int = 512, tcn_kernel: int = 3, stacks: int = 4,
                 blocks: int = 8, resnet_channels: int = 512, resnet_blocks: int = 3, embedding_dim: int = 256,
                 num_speakers: int = 0, num_candidates: int = 4, candidate_seconds: float = 1.0,
                 include_whole: bool = True, selector_hidden: int = 128, selection: str = "weighted",
                 rendered_candidates: bool = False, sample_rate: int = 16000):
        super().__init__()
        self.init_args = init_args(locals())
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
        if num_candidates < 1:
            raise ValueError(f"num_candidates must be >= 1, got {num_candidates}")
        self.sample_rate = sample_rate
        self.in_channels = self.out_channels = channels
        self.num_candidates, self.include_whole, self.selection = num_candidates, include_whole, selection
        self.inputs = ("mix", "pos", "candidates") if rendered_candidates else ("mix", "pos")
        self.candidate_samples = max(int(windows[-1]), int(round(candidate_seconds * sample_rate)))
        self.encoder = MultiScaleEncoder(channels, windows, filters)
        self.speaker = SpeakerEncoder(filters, tcn_channels, resnet_channels, embedding_dim, resnet_blocks)
        self.classifier = nn.Linear(embedding_dim, num_speakers) if num_speakers > 0 else None
        self.selector = nn.Sequential(nn.Linear(3 * embedding_dim, selector_hidden), nn.PReLU(),
                                      nn.Linear(selector_hidden, 1))
        self.extractor = SpExExtractor(filters, tcn_channels, tcn_hidden, embedding_dim, stacks, blocks, tcn_kernel)
        self.decoder = MultiScaleDecoder(channels, windows, filters)

    # ------------------------------------------------------------------ candidates and selection
    def embed(self, audio: torch.Tensor) -> torch.Tensor:
        return self.speaker(self.encoder(audio))

    def candidate_embeddings(self, pos: torch.Tensor, candidates: Optional[torch.Tensor] = None) -> torch.Tensor:
        """pos [B, C, T] (and rendered candidates [B, K, C, L], else windows of pos) -> embeddings
        [B, K (+1 whole), D]."""
        check_audio(pos, "positive enrollment (pos)", self.in_channels)
        batch = pos.shape[0]
        if candidates is None or candidates.shape[1] == 0:
            candidates = cut_candidates(pos, self.num_candidates, self.candidate_samples)
        elif candidates.dim() != 4 or candidates.shape[0] != batch or candidates.shape[2] != self.in_channels:
            raise ValueError(f"candidates must be [B={batch}, K, C={self.in_channels}, L], got {tuple(candidates.shape)}")
        count = candidates.shape[1]
        embs = self.embed(candidates.flatten(0, 1)).view(batch, count, -1)
        if self.include_whole:
            embs = torch.cat([embs, self.embed(pos)[:, None]], dim=1)
        return embs

    def scores(self, candidates: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """Candidate embeddings [B, K, D] and the mixture's [B, D] -> scores [B, K]."""
        m = mixture[:, None].expand_as(candidates)
        return self.selector(torch.cat([candidates, m, candidates * m], dim=-1)).squeeze(-1)

    def select(self, candidates: torch.Tensor, scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """-> (the conditioning embedding [B, D], the weights [B, K] it was made with)."""
        soft = scores.softmax(dim=-1)
        if self.selection == "weighted":
            weights = soft
        else:  # hard choice forward, softmax gradients backward
            hard = F.one_hot(scores.argmax(dim=-1), scores.shape[-1]).to(soft.dtype)
            weights = hard + soft - soft.detach()
        return torch.einsum("bk,bkd->bd", weights, candidates), weights

    # ------------------------------------------------------------------ interface
    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None,
               candidates: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """The candidates embedded (the rendered ones [B, K, C, L] when given, else windows of `pos`);
        selection needs the mixture, so it happens in forward."""
        return {"candidates": self.candidate_embeddings(pos, candidates)}

    def conditioning(self, mix: torch.Tensor, candidates: torch.Tensor) -> Dict[str, torch.Tensor]:
        scores = self.scores(candidates, self.embed(mix))
        embedding, weights = self.select(candidates, scores)
        return {"embedding": embedding, "weights": weights, "scores": scores}

    def extract_with(self, mix: torch.Tensor, embedding: torch.Tensor) -> List[torch.Tensor]:
        check_audio(mix, "mixture", self.in_channels)
        return self.decoder(self.extractor(self.encoder(mix), embedding), mix.shape[-1])

    def forward(self, mix: torch.Tensor, cond: Dict[str, torch.Tensor], state=None) -> Tuple[torch.Tensor, None]:
        check_audio(mix, "mixture", self.in_channels)
        chosen = self.conditioning(mix, cond["candidates"])
        return self.extract_with(mix, chosen["embedding"])[0], None

    def train_outputs(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        candidates = self.candidate_embeddings(inputs["pos"], inputs.get("candidates"))
        chosen = self.conditioning(inputs["mix"], candidates)
        short, middle, long = self.extract_with(inputs["mix"], chosen["embedding"])
        outputs = {"wave": short, "wave_middle": middle, "wave_long": long, "speaker_embedding": chosen["embedding"],
                   "selection_weights": chosen["weights"], "candidate_scores": chosen["scores"]}
        if self.classifier is not None:
            outputs["speaker_logits"] = self.classifier(chosen["embedding"])
        return outputs

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        speaker = list(self.speaker.parameters()) + (list(self.classifier.parameters()) if self.classifier else [])
        main = list(self.encoder.parameters()) + list(self.extractor.parameters()) + list(self.decoder.parameters())
        return {"speaker": speaker, "selector": list(self.selector.parameters()), "main": main}


@torch.no_grad()
def oracle_report(model: ReferenceSelectionTSE, mix: torch.Tensor, pos: torch.Tensor,
                  ref: torch.Tensor, rendered: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """SI-SDR [B] of the extraction conditioned on the selected candidate ("best" choice), on
    the oracle candidate (the one whose extraction scores best against `ref`), and on each
    candidate ([B, K]); plus the selected and oracle indices. `rendered`: the spec's candidates
    [B, K, C, L] (else windows of pos)."""
    candidates = model.candidate_embeddings(pos, rendered)
    scores = model.scores(candidates, model.embed(mix))
    per_candidate = torch.stack([si_sdr(model.extract_with(mix, candidates[:, k])[0], ref).mean(-1)
                                 for k in range(candidates.shape[1])], dim=1)
    selected = scores.argmax(dim=-1)
    oracle = per_candidate.argmax(dim=-1)
    rows = torch.arange(mix.shape[0])
    return {"selected": per_candidate[rows, selected], "oracle": per_candidate[rows, oracle],
            "per_candidate": per_candidate, "selected_index": selected, "oracle_index": oracle}
