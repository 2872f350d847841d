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

Outputs (atomic): DIR/per_utt.csv, DIR/summary.json, DIR/errors.txt (only when
a metric failed), DIR/score_info.json (the command and inputs, for RESULTS.md).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import multiprocessing
import shlex
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from tsepn.progress import progress

import tsepn
from tsepn import metrics
from tsepn.audio import read_audio
from tsepn.fileio import read_table, write_text_atomic

log = logging.getLogger("tsepn.score")

WRONG_SPEAKER_DB = 0.0  # SI-SNRi below this counts as "extracted the wrong speaker"
_MAX_LISTED = 10
_MAX_TRIM_WARNINGS = 5


class ScoreError(ValueError):
    """Bad scoring input (mismatched lists, wrong sample rate, channel counts)."""


# --------------------------------------------------------------------------- inputs


def check_keys(ref: Dict[str, str], other: Dict[str, str], ref_path: str, other_path: str) -> None:
    """Fail listing missing and extra keys when two lists cover different examples."""
    missing = sorted(set(ref) - set(other))
    extra = sorted(set(other) - set(ref))
    if not missing and not extra:
        return

    def listed(keys: List[str]) -> str:
        shown = ", ".join(keys[:_MAX_LISTED])
        return shown + (f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} key(s) of {ref_path} missing: {listed(missing)}")
    if extra:
        parts.append(f"{len(extra)} extra key(s) not in {ref_path}: {listed(extra)}")
    raise ScoreError(f"{other_path}: keys do not match {ref_path}; " + "; ".join(parts))


def load_example(
    key: str, specs: Dict[str, Optional[str]], sample_rate: int
) -> Tuple[Dict[str, np.ndarray], Optional[str]]:
    """Read one example's signals; trim them to a common length.

    Returns ({"ref","est"[,"mix"]: [C, T]}, a trim note or None).
    """
    signals = {}
    for role, spec in specs.items():
        if spec is None:
            continue
        audio, sr = read_audio(spec)
        if sr != sample_rate:
            raise ScoreError(f"{spec} ({role} of {key}): sample rate {sr} Hz, expected {sample_rate} Hz")
        signals[role] = audio
    channels = {role: a.shape[0] for role, a in signals.items()}
    if len(set(channels.values())) != 1:
        raise ScoreError(f"{key}: channel counts differ: " + ", ".join(f"{r} {c}" for r, c in channels.items()))
    lengths = {role: a.shape[-1] for role, a in signals.items()}
    shortest = min(lengths.values())
    note = None
    if len(set(lengths.values())) > 1:
        note = f"{key}: lengths differ (" + ", ".join(f"{r} {n}" for r, n in lengths.items()) + f"), trimmed to {shortest}"
        signals = {role: a[:, :shortest] for role, a in signals.items()}
    return signals, note


# --------------------------------------------------------------------------- workers

_SCORER: Optional[metrics.ExampleScorer] = None


def _build_scorer(spec: dict) -> metrics.ExampleScorer:
    asr = metrics.build_asr(spec["asr"], spec["asr_options"]) if spec["asr"] else None
    transcripts = read_table(spec["text"]) if spec["text"] else None
    dnsmos = metrics.DnsMos(spec["dnsmos_model"]) if "dnsmos" in spec["metrics"] else None
    return metrics.ExampleScorer(spec["metrics"], spec["sample_rate"], asr=asr, transcripts=transcripts, dnsmos=dnsmos)


def _init_worker(spec: dict) -> None:
    global _SCORER
    logging.getLogger("tsepn.audio").setLevel(logging.ERROR)
    _SCORER = _build_scorer(spec)


def _score_one(job: Tuple[str, Dict[str, Optional[str]], int]):
    key, specs, sample_rate = job
    signals, note = load_example(key, specs, sample_rate)
    values, errors = _SCORER(key, signals["est"], signals["ref"], signals.get("mix"))
    return key, values, errors, note


# --------------------------------------------------------------------------- outputs


