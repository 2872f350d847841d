"""Figures of one system beside its scores (recipe stage 8): what only that kind of model has.

    python -m tsepn.bin.system_report --config conf/systems/refsel/report.yaml \
        --checkpoint exp/refsel/train/model.pt --set-dir data/test_m2e2 --out-dir exp/refsel/train/score_test_m2e2

The recipe runs it for every scored set of a system whose folder holds `report.yaml`
({report: NAME, max_examples: N|null}). Reports:
- `refsel_oracle`: SI-SDR of a reference-selection model's extraction with the candidate its
  selector picks, beside the oracle candidate's (tsepn.bin.refsel_oracle);
- `pitch`: a pitch-aware MBRNN's pitch precision rate on the set (share of the clean target's
  voiced frames, Praat labels, where its f0 estimate is within 50 cents) and its SI-SNRi with
  the estimate beside the true pitch track; for `pitch_mode: oracle` the SI-SNRi with the true
  track (what stage 7 decodes it with, tsepn.bin.decode.side_inputs).
Writes OUT_DIR/report.json atomically: {report, title, n_examples, figures: {name: value},
how: {name: text}}; make_results puts the figures in RESULTS.md and exp/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from tsepn.config import load_config
from tsepn.fileio import write_text_atomic
from tsepn.scoring.results import REPORT_FILE

log = logging.getLogger("tsepn.system_report")


@dataclass
class ReportConfig:
    """conf/systems/<name>/report.yaml."""

    report: str = "refsel_oracle"
    max_examples: Optional[int] = None


def refsel_oracle(model, set_dir: str, max_examples: Optional[int]) -> dict:
    from tsepn.bin.refsel_oracle import evaluate
    from tsepn.data.dataset import ScpDataset
    from tsepn.models.baselines.refsel import ReferenceSelectionTSE

    if not isinstance(model, ReferenceSelectionTSE):
        raise ValueError(f"report refsel_oracle needs a refsel model, got {type(model).__name__}")
    summary = evaluate(model, ScpDataset(set_dir, sample_rate=model.sample_rate), max_examples)
    figures = {k: summary[k] for k in ("si_sdr_mixture", "si_sdr_selected", "si_sdr_oracle", "selected_is_oracle")}
    return {"title": "Reference selection: SI-SDR (dB) with the selected vs the oracle candidate",
            "n_examples": summary["n_examples"], "figures": figures,
            "how": {"si_sdr_selected": "extraction conditioned on the candidate the selector scores highest",
                    "si_sdr_oracle": "on the candidate whose extraction scores best against the reference",
                    "selected_is_oracle": "share of examples where both are the same candidate"}}


def pitch(model, set_dir: str, max_examples: Optional[int]) -> dict:
    from tsepn.data.pitch import PitchDataset, enrollment_tracks, precision_rate
    from tsepn.losses import si_sdr
    from tsepn.models.baselines.mbrnn import PitchMBRNN

    if not isinstance(model, PitchMBRNN):
        raise ValueError(f"report pitch needs a pitch_mbrnn model, got {type(model).__name__}")
    data = PitchDataset({"type": "scp", "args": {"set_dir": set_dir}}, hop=model.hop, sample_rate=model.sample_rate)
    count = len(data) if max_examples is None else min(max_examples, len(data))
    # a wrong-enrollment control feeds the enrollment target's track (the donor example's), as the
    # enrollment is the donor's: the true track of the mixture's target would leak the answer
    tracks = enrollment_tracks(set_dir, model.hop, model.sample_rate)
    estimates, labels = [], []
    sums: Dict[str, float] = {}
    for i in range(count):
        item = data[i]
        mix, ref = item["mix"][None], item["ref"][None]
        cond = model.encode(item["pos"][None])
        mixture = float(si_sdr(mix, ref).mean())
        runs = {}
        if model.pitch_mode in ("concat", "joint"):
            wave, f0 = model.run(mix, cond)
            estimates.append(f0[0])
            labels.append(item["pitch"])
            runs["si_snri_estimated_pitch"] = wave
        if model.pitch_mode != "none":
            track = torch.from_numpy(tracks[item["key"]])
            runs["si_snri_true_pitch"] = model.separate(mix, model.log_magnitude(mix), cond["embedding"], track[None])
        for name, wave in runs.items():
            sums[name] = sums.get(name, 0.0) + float(si_sdr(wave, ref).mean()) - mixture
    figures = {name: total / count for name, total in sums.items()}
    how = {"si_snri_true_pitch": "SI-SNRi with the clean target's Praat track fed as the pitch (in a wrong-enrollment "
                                 "control: the enrollment target's, i.e. the donor example's target track)"}
    if estimates:
        figures["pitch_precision_rate"] = precision_rate(torch.cat(estimates), torch.cat(labels))
        how["pitch_precision_rate"] = "share of the target's voiced frames (pooled) with the estimate within 50 cents"
        how["si_snri_estimated_pitch"] = "SI-SNRi with the model's own pitch estimate (what stage 7 decodes)"
    return {"title": f"Pitch (pitch_mode {model.pitch_mode})", "n_examples": count, "figures": figures, "how": how}


REPORTS: Dict[str, Callable[..., dict]] = {"refsel_oracle": refsel_oracle, "pitch": pitch}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the system's report.yaml")
    parser.add_argument("--checkpoint", required=True, help="the system's model file (model.pt)")
    parser.add_argument("--set-dir", required=True, help="a rendered set")
    parser.add_argument("--out-dir", required=True, type=Path, help="the set's score folder (report.json goes there)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from tsepn.models.checkpoint import load_model

    conf = load_config(ReportConfig, args.config)
    if conf.report not in REPORTS:
        log.error("%s: report %r unknown; known: %s", args.config, conf.report, ", ".join(REPORTS))
        return 1
    model = load_model(args.checkpoint)
    model.eval()
    try:
        with torch.no_grad():
            result = REPORTS[conf.report](model, args.set_dir, conf.max_examples)
    except ValueError as err:
        log.error("%s (%s): %s", args.config, args.checkpoint, err)
        return 1
    result = {"report": conf.report, "set": Path(args.set_dir).name, **result}
    write_text_atomic(args.out_dir / REPORT_FILE, json.dumps(result, indent=1) + "\n")
    log.info("%s: %s", args.out_dir / REPORT_FILE,
             ", ".join(f"{k} {v:.3f}" for k, v in result["figures"].items() if isinstance(v, float)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
