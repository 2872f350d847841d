"""Other TSE systems on tsepn's recipe, each a registered model (tsepn.models.MODELS) with
configs under a recipe's `conf/systems/<name>/` (tiny) and `<name>_paper/` (paper size).

`SYSTEM_INFO`: model name -> the paper it comes from, whether it is causal and its latency
(a short text: algorithmic latency of a streaming model, else what it needs to see); read by
`tsepn-systems` (tsepn.bin.systems) for the table of systems (README's system table lists the same). What a system is fed comes
from its training config (task.inputs), not from here.
"""
from __future__ import annotations

_PROPOSED = "Xu et al., NeurIPS 2025 (the proposed model"
_STREAMING = "causal, streaming: 8 ms (STFT n_fft 128, hop 64)"
_IMPROVED = {"paper": "Xu et al., NeurIPS 2025 (the authors' early-fusion variant)", "causal": False,
             "latency": "non-causal: whole mixture (non-causal TF-GridNet blocks)"}
SYSTEM_INFO = {
    "posneg": {"paper": f"{_PROPOSED})", "causal": True, "latency": _STREAMING},
    "proposed-monaural": {"paper": f"{_PROPOSED}, published configuration)", "causal": True, "latency": _STREAMING},
    "proposed-binaural": {"paper": f"{_PROPOSED}, binaural)", "causal": True, "latency": _STREAMING},
    "improved-monaural": dict(_IMPROVED),
    "improved": dict(_IMPROVED),
    "teacher": {"paper": "clean-enrollment TF-GridNet (the paper's teacher, after LookOnceToHear)", "causal": True,
                "latency": _STREAMING},
    "usef_tfgridnet": {"paper": "Zeng & Li, USEF-TSE (2024); the paper's baseline", "causal": False,
                       "latency": "non-causal: whole mixture (frame attention over the enrollment, TF-GridNetV2)"},
    "td_speakerbeam": {"paper": "Delcroix et al., ICASSP 2020 (ESPnet's TDSpeakerBeamExtractor)", "causal": False,
                       "latency": "non-causal: whole mixture (non-causal TCN, global layer norm)"},
    "voicefilter": {"paper": "Wang et al., Interspeech 2019 (VoiceFilter, d-vector)", "causal": False,
                    "latency": "non-causal: whole mixture (BLSTM)"},
    "nmf": {"paper": "the paper's non-neural NMF baseline (Xu et al., NeurIPS 2025)", "causal": False,
            "latency": "non-causal: whole mixture (activations fit on it)"},
    "spexplus": {"paper": "Ge et al., Interspeech 2020 (SpEx+)", "causal": False,
                 "latency": "non-causal: whole mixture (global layer norm, centred dilated convs); time domain: "
                            "2.5/10/20-ms windows, 1.25-ms stride, so a causal variant would need 20 ms"},
    "refsel": {"paper": "TSE with reference selection (SpEx+ extractor; candidates: the scenario's other recordings "
                        "of the target, else windows of the positive enrollment)", "causal": False,
               "latency": "non-causal, as SpEx+ (20-ms longest window, 1.25-ms stride)"},
    "spectron": {"paper": "Spectron: dual-path transformer with a speaker token, embedding consistency, GAN refinement",
                 "causal": False, "latency": "non-causal: whole mixture (attention within and across chunks)"},
    "pitch_mbrnn": {"paper": "Target speaker separation using joint training with pitch information (MBRNN)",
                    "causal": True, "latency": "causal GRUs and layer norm, 32-ms frames with 16 ms look-ahead "
                                               "(centred STFT n_fft 512, hop 128); decoded on whole signals"},
}