def summarize(rows: Dict[str, Dict[str, Optional[float]]], failed: Dict[str, Sequence[str]], columns: Sequence[str]) -> dict:
    """Mean and population std (numpy's default, as the authors' script) over
    the defined values of each column; counts of undefined and failed cells.

    failed: {key: columns whose metric raised for that example}.
    """
    failed_columns = {c: sum(c in cols for cols in failed.values()) for c in columns}
    summary = {}
    for column in columns:
        values = np.array([row[column] for row in rows.values() if row.get(column) is not None], dtype=np.float64)
        missing = len(rows) - len(values)
        summary[column] = {
            "mean": float(values.mean()) if len(values) else None,
            "std": float(values.std()) if len(values) else None,
            "n": int(len(values)),
            "undefined": int(missing - failed_columns[column]),
            "failed": int(failed_columns[column]),
        }
    if "si_snri" in columns:
        defined = [row["si_snri"] for row in rows.values() if row.get("si_snri") is not None]
        summary["wrong_speaker_rate"] = float(np.mean([v < WRONG_SPEAKER_DB for v in defined])) if defined else None
    return summary


def _fmt(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.6f}"


def write_outputs(
    out_dir: Path,
    columns: Sequence[str],
    rows: Dict[str, Dict[str, Optional[float]]],
    errors: Dict[str, Dict[str, str]],
    with_mixture: bool,
    extra_summary: dict,
    info: dict,
) -> dict:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["utt", *columns])
    for key in sorted(rows):
        writer.writerow([key, *(_fmt(rows[key].get(c)) for c in columns)])
    write_text_atomic(out_dir / "per_utt.csv", buffer.getvalue())

    failed = {key: metrics.metric_columns(list(errs), with_mixture) for key, errs in errors.items()}
    summary = summarize(rows, failed, columns)
    summary.update(extra_summary)
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")

    error_file = out_dir / "errors.txt"
    if errors:
        lines = [f"{key} {metric}: {msg}" for key in sorted(errors) for metric, msg in sorted(errors[key].items())]
        write_text_atomic(error_file, "\n".join(lines) + "\n")
    elif error_file.exists():
        error_file.unlink()  # stale from an earlier run
    write_text_atomic(out_dir / "score_info.json", json.dumps(info, indent=2) + "\n")
    return summary


# --------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tsepn-score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="scp of reference (target) signals")
    p.add_argument("--est", required=True, help="scp of estimates to score")
    p.add_argument("--mix", help="scp of unprocessed mixtures (enables the *i improvement columns)")
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument(
        "--metrics",
        nargs="+",
        help=f"subset of {' '.join(metrics.METRIC_NAMES)} (commas also accepted). Default: "
        f"{' '.join(metrics.DEFAULT_METRICS)}, plus itd ild for 2-channel references, "
        "dnsmos with --dnsmos-model, wer with --asr",
    )
    p.add_argument("--nj", type=int, default=1, help="parallel worker processes")
    p.add_argument("--sample-rate", type=int, default=16000, help="every file must have this rate")
    p.add_argument("--text", help="Kaldi text file of reference transcripts (for wer)")
    p.add_argument("--asr", help=f"ASR back end for wer: {', '.join(metrics.ASR_BACKENDS)}")
    p.add_argument("--asr-opt", action="append", default=[], metavar="KEY=VALUE", help="back-end option (repeatable)")
    p.add_argument("--dnsmos-model", help="local DNSMOS P.835 sig_bak_ovr.onnx (needs onnxruntime)")
    return p.parse_args(argv)


def _selected_metrics(args, first_ref_channels: int) -> List[str]:
    if args.metrics:
        chosen = [m for item in args.metrics for m in item.split(",") if m]
    else:
        chosen = list(metrics.DEFAULT_METRICS)
        if first_ref_channels == 2:
            chosen += ["itd", "ild"]
        if args.dnsmos_model:
            chosen.append("dnsmos")
        if args.asr:
            chosen.append("wer")
    metrics.metric_columns(chosen, False)  # unknown names fail here
    return chosen


