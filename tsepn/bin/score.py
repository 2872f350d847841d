"""Score enhanced audio against references: per-example table and summary.

    python -m tsepn.bin.score --ref data/test_m2e2/ref.scp --est exp/x/decode_test_m2e2/est.scp \
        --mix data/test_m2e2/mix.scp --out-dir exp/x/score_test_m2e2 --nj 4

Rules (documented in docs/scoring.md):
- Fixed order: the estimate is scored exactly as produced. There is no search
  over permutations or sign flips (the authors' script keeps whichever of the
  output or its negation is closer to the reference; tsepn does not).
- The key sets of --est (and --mix) must equal that of --ref; otherwise the
  run fails listing the missing and extra keys, and nothing is scored.
- Signals of one example with different lengths are trimmed to the shortest;
  each is logged as a warning and counted (`n_trimmed` in summary.json).
- A sample rate other than --sample-rate is an error naming the file.
- A metric undefined for an example (silent reference) is an empty cell,
  excluded from the mean and counted as `undefined`; a metric that fails
  (PESQ finding no utterance, say) is an empty cell, counted as `failed` and
  written to errors.txt; the job goes on.

Logic lives in tsepn.scoring.scorer; this module only parses arguments.

Outputs (atomic): DIR/per_utt.csv, DIR/summary.json, DIR/errors.txt (only when
a metric failed), DIR/score_info.json (the command and inputs, for RESULTS.md).
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import shlex
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import tsepn
from tsepn.audio import read_audio
from tsepn.fileio import read_table
from tsepn.scoring.asr import ASR_BACKENDS
from tsepn.scoring.metrics import MetricError
from tsepn.scoring.scorer import (DEFAULT_METRICS, METRIC_NAMES, WER_REFERENCES, ScoreError, ScoreSpec,
                                  metric_columns, score_set)

log = logging.getLogger("tsepn.score")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tsepn-score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="scp of reference (target) signals")
    p.add_argument("--est", required=True, help="scp of estimates to score")
    p.add_argument("--mix", help="scp of unprocessed mixtures (enables the *i improvement columns and out_energy_rel_db)")
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument(
        "--metrics",
        nargs="+",
        help=f"subset of {' '.join(METRIC_NAMES)} (commas also accepted). Default: "
        f"{' '.join(DEFAULT_METRICS)}, plus out_energy_rel_db with --mix, itd ild for 2-channel references, "
        "dnsmos when its model is installed (speechmos) or given, wer with --asr",
    )
    p.add_argument("--nj", type=int, default=1, help="parallel worker processes (each loads DNSMOS and the ASR once)")
    p.add_argument("--sample-rate", type=int, default=16000, help="every file must have this rate")
    p.add_argument("--asr", help=f"ASR back end for wer: {', '.join(ASR_BACKENDS)} (pocketsphinx runs offline)")
    p.add_argument("--asr-opt", action="append", default=[], metavar="KEY=VALUE", help="back-end option (repeatable)")
    p.add_argument("--wer-reference", choices=WER_REFERENCES, default="asr_of_reference",
                   help="reference words of wer: the back end's transcript of the clean reference (default), or "
                   "the --text transcript, which stage 3 writes only for examples whose target utterance is whole")
    p.add_argument("--asr-ref", metavar="FILE",
                   help="asr_ref.txt of an earlier scoring of the same references with the same back end: reused "
                   "instead of recognising the references again (e.g. for the <set>_wrong_enroll control)")
    p.add_argument("--text", help="Kaldi text file of reference transcripts (wer with --wer-reference transcript_if_whole)")
    p.add_argument("--dnsmos-model", help="another DNSMOS P.835 ONNX model (default: the one speechmos ships)")
    p.add_argument("--unavailable", action="append", default=[], metavar="METRIC=REASON",
                   help="record METRIC as not computable for this set (e.g. wer='no words'), shown in RESULTS.md")
    return p.parse_args(argv)


def _pairs(items: Sequence[str], option: str) -> Dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ScoreError(f"{option} {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        out[key] = value
    return out


def selected_metrics(args, first_ref_channels: int) -> List[str]:
    if args.metrics:
        chosen = [m for item in args.metrics for m in item.split(",") if m]
    else:
        chosen = list(DEFAULT_METRICS)
        if args.mix:
            chosen.append("out_energy_rel_db")
        if first_ref_channels == 2:
            chosen += ["itd", "ild"]
        if args.dnsmos_model or importlib.util.find_spec("speechmos") is not None:
            chosen.append("dnsmos")
        if args.asr:
            chosen.append("wer")
    metric_columns(chosen, False)  # unknown names fail here
    return chosen


def run(args: argparse.Namespace, argv: Sequence[str]) -> dict:
    ref = read_table(args.ref)
    if not ref:
        raise ScoreError(f"{args.ref}: no examples")
    if args.asr and args.asr not in ASR_BACKENDS:
        raise ScoreError(f"--asr {args.asr!r}: unsupported ASR back end; known: {', '.join(ASR_BACKENDS)}")
    first_ref, _ = read_audio(ref[sorted(ref)[0]])
    chosen = selected_metrics(args, first_ref.shape[0])
    declared = _pairs(args.unavailable, "--unavailable")
    unknown = sorted(set(declared) - set(METRIC_NAMES))
    if unknown:
        raise ScoreError(f"--unavailable names unknown metric(s) {', '.join(unknown)}")
    chosen = [m for m in chosen if m not in declared]
    spec = ScoreSpec(
        metrics=chosen,
        sample_rate=args.sample_rate,
        asr=args.asr,
        asr_options=_pairs(args.asr_opt, "--asr-opt"),
        text=args.text,
        wer_reference=args.wer_reference,
        dnsmos_model=args.dnsmos_model,
        ref_hyps=args.asr_ref,
    )
    info = {"command": shlex.join(["python", "-m", "tsepn.bin.score", *argv]), "tsepn_version": tsepn.__version__}
    summary = score_set(args.ref, args.est, args.out_dir, spec, mix_scp=args.mix, nj=args.nj, info=info,
                        declared_unavailable=declared)
    for column in ("snri", "si_snri", "sdri", "pesq_nb_raw", "stoi", "dnsmos", "wer", "out_energy_rel_db"):
        if column in summary and summary[column]["mean"] is not None:
            log.info("%s %.3f +- %.3f (n=%d)", column, summary[column]["mean"], summary[column]["std"], summary[column]["n"])
    return summary


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        run(args, argv)
    except (ScoreError, MetricError, ValueError, FileNotFoundError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
