"""tsepn models: one registry (`MODELS`) names every model a recipe can build.

    model = build_model("proposed-monaural")          # the authors' published configuration
    model = build_model("posneg", n_layers=2, ...)    # the proposed model with other sizes
    cond = model.encode(pos, neg)                     # once per utterance
    out, state = model(mix_chunk, cond, state)        # per chunk; state=None starts a stream

The interface every model follows is `tsepn.models.base.TSEModel`. The registry lives in
`tsepn.models.registry` (model modules import it from there, never from this package).
Registered: `posneg` (+ presets `proposed-monaural`, `proposed-binaural`), `teacher`,
and the models of the modules listed in `MODEL_MODULES`.
"""
from __future__ import annotations

import importlib

from tsepn.models.base import TSEModel, TSEModule
from tsepn.models.registry import DISCRIMINATORS, MODELS, build_model

# Modules whose import registers models in MODELS (or DISCRIMINATORS); explicit: a broken module is an error.
MODEL_MODULES = ["posneg", "teacher", "early_fusion", "discriminators"]
# other systems of the literature: USEF-TFGridNet, TD-SpeakerBeam, VoiceFilter, NMF (issue 10) and
# SpEx+, reference selection, Spectron, pitch-aware MBRNN (issue 11)
MODEL_MODULES += ["baselines.usef_tfgridnet", "baselines.td_speakerbeam", "baselines.voicefilter", "baselines.nmf",
                  "baselines.spexplus", "baselines.refsel", "baselines.spectron", "baselines.mbrnn"]

for _module in MODEL_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["DISCRIMINATORS", "MODELS", "MODEL_MODULES", "TSEModel", "TSEModule", "build_model"]