def _asr_options(items: Sequence[str]) -> Dict[str, str]:
    options = {}
    for item in items:
        if "=" not in item:
            raise ScoreError(f"--asr-opt {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        options[key] = value
    return options


def run(args: argparse.Namespace, argv: Sequence[str]) -> dict:
    ref = read_table(args.ref)
    est = read_table(args.est)
    check_keys(ref, est, args.ref, args.est)
    mix = None
    if args.mix:
        mix = read_table(args.mix)
        check_keys(ref, mix, args.ref, args.mix)
    keys = sorted(ref)
    if not keys:
        raise ScoreError(f"{args.ref}: no examples")

    first_ref, _ = read_audio(ref[keys[0]])
    chosen = _selected_metrics(args, first_ref.shape[0])
    unavailable = {}
    if "dnsmos" in chosen:
        _, reason = metrics.load_dnsmos(args.dnsmos_model)
        if reason:
            log.warning("dnsmos unavailable: %s", reason)
            unavailable["dnsmos"] = reason
            chosen.remove("dnsmos")
    if "wer" in chosen and not (args.asr and args.text):
        raise ScoreError("metric wer needs --asr NAME and --text FILE")
    if args.text and "wer" in chosen:
        uncovered = sorted(set(ref) - set(read_table(args.text)))
        if uncovered:
            raise ScoreError(f"{args.text}: no transcript for {len(uncovered)} key(s) of {args.ref}: {', '.join(uncovered[:_MAX_LISTED])}")

    spec = {
        "metrics": chosen,
        "sample_rate": args.sample_rate,
        "asr": args.asr if "wer" in chosen else None,
        "asr_options": _asr_options(args.asr_opt),
        "text": args.text if "wer" in chosen else None,
        "dnsmos_model": args.dnsmos_model,
    }
    columns = metrics.metric_columns(chosen, mix is not None)
    jobs = [(k, {"ref": ref[k], "est": est[k], "mix": mix[k] if mix else None}, args.sample_rate) for k in keys]

    rows: Dict[str, Dict[str, Optional[float]]] = {}
    errors: Dict[str, Dict[str, str]] = {}
    trimmed = 0
    log.info("scoring %d examples with %s (%d job(s))", len(keys), ", ".join(columns), args.nj)

    def collect(results):
        nonlocal trimmed
        for key, values, errs, note in progress(results, total=len(jobs), desc="score", unit="utt"):
            rows[key] = values
            if errs:
                errors[key] = errs
            if note:
                trimmed += 1
                if trimmed <= _MAX_TRIM_WARNINGS:
                    log.warning(note)

    if args.nj > 1:
        with multiprocessing.get_context("spawn").Pool(args.nj, initializer=_init_worker, initargs=(spec,)) as pool:
            collect(pool.imap(_score_one, jobs, chunksize=max(1, min(16, len(jobs) // (4 * args.nj)))))
    else:
        _init_worker(spec)
        collect(map(_score_one, jobs))
    if trimmed:
        log.warning("%d of %d examples had signals of different lengths and were trimmed to the shortest", trimmed, len(keys))
    if errors:
        log.warning("%d example(s) had a failing metric; see %s", len(errors), args.out_dir / "errors.txt")

    extra = {"n_examples": len(keys), "n_trimmed": trimmed}
    if unavailable:
        extra["unavailable"] = unavailable
    info = {
        "command": shlex.join(["python", "-m", "tsepn.bin.score", *argv]),
        "ref": args.ref,
        "est": args.est,
        "mix": args.mix,
        "metrics": chosen,
        "sample_rate": args.sample_rate,
        "tsepn_version": tsepn.__version__,
    }
    summary = write_outputs(args.out_dir, columns, rows, errors, mix is not None, extra, info)
    for column in ("snri", "si_snri", "sdri", "pesq", "stoi"):
        if column in summary and summary[column]["mean"] is not None:
            log.info("%s %.3f +- %.3f (n=%d)", column, summary[column]["mean"], summary[column]["std"], summary[column]["n"])
    return summary


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        run(args, argv)
    except (ScoreError, metrics.MetricError, ValueError, FileNotFoundError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
