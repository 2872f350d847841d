"""Scoring a set: per-example scorer, key checks, the parallel loop, the outputs.

Rules (docs/scoring.md):
- Fixed order: the estimate is scored exactly as produced (no permutation or
  sign search).
- The key sets of the estimate (and mixture) lists must equal the reference's;
  otherwise the run fails listing the missing and extra keys, nothing scored.
- Signals of one example with different lengths are trimmed to the shortest
  (a warning; counted as `n_trimmed`). Another sample rate is an error.
- Undefined values are empty cells counted as `undefined`; a metric that
  raises on an example is an empty cell counted as `failed` and written to
  errors.txt; a metric that cannot run at all (no ASR model, say) is listed
  under `unavailable` with the reason. The job goes on in every case.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tsepn.audio import read_audio
from tsepn.fileio import iter_table, read_table, write_table, write_text_atomic
from tsepn.scoring import metrics as sm
from tsepn.scoring.asr import AsrBackend, AsrUnavailable, build_asr, normalize_text, wer
from tsepn.scoring.dnsmos import DnsMos, load_dnsmos

log = logging.getLogger("tsepn.score")

WRONG_SPEAKER_DB = 0.0  # SI-SNRi below this counts as "extracted the wrong speaker"
_MAX_LISTED = 10
_MAX_TRIM_WARNINGS = 5

IMPROVABLE = {"snr": sm.snr, "si_snr": sm.si_snr, "si_sdr": sm.si_sdr, "sdr": sm.sdr}  # also reported as <name>i
METRIC_NAMES = ("snr", "si_snr", "si_sdr", "sdr", "pesq", "pesq_nb", "pesq_nb_raw", "stoi", "estoi", "dnsmos", "wer",
                "itd", "ild", "out_energy_rel_db")
# dnsmos joins the defaults when its model is there; out_energy_rel_db when a mixture is given
DEFAULT_METRICS = ("snr", "si_snr", "si_sdr", "sdr", "pesq", "pesq_nb", "pesq_nb_raw", "stoi", "estoi")
_OUTPUT_COLUMNS = {"itd": ["itd_err_us"], "ild": ["ild_err_db"], "dnsmos": ["dnsmos", "dnsmos_sig", "dnsmos_bak"]}
WER_REFERENCES = ("asr_of_reference", "transcript_if_whole")
NEEDS_MIXTURE = ("out_energy_rel_db",)


class ScoreError(ValueError):
    """Bad scoring input (mismatched lists, wrong sample rate, channel counts)."""


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


def metric_columns(metrics: Sequence[str], with_mixture: bool) -> List[str]:
    """CSV columns for `metrics`, in a fixed order; an improvement (`<name>i`,
    estimate minus mixture) follows its metric when the mixture is given."""
    unknown = sorted(set(metrics) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRIC_NAMES)}")
    columns: List[str] = []
    for name in METRIC_NAMES:
        if name not in metrics:
            continue
        columns += _OUTPUT_COLUMNS.get(name, [name])
        if name in IMPROVABLE and with_mixture:
            columns.append(name + "i")
    return columns


# --------------------------------------------------------------------------- one example


class ExampleScorer:
    """Computes the selected metrics for one (estimate, reference, mixture).

    Returns ({column: value or None}, {metric: error message}). A metric that
    raises is recorded in the error dict and its columns left undefined; the
    other metrics of the example are still computed.

    WER: with `wer_reference="transcript_if_whole"` the reference words are
    `transcripts[key]` (an example without a line there is undefined: its
    target was cut or repeated, see docs/scoring.md); with "asr_of_reference"
    they are the same back end's transcript of the clean reference signal.
    """

    def __init__(
        self,
        metrics: Sequence[str],
        sample_rate: int,
        asr: Optional[AsrBackend] = None,
        transcripts: Optional[Dict[str, str]] = None,
        dnsmos: Optional[DnsMos] = None,
        wer_reference: str = "asr_of_reference",
        ref_hyps: Optional[Dict[str, str]] = None,
    ):
        metric_columns(metrics, False)  # rejects unknown names
        self.metrics = [m for m in METRIC_NAMES if m in metrics]
        self.sample_rate = sample_rate
        self.asr, self.transcripts, self.dnsmos = asr, transcripts, dnsmos
        if wer_reference not in WER_REFERENCES:
            raise ValueError(f"wer reference {wer_reference!r}: expected one of {', '.join(WER_REFERENCES)}")
        self.wer_reference = wer_reference
        self.ref_hyps = ref_hyps or {}  # ASR transcripts of the references made earlier (asr_ref.txt)
        self.transcribed: Dict[str, str] = {}  # the last example's ASR output: "hyp", "ref_hyp"
        if "wer" in self.metrics and asr is None:
            raise ValueError("metric 'wer' needs an ASR back end")
        if "wer" in self.metrics and wer_reference == "transcript_if_whole" and transcripts is None:
            raise ValueError("metric 'wer' with reference transcript_if_whole needs reference transcripts")
        if "dnsmos" in self.metrics and dnsmos is None:
            raise ValueError("metric 'dnsmos' needs a DNSMOS model")
        sr = sample_rate
        self._single: Dict[str, Callable] = {
            "pesq": lambda key, est, ref, mix: sm.pesq_wb(est, ref, sr),
            "pesq_nb": lambda key, est, ref, mix: sm.pesq_nb(est, ref, sr),
            "stoi": lambda key, est, ref, mix: sm.stoi(est, ref, sr),
            "estoi": lambda key, est, ref, mix: sm.estoi(est, ref, sr),
            "wer": self._wer,
            "itd": lambda key, est, ref, mix: sm.itd_error_us(est, ref, sr),
            "ild": lambda key, est, ref, mix: sm.ild_error_db(est, ref),
        }

    def __call__(
        self, key: str, est: np.ndarray, ref: np.ndarray, mix: Optional[np.ndarray] = None
    ) -> Tuple[Dict[str, Optional[float]], Dict[str, str]]:
        values: Dict[str, Optional[float]] = {}
        errors: Dict[str, str] = {}
        self.transcribed = {}
        for name in self.metrics:
            try:
                produced = self._compute(name, key, est, ref, mix, values)
            except Exception as err:  # any metric failure is recorded, never fatal
                errors[name] = f"{type(err).__name__}: {err}".strip()
                produced = {c: None for c in metric_columns([name], mix is not None)}
            values.update(produced)
        return values, errors

    def _compute(self, name, key, est, ref, mix, done) -> Dict[str, Optional[float]]:
        if name in IMPROVABLE:
            fn = IMPROVABLE[name]
            value = fn(est, ref)
            out = {name: value}
            if mix is not None:
                base = fn(mix, ref)
                out[name + "i"] = None if value is None or base is None else value - base
            return out
        if name == "pesq_nb_raw":
            # one narrow-band PESQ run serves both columns when pesq_nb was computed
            if "pesq_nb" in self.metrics:
                mos = done.get("pesq_nb")
                return {name: None if mos is None else sm.raw_from_mos_lqo(mos)}
            return {name: sm.pesq_nb_raw(est, ref, self.sample_rate)}
        if name == "dnsmos":
            scores = self.dnsmos(est, self.sample_rate)
            return {"dnsmos": scores["ovrl"], "dnsmos_sig": scores["sig"], "dnsmos_bak": scores["bak"]}
        if name == "out_energy_rel_db":
            if mix is None:
                raise sm.MetricError("out_energy_rel_db needs the mixture (--mix)")
            return {name: sm.out_energy_rel_db(est, mix)}
        [column] = _OUTPUT_COLUMNS.get(name, [name])
        return {column: self._single[name](key, est, ref, mix)}

    def _wer(self, key: str, est: np.ndarray, ref: np.ndarray, mix) -> Optional[float]:
        if self.wer_reference == "transcript_if_whole":
            if key not in self.transcripts:
                return None  # no exact transcript for this example (target cut or repeated)
            reference = self.transcripts[key]
        else:
            if sm._is_silent(sm._as_channels(ref)):
                return None
            if key in self.ref_hyps:
                reference = self.ref_hyps[key]
            else:
                reference = self.asr.transcribe(key, sm._as_channels(ref), self.sample_rate)
            self.transcribed["ref_hyp"] = reference
        hypothesis = self.asr.transcribe(key, sm._as_channels(est), self.sample_rate)
        self.transcribed["hyp"] = hypothesis
        return wer(reference, hypothesis)


# --------------------------------------------------------------------------- a set


@dataclass
class ScoreSpec:
    """Everything a scoring worker needs to build its ExampleScorer (picklable)."""

    metrics: List[str]
    sample_rate: int
    asr: Optional[str] = None
    asr_options: Dict[str, str] = field(default_factory=dict)
    text: Optional[str] = None
    wer_reference: str = "asr_of_reference"
    dnsmos_model: Optional[str] = None
    ref_hyps: Optional[str] = None  # asr_ref.txt of an earlier scoring of the same references, same back end


def read_transcripts(path: str) -> Dict[str, str]:
    """A Kaldi `text` file; a key alone is an example without words."""
    return {fields[0]: " ".join(fields[1:]) for _, fields in iter_table(path, min_fields=1)}


def build_scorer(spec: ScoreSpec) -> ExampleScorer:
    """One scorer: the ONNX session and the recogniser are loaded here, once."""
    asr = build_asr(spec.asr, spec.asr_options) if "wer" in spec.metrics else None
    transcripts = read_transcripts(spec.text) if spec.text and "wer" in spec.metrics else None
    dnsmos = DnsMos(spec.dnsmos_model) if "dnsmos" in spec.metrics else None
    ref_hyps = read_transcripts(spec.ref_hyps) if spec.ref_hyps and "wer" in spec.metrics else None
    return ExampleScorer(spec.metrics, spec.sample_rate, asr=asr, transcripts=transcripts, dnsmos=dnsmos,
                         wer_reference=spec.wer_reference, ref_hyps=ref_hyps)


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


_SCORER: Optional[ExampleScorer] = None


def _init_worker(spec: ScoreSpec, scorer: Optional[ExampleScorer] = None) -> None:
    global _SCORER
    logging.getLogger("tsepn.audio").setLevel(logging.ERROR)
    _SCORER = scorer if scorer is not None else build_scorer(spec)


def _score_one(job: Tuple[str, Dict[str, Optional[str]], int]):
    key, specs, sample_rate = job
    signals, note = load_example(key, specs, sample_rate)
    values, errors = _SCORER(key, signals["est"], signals["ref"], signals.get("mix"))
    return key, values, errors, note, dict(_SCORER.transcribed)


def check_resources(spec: ScoreSpec, ref_keys: Sequence[str]) -> Tuple[Optional[ExampleScorer], Dict[str, str]]:
    """Load what the selected metrics need once, here; a metric that cannot run is
    dropped from `spec.metrics` and returned as {metric: reason} (never fatal).

    Returns (a ready scorer for a single-process run, unavailable)."""
    unavailable: Dict[str, str] = {}
    if "dnsmos" in spec.metrics:
        _, reason = load_dnsmos(spec.dnsmos_model)
        if reason:
            unavailable["dnsmos"] = reason
    if "wer" in spec.metrics:
        if spec.wer_reference == "transcript_if_whole":
            if not spec.text:
                unavailable["wer"] = "reference transcript_if_whole needs --text FILE"
            elif not Path(spec.text).is_file():
                unavailable["wer"] = f"{spec.text}: no such transcript file"
            else:
                table = read_transcripts(spec.text)
                covered = [k for k in ref_keys if normalize_words(table.get(k, ""))]
                if not covered:
                    unavailable["wer"] = f"{spec.text}: no example has a reference transcript with words"
                elif len(covered) < len(ref_keys):
                    log.warning("%s: %d of %d examples have an exact transcript; the others get an undefined WER",
                                spec.text, len(covered), len(ref_keys))
        if "wer" not in unavailable and not spec.asr:
            unavailable["wer"] = "no ASR back end given (--asr NAME)"
    for metric, reason in unavailable.items():
        log.warning("%s unavailable: %s", metric, reason)
        spec.metrics.remove(metric)
    try:
        scorer = build_scorer(spec)
    except Exception as err:  # the recogniser could not be built: WER is unavailable, the rest is scored
        if "wer" not in spec.metrics:
            raise
        reason = str(err) if isinstance(err, AsrUnavailable) else f"{spec.asr}: {type(err).__name__}: {err}"
        log.warning("wer unavailable: %s", reason)
        unavailable["wer"] = reason
        spec.metrics.remove("wer")
        scorer = build_scorer(spec)
    return scorer, unavailable


def normalize_words(text: str) -> List[str]:
    return normalize_text(text).split()


def score_set(
    ref_scp: str,
    est_scp: str,
    out_dir: Path,
    spec: ScoreSpec,
    mix_scp: Optional[str] = None,
    nj: int = 1,
    info: Optional[dict] = None,
    progress: bool = True,
    declared_unavailable: Optional[Dict[str, str]] = None,
) -> dict:
    """Score every example of `est_scp` against `ref_scp`; write the outputs; return the summary."""
    from tqdm import tqdm

    ref = read_table(ref_scp)
    est = read_table(est_scp)
    check_keys(ref, est, ref_scp, est_scp)
    mix = None
    if mix_scp:
        mix = read_table(mix_scp)
        check_keys(ref, mix, ref_scp, mix_scp)
    keys = sorted(ref)
    if not keys:
        raise ScoreError(f"{ref_scp}: no examples")
    if mix is None and any(m in NEEDS_MIXTURE for m in spec.metrics):
        raise ScoreError(f"metric(s) {', '.join(m for m in spec.metrics if m in NEEDS_MIXTURE)} need --mix")

    scorer, unavailable = check_resources(spec, keys)
    unavailable = dict(declared_unavailable or {}, **unavailable)
    how = computed_with(spec, scorer)
    columns = metric_columns(spec.metrics, mix is not None)
    jobs = [(k, {"ref": ref[k], "est": est[k], "mix": mix[k] if mix else None}, spec.sample_rate) for k in keys]

    rows: Dict[str, Dict[str, Optional[float]]] = {}
    errors: Dict[str, Dict[str, str]] = {}
    transcripts: Dict[str, Dict[str, str]] = {"hyp": {}, "ref_hyp": {}}
    trimmed = 0
    log.info("scoring %d examples with %s (%d job(s))", len(keys), ", ".join(columns), nj)

    def collect(results):
        nonlocal trimmed
        for key, values, errs, note, said in tqdm(results, total=len(jobs), desc="score", unit="utt", disable=not progress):
            rows[key] = values
            for kind, text in said.items():
                transcripts[kind][key] = text
            if errs:
                errors[key] = errs
            if note:
                trimmed += 1
                if trimmed <= _MAX_TRIM_WARNINGS:
                    log.warning(note)

    if nj > 1:
        # each worker loads its own ONNX session and recogniser, once (the parent's copy only checked them)
        scorer = None
        with multiprocessing.get_context("spawn").Pool(nj, initializer=_init_worker, initargs=(spec,)) as pool:
            collect(pool.imap(_score_one, jobs, chunksize=max(1, min(16, len(jobs) // (4 * nj)))))
    else:
        _init_worker(spec, scorer)
        collect(map(_score_one, jobs))
    if trimmed:
        log.warning("%d of %d examples had signals of different lengths and were trimmed to the shortest", trimmed, len(keys))
    if errors:
        log.warning("%d example(s) had a failing metric; see %s", len(errors), Path(out_dir) / "errors.txt")

    extra = {"n_examples": len(keys), "n_trimmed": trimmed, "computed": how}
    if unavailable:
        extra["unavailable"] = unavailable
    info = dict(info or {}, ref=ref_scp, est=est_scp, mix=mix_scp, metrics=list(spec.metrics), sample_rate=spec.sample_rate)
    # what the recogniser heard: for reading WERs, and asr_ref.txt to reuse (--asr-ref) for the same references
    for kind, name in (("hyp", "asr_hyp.txt"), ("ref_hyp", "asr_ref.txt")):
        path = Path(out_dir) / name
        if transcripts[kind]:
            write_table(path, sorted(transcripts[kind].items()))
        elif path.exists():
            path.unlink()  # stale from an earlier run
    return write_outputs(Path(out_dir), columns, rows, errors, mix is not None, extra, info)


def computed_with(spec: ScoreSpec, scorer: Optional[ExampleScorer]) -> Dict[str, str]:
    """How the metrics whose back end or variant can differ were computed (for RESULTS.md)."""
    how: Dict[str, str] = {}
    if "pesq" in spec.metrics:
        how["pesq"] = "pesq package, wide band (P.862.2 MOS-LQO)"
    if "pesq_nb" in spec.metrics:
        how["pesq_nb"] = "pesq package, narrow band (P.862.1 MOS-LQO)"
    if "pesq_nb_raw" in spec.metrics:
        how["pesq_nb_raw"] = "raw narrow-band P.862 (pypesq's number), inverted from the pesq package's MOS-LQO"
    if "dnsmos" in spec.metrics:
        model = spec.dnsmos_model or "speechmos sig_bak_ovr.onnx"
        how["dnsmos"] = f"DNSMOS P.835, non-personalised, {model}"
    if "wer" in spec.metrics:
        name = scorer.asr.name if scorer is not None and scorer.asr is not None else spec.asr
        how["wer"] = f"ASR {name}; reference = {spec.wer_reference}"
        if spec.ref_hyps and spec.wer_reference == "asr_of_reference":
            how["wer"] += f" (reference transcripts reused from {spec.ref_hyps})"
    return how


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

    failed = {key: metric_columns(list(errs), with_mixture) for key, errs in errors.items()}
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
