"""SI-SDR of a reference-selection model with the candidate it selects beside the oracle candidate.

    python -m tsepn.bin.refsel_oracle --checkpoint exp/refsel/train/model.pt --set-dir data/test_m2e2 \
        --out exp/refsel/train/oracle_test_m2e2.json [--max-examples N]

For every example of a rendered set: the candidates are the spec's candidate list when the
set has one (scenario `candidate_count`), else windows of the positive enrollment; the extraction conditioned on the candidate the
selector scores highest ("selected"), on the candidate whose extraction scores best against
the reference ("oracle": an upper bound of the selection), and on each candidate; SI-SDR
(zero-mean) against `ref`, and the mixture's. Writes a JSON summary (means, how often the
selection is the oracle's, per-example rows) atomically.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import List, Optional

import torch

from tsepn.data.dataset import ScpDataset
from tsepn.fileio import write_text_atomic
from tsepn.losses import si_sdr
from tsepn.models.baselines.refsel import ReferenceSelectionTSE, oracle_report
from tsepn.models.checkpoint import load_model

log = logging.getLogger("tsepn.refsel_oracle")


def evaluate(model: ReferenceSelectionTSE, dataset, max_examples: Optional[int] = None) -> dict:
    rows = []
    count = len(dataset) if max_examples is None else min(max_examples, len(dataset))
    for i in range(count):
        item = dataset[i]
        mix, pos, ref = item["mix"][None], item["pos"][None], item["ref"][None]
        rendered = item["candidates"][None] if "candidates" in item else None  # the spec's, else windows of pos
        report = oracle_report(model, mix, pos, ref, rendered)
        rows.append({"key": item["key"], "mixture": float(si_sdr(mix, ref).mean()),
                     "selected": float(report["selected"][0]), "oracle": float(report["oracle"][0]),
                     "selected_index": int(report["selected_index"][0]), "oracle_index": int(report["oracle_index"][0]),
                     "per_candidate": [float(v) for v in report["per_candidate"][0]]})
    if not rows:
        raise ValueError("no examples to evaluate")
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    return {"n_examples": len(rows), "si_sdr_mixture": mean("mixture"), "si_sdr_selected": mean("selected"),
            "si_sdr_oracle": mean("oracle"),
            "selected_is_oracle": sum(r["selected_index"] == r["oracle_index"] for r in rows) / len(rows),
            "examples": rows}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a refsel model file (model.pt)")
    parser.add_argument("--set-dir", required=True, help="a rendered set (mix.scp, ref.scp, pos.scp, ...)")
    parser.add_argument("--out", required=True, help="JSON summary to write")
    parser.add_argument("--max-examples", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model = load_model(args.checkpoint)
    if not isinstance(model, ReferenceSelectionTSE):
        log.error("%s: a %s, not a reference-selection (refsel) model", args.checkpoint, type(model).__name__)
        return 1
    model.eval()
    with torch.no_grad():
        summary = evaluate(model, ScpDataset(args.set_dir, sample_rate=model.sample_rate), args.max_examples)
    write_text_atomic(args.out, json.dumps(summary, indent=1) + "\n")
    log.info("%d examples: SI-SDR mixture %.2f, selected %.2f, oracle %.2f dB; selection = oracle in %.0f %%",
             summary["n_examples"], summary["si_sdr_mixture"], summary["si_sdr_selected"], summary["si_sdr_oracle"],
             100 * summary["selected_is_oracle"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
