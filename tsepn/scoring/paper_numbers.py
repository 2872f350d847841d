"""Published numbers that RESULTS.md is compared against.

Source: ../shared/PAPER.md, "Published numbers (monaural, mean +- std)", which
quotes Xu et al., NeurIPS 2025 (arXiv 2502.16611), main table, and the authors'
README (xu-shitong/TSE-through-Positive-Negative-Enroll) for the improved
variant. Values are (mean, std); std is None where only a mean was published.

Keys are tsepn's metric columns. The authors' column "SISDRi" is a BSS-eval
SDR improvement (torchmetrics signal_distortion_ratio), so it is stored under
"sdri", not "si_sdri". Their PESQ came from `pypesq` (the raw narrow-band P.862
score), so it is stored under "pesq_nb_raw", tsepn's column computed the same way;
their DNSMOS is speechmos' overall MOS ("dnsmos"). Their WER used an ASR system
the paper does not name, so no tsepn back end is known to be comparable.

SYSTEM_PAPER maps tsepn system names (conf/systems/<name>, with or without a
`_paper` suffix) to the published row they are compared with.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

Number = Tuple[float, Optional[float]]

CONDITIONS = ("m2e2", "m2e3", "m3e2", "m3e3")
CONDITION_TITLES = {
    "m2e2": "2 spk mix / 2 spk enroll",
    "m2e3": "2 spk mix / 3 spk enroll",
    "m3e2": "3 spk mix / 2 spk enroll",
    "m3e3": "3 spk mix / 3 spk enroll",
}

# model -> condition -> metric column -> (mean, std)
PAPER_NUMBERS: Dict[str, Dict[str, Dict[str, Number]]] = {
    "proposed": {
        "m2e2": {
            "snri": (10.14, 2.57),
            "si_snri": (8.85, 3.67),
            "pesq_nb_raw": (2.07, None),
            "stoi": (0.758, None),
            "wer": (0.42, None),
        },
    },
    "improved": {
        "m2e2": {
            "snri": (12.34, 3.77),
            "si_snri": (11.76, 5.56),
            "sdri": (12.51, 5.04),
            "pesq_nb_raw": (2.61, 0.42),
            "stoi": (0.83, 0.15),
            "dnsmos": (2.80, 0.33),
            "wer": (0.24, 0.26),
        },
        "m2e3": {
            "snri": (12.13, 4.06),
            "si_snri": (11.40, 6.17),
            "sdri": (12.16, 5.67),
            "pesq_nb_raw": (2.58, 0.46),
            "stoi": (0.83, 0.16),
            "dnsmos": (2.79, 0.35),
            "wer": (0.25, 0.28),
        },
        "m3e2": {
            "snri": (12.32, 3.59),
            "si_snri": (11.22, 5.77),
            "sdri": (11.88, 5.35),
            "pesq_nb_raw": (2.30, 0.49),
            "stoi": (0.74, 0.19),
            "dnsmos": (2.64, 0.35),
            "wer": (0.38, 0.30),
        },
        "m3e3": {
            "snri": (12.19, 3.79),
            "si_snri": (10.91, 6.40),
            "sdri": (11.62, 5.86),
            "pesq_nb_raw": (2.27, 0.51),
            "stoi": (0.73, 0.19),
            "dnsmos": (2.62, 0.36),
            "wer": (0.40, 0.30),
        },
    },
    # Baselines of the paper's main table (2 speakers in mixture and enrollment).
    "nmf": {"m2e2": {"snri": (4.24, 1.60), "si_snri": (-1.65, 3.78), "pesq_nb_raw": (1.05, None), "stoi": (0.362, None), "wer": (0.98, None)}},
    "usef_tfgridnet": {"m2e2": {"snri": (3.42, 3.43), "si_snri": (-0.03, 5.97), "pesq_nb_raw": (1.52, None), "stoi": (0.430, None), "wer": (0.66, None)}},
    "tce": {"m2e2": {"snri": (8.48, 2.34), "si_snri": (6.67, 3.69), "pesq_nb_raw": (1.91, None), "stoi": (0.682, None), "wer": (0.73, None)}},
}


# tsepn system name -> published row
SYSTEM_PAPER = {
    "proposed": "proposed",
    "improved": "improved",
    "early_fusion": "improved",
    "nmf": "nmf",
    "usef_tfgridnet": "usef_tfgridnet",
    "usef": "usef_tfgridnet",
    "tce": "tce",
}
PAPER_TITLES = {
    "proposed": "paper: proposed (pos/neg enrollment)",
    "improved": "paper: improved early-fusion variant (authors' README)",
    "nmf": "paper: NMF",
    "usef_tfgridnet": "paper: USEF-TFGridNet",
    "tce": "paper: TCE",
}


def paper_for_system(name: str) -> Optional[str]:
    """The published row a system named `name` is compared with, or None."""
    key = name.lower()
    if key.endswith("_paper"):
        key = key[: -len("_paper")]
    return SYSTEM_PAPER.get(key)


def paper_number(model: Optional[str], condition: str, metric: str) -> Optional[Number]:
    """The published (mean, std) for a model/condition/metric, or None."""
    if model is None:
        return None
    if model not in PAPER_NUMBERS:
        raise KeyError(f"no published numbers for {model!r}; known: {', '.join(sorted(PAPER_NUMBERS))}")
    return PAPER_NUMBERS[model].get(condition, {}).get(metric)
