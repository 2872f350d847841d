"""Other TSE systems on tsepn's recipe, each a registered model (tsepn.models.MODELS) with
configs under a recipe's `conf/systems/<name>/` (tiny) and `<name>_paper/` (paper size).

`SYSTEM_INFO`: model name -> the paper it comes from and whether it is causal; read by
`tsepn-systems` (tsepn.bin.systems) for the table of systems. What a system is fed comes
from its training config (task.inputs), not from here.
"""
from __future__ import annotations

SYSTEM_INFO = {
    "posneg": {"paper": "Xu et al., NeurIPS 2025 (the proposed model)", "causal": True},
    "proposed-monaural": {"paper": "Xu et al., NeurIPS 2025 (the proposed model, published configuration)",
                          "causal": True},
    "proposed-binaural": {"paper": "Xu et al., NeurIPS 2025 (the proposed model, binaural)", "causal": True},
    "improved-monaural": {"paper": "Xu et al., NeurIPS 2025 (the authors' early-fusion variant)", "causal": False},
    "improved": {"paper": "Xu et al., NeurIPS 2025 (the authors' early-fusion variant)", "causal": False},
    "teacher": {"paper": "clean-enrollment TF-GridNet (the paper's teacher, after LookOnceToHear)", "causal": True},
    "usef_tfgridnet": {"paper": "Zeng & Li, USEF-TSE (2024); the paper's baseline", "causal": False},
    "td_speakerbeam": {"paper": "Delcroix et al., ICASSP 2020 (ESPnet's TDSpeakerBeamExtractor)", "causal": False},
    "voicefilter": {"paper": "Wang et al., Interspeech 2019 (VoiceFilter, d-vector)", "causal": False},
    "nmf": {"paper": "the paper's non-neural NMF baseline (Xu et al., NeurIPS 2025)", "causal": False},
    "spexplus": {"paper": "Ge et al., Interspeech 2020 (SpEx+)", "causal": False},
    "refsel": {"paper": "TSE with reference selection (SpEx+ extractor, candidates cut from the positive enrollment)",
               "causal": False},
    "spectron": {"paper": "Spectron: dual-path transformer with a speaker token, embedding consistency, GAN refinement",
                 "causal": False},
    "pitch_mbrnn": {"paper": "Target speaker separation using joint training with pitch information (MBRNN); "
                             "causal with 32 ms look-ahead, decoded on whole signals", "causal": True},
}
