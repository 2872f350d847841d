"""RESULTS.md in the paper's layout, from the scoring stage's summary files.

For every model: a table with one row per metric and one column per test
condition (m2e2, m2e3, m3e2, m3e3), each cell `mean ± std` of tsepn's score
next to the published number; a second table for the wrong-enrollment
controls (`<testset>_wrong_enroll`); a box plot of per-example SI-SNRi per
condition (PNG beside RESULTS.md); and the command, configs and checkpoint
that produced the numbers.

Expected layout: <score_root>/score_<prefix>_<condition>/summary.json (and
per_utt.csv, score_info.json) as written by tsepn.bin.score.
"""
from __future__ import annotations

import csv
import datetime
import hashlib
import json
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import tsepn
from tsepn.fileio import atomic_path, write_text_atomic
from tsepn.scoring.paper_numbers import CONDITION_TITLES, CONDITIONS, paper_number

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Row:
    """One metric row: summary column, title, decimals, how it is computed, whether the paper's
    number beside it is comparable (None: the paper has no such number)."""

    column: str
    title: str
    decimals: int
    how: str
    vs_paper: Optional[str] = None
    metric: str = ""  # the --metrics name that produces the column (default: the column)

    @property
    def source(self) -> str:
        return self.metric or self.column


_NB_NOTE = "not comparable: the paper's PESQ is the raw narrow-band score (row PESQ NB raw)"
ROWS = (
    Row("snri", "SNRi (dB)", 2, "10 log10 ‖s‖²/‖ŝ−s‖², no scaling", "comparable", "snr"),
    Row("si_snri", "SI-SNRi (dB)", 2, "zero-mean SI-SNR", "comparable", "si_snr"),
    Row("si_sdri", "SI-SDRi (dB)", 2, "zero-mean SI-SDR (= SI-SNR)", "comparable", "si_sdr"),
    Row("sdri", 'SDRi (dB; authors\' "SISDRi")', 2, "BSS-eval SDR, 512-tap filter, zero-mean", "comparable", "sdr"),
    Row("pesq_nb_raw", "PESQ NB raw (the paper's PESQ)", 2, "raw narrow-band P.862 as pypesq, inverted from pesq's MOS-LQO",
        "comparable (pypesq's number)"),
    Row("pesq_nb", "PESQ NB (MOS-LQO)", 2, "pesq package, narrow band, P.862.1 MOS-LQO", _NB_NOTE),
    Row("pesq", "PESQ WB", 2, "pesq package, wide band, P.862.2 MOS-LQO", _NB_NOTE),
    Row("stoi", "STOI", 3, "pystoi", "comparable"),
    Row("estoi", "ESTOI", 3, "pystoi, extended", None),
    Row("dnsmos", "DNSMOS OVRL", 2, "DNSMOS P.835, speechmos model", "comparable when computed with the speechmos model"),
    Row("dnsmos_sig", "DNSMOS SIG", 2, "DNSMOS P.835, speechmos model", None, "dnsmos"),
    Row("dnsmos_bak", "DNSMOS BAK", 2, "DNSMOS P.835, speechmos model", None, "dnsmos"),
    Row("wer", "WER", 3, "no ASR run (tsepn-score --asr NAME)", "not comparable: another ASR system (the paper does not name its own)"),
    Row("itd_err_us", "ITD error (µs)", 1, "abs(ITD(ŝ)−ITD(s)), cross-correlation peak within ±1 ms", None, "itd"),
    Row("ild_err_db", "ILD error (dB)", 2, "abs(ILD(ŝ)−ILD(s))", None, "ild"),
)
# (summary column, row title, decimals), in table order (kept for callers of the old layout)
METRIC_ROWS = tuple((r.column, r.title, r.decimals) for r in ROWS)
ABSENT_ROWS = (
    Row("out_energy_rel_db", "output energy re mixture (dB)", 2, "10 log10 ‖ŝ‖²/‖mixture‖²; lower is better", None),
    Row("dnsmos", "DNSMOS OVRL", 2, "DNSMOS P.835, speechmos model", None),
)
ABSENT_SET = "absent"  # the target-absent test set is <prefix>_absent (test_absent)


def row_how(row: Row, summaries: Sequence[Optional[dict]]) -> str:
    """How the row was computed: the scorer's own record (back end, variant) when it made one."""
    for summary in summaries:
        if summary and isinstance(summary.get("computed"), dict) and row.source in summary["computed"]:
            return summary["computed"][row.source]
    return row.how


def row_vs_paper(row: Row, summaries: Sequence[Optional[dict]], has_paper: bool) -> str:
    if not has_paper or row.vs_paper is None:
        return "—"
    if row.source == "dnsmos":
        how = row_how(row, summaries)
        return "comparable (speechmos OVRL, as the authors)" if "speechmos" in how else "not comparable: another DNSMOS model"
    return row.vs_paper


def unavailable_reason(summaries: Sequence[Optional[dict]], row: Row) -> Optional[str]:
    for summary in summaries:
        reason = (summary or {}).get("unavailable", {}).get(row.source)
        if reason:
            return reason
    return None


PLOT_NAME = "RESULTS_si_snri.png"
REPORT_FILE = "report.json"  # a system's own figures of a scored set (tsepn.bin.system_report)


class ResultsError(ValueError):
    """No usable score directories, or a malformed summary file."""


@dataclass
class ModelScores:
    """One model's scores: where its score_* directories live, which published row it is compared with."""

    label: str
    score_root: Path
    paper: Optional[str] = None
    summaries: Dict[str, Optional[dict]] = field(default_factory=dict)  # condition -> summary
    controls: Dict[str, Optional[dict]] = field(default_factory=dict)  # condition -> wrong-enroll summary
    absent: Optional[dict] = None  # the target-absent set's summary (score_<prefix>_absent)
    reports: Dict[str, dict] = field(default_factory=dict)  # scored set -> its report.json (tsepn.bin.system_report)


def score_dir(root: Path, prefix: str, condition: str, wrong: bool = False) -> Path:
    return Path(root) / f"score_{prefix}_{condition}{'_wrong_enroll' if wrong else ''}"


def read_summary(directory: Path, name: str = "summary.json") -> Optional[dict]:
    path = directory / name
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return data


def load_model_scores(model: ModelScores, prefix: str = "test", conditions: Sequence[str] = CONDITIONS) -> ModelScores:
    for condition in conditions:
        for wrong, scores in ((False, model.summaries), (True, model.controls)):
            folder = score_dir(model.score_root, prefix, condition, wrong)
            scores[condition] = read_summary(folder)
            report = read_summary(folder, REPORT_FILE)
            if report is not None:
                model.reports[folder.name[len("score_"):]] = report
    model.absent = read_summary(score_dir(model.score_root, prefix, ABSENT_SET))
    return model


def reports_section(models: Sequence[ModelScores]) -> List[str]:
    """Figures only some systems have (score_<set>/report.json, e.g. refsel's oracle reference), one table each."""
    lines: List[str] = []
    for model in models:
        if not model.reports:
            continue
        first = next(iter(model.reports.values()))
        names = sorted({k for r in model.reports.values() for k in r.get("figures", {})})
        lines += [f"## {model.label}: {first.get('title', first.get('report', 'report'))}", "",
                  "| set | " + " | ".join(names) + " | examples |", "|---" * (len(names) + 2) + "|"]
        for set_name, report in model.reports.items():
            figures = report.get("figures", {})
            cells = ["—" if figures.get(n) is None else f"{figures[n]:.3f}" if isinstance(figures[n], float)
                     else str(figures[n]) for n in names]
            lines.append(f"| {set_name} | " + " | ".join(cells) + f" | {report.get('n_examples', '?')} |")
        how = {k: v for r in model.reports.values() for k, v in r.get("how", {}).items()}
        lines += [""] + [f"- {k}: {v}" for k, v in sorted(how.items())] + [""]
    return lines


def absent_section(models: Sequence[ModelScores], prefix: str) -> List[str]:
    """The target-absent test: what each model outputs when the target does not talk at all."""
    scored = [m for m in models if m.absent is not None]
    if not scored:
        return []
    lines = [f"## Target absent ({prefix}_{ABSENT_SET})", "",
             "The target is silent in the mixture (enrollments as usual). SI-SNR is undefined there; the row",
             "is the output energy relative to the mixture: 0 dB passes the mixture through, lower is better",
             "(an ideal extractor outputs silence).", "",
             "| system | " + " | ".join(f"{r.title} ({r.how})" for r in ABSENT_ROWS) + " | examples |",
             "|---" * (len(ABSENT_ROWS) + 2) + "|"]
    for model in scored:
        cells = [_cell(model.absent, r.column, r.decimals) for r in ABSENT_ROWS]
        lines.append(f"| {model.label} | " + " | ".join(cells) + f" | {model.absent.get('n_examples', '?')} |")
    return lines + [""]


# --------------------------------------------------------------------------- tables


def _stat(summary: Optional[dict], column: str) -> Optional[dict]:
    if summary is None:
        return None
    entry = summary.get(column)
    if not isinstance(entry, dict) or entry.get("mean") is None:
        return None
    return entry


def _mean_std(mean: float, std: Optional[float], decimals: int) -> str:
    text = f"{mean:.{decimals}f}"
    return text if std is None else f"{text} ± {std:.{decimals}f}"


def _cell(summary: Optional[dict], column: str, decimals: int, published=None) -> str:
    stat = _stat(summary, column)
    ours = "—" if stat is None else _mean_std(stat["mean"], stat.get("std"), decimals)
    if published is None:
        return ours
    return f"{ours} (paper {_mean_std(published[0], published[1], decimals)})"


def _rows_present(summaries: Sequence[Optional[dict]], paper: Optional[str], conditions: Sequence[str], rows=ROWS):
    for row in rows:
        ours = any(_stat(s, row.column) is not None for s in summaries)
        theirs = any(paper_number(paper, c, row.column) is not None for c in conditions)
        if ours or theirs or unavailable_reason(summaries, row):
            yield row


def _table(summaries: Dict[str, Optional[dict]], paper: Optional[str], conditions: Sequence[str], rows=ROWS) -> List[str]:
    header = "| metric | how computed | vs paper | " + " | ".join(CONDITION_TITLES.get(c, c) for c in conditions) + " |"
    lines = [header, "|---" * (len(conditions) + 3) + "|"]
    present = list(summaries.values())
    for row in _rows_present(present, paper, conditions, rows):
        reason = unavailable_reason(present, row)
        cells = []
        for c in conditions:
            cell = _cell(summaries.get(c), row.column, row.decimals, paper_number(paper, c, row.column))
            if reason and _stat(summaries.get(c), row.column) is None:
                cell = cell.replace("—", f"n/a ({reason})", 1)
            cells.append(cell)
        how = row_how(row, present)
        has_number = any(paper_number(paper, c, row.column) for c in conditions)
        # a "not comparable" note stands whenever a paper row is beside the table; "comparable" only next to a number
        vs = row_vs_paper(row, present, has_number or (paper is not None and (row.vs_paper or "").startswith("not")))
        lines.append(f"| {row.title} | {how} | {vs} | " + " | ".join(cells) + " |")
    rate = [summaries[c].get("wrong_speaker_rate") if summaries.get(c) else None for c in conditions]
    if any(r is not None for r in rate):
        lines.append("| wrong-speaker rate (SI-SNRi < 0 dB) | share of examples | — | " + " | ".join("—" if r is None else f"{r:.1%}" for r in rate) + " |")
    counts = [str(summaries[c].get("n_examples", "?")) if summaries.get(c) else "—" for c in conditions]
    lines.append("| examples | | | " + " | ".join(counts) + " |")
    return lines


def _notes(summaries: Dict[str, Optional[dict]], conditions: Sequence[str]) -> List[str]:
    """Undefined/failed counts, trimmed examples and unavailable metrics, so nothing hides in a mean."""
    notes = []
    for condition in conditions:
        summary = summaries[condition]
        if summary is None:
            continue
        for column in [r.column for r in ROWS] + [r.column for r in ABSENT_ROWS]:
            stat = summary.get(column)
            if isinstance(stat, dict) and (stat.get("undefined") or stat.get("failed")):
                notes.append(
                    f"- {condition} {column}: {stat.get('undefined', 0)} undefined, {stat.get('failed', 0)} failed "
                    f"(excluded from the mean of n={stat.get('n')})"
                )
        if summary.get("n_trimmed"):
            notes.append(f"- {condition}: {summary['n_trimmed']} example(s) trimmed to the shorter signal")
        for metric, reason in (summary.get("unavailable") or {}).items():
            notes.append(f"- {condition} {metric}: unavailable ({reason})")
    return notes


# --------------------------------------------------------------------------- provenance


def _fingerprint(path: Path) -> str:
    path = Path(path)
    if not path.is_file():
        return f"`{path}` (not found)"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"`{path}` (sha256 {digest})"


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(tsepn.__file__).parent, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _provenance(models: Sequence[ModelScores], prefix: str, conditions, command, configs, checkpoint) -> List[str]:
    lines = ["## How these numbers were made", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    for config in configs or []:
        lines.append(f"- config: {_fingerprint(config)}")
    if checkpoint:
        lines.append(f"- checkpoint: {_fingerprint(checkpoint)}")
    lines.append(f"- tsepn {tsepn.__version__}, git {_git_revision()}, written {datetime.date.today().isoformat()}")
    for model in models:
        for condition in conditions:
            for wrong in (False, True):
                directory = score_dir(model.score_root, prefix, condition, wrong)
                info_path = directory / "score_info.json"
                if not info_path.is_file():
                    continue
                info = json.loads(info_path.read_text(encoding="utf-8"))
                line = f"- {model.label} `{directory.name}`: `{info.get('command', '?')}`"
                decode_info = Path(info.get("est", "")).parent / "decode_info.json"
                if info.get("est") and decode_info.is_file():
                    decoded = json.loads(decode_info.read_text(encoding="utf-8"))
                    line += f"; decoded with `{decoded.get('checkpoint')}` (sha256 {str(decoded.get('checkpoint_sha256'))[:12]}), {decoded.get('config')}"
                lines.append(line)
    return lines


# --------------------------------------------------------------------------- plot


def _per_utt_column(directory: Path, column: str) -> List[float]:
    path = directory / "per_utt.csv"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        return [float(row[column]) for row in csv.DictReader(handle) if row.get(column)]


def plot_si_snri(models: Sequence[ModelScores], prefix: str, conditions: Sequence[str], path: Path) -> bool:
    """Box plot of per-example SI-SNRi (bars of mean ± std where per_utt.csv is
    missing), with the published mean as a black diamond where there is one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2.2 * len(conditions) * max(1, len(models)) ** 0.5 + 2, 4))
    width = 0.8 / max(1, len(models))
    drawn = paper_marks = False
    for m, model in enumerate(models):
        color = f"C{m}"
        for c, condition in enumerate(conditions):
            x = c + (m - (len(models) - 1) / 2) * width
            values = _per_utt_column(score_dir(model.score_root, prefix, condition), "si_snri")
            stat = _stat(model.summaries.get(condition), "si_snri")
            if values:
                box = ax.boxplot([values], positions=[x], widths=width * 0.8, patch_artist=True, showfliers=False)
                box["boxes"][0].set_facecolor(color)
                drawn = True
            elif stat is not None:
                ax.bar(x, stat["mean"], width * 0.8, yerr=stat.get("std") or 0, color=color, capsize=3)
                drawn = True
            published = paper_number(model.paper, condition, "si_snri")
            if published is not None:
                ax.plot([x], [published[0]], marker="D", color="black", linestyle="none")
                paper_marks = True
        ax.plot([], [], color=color, linewidth=8, label=model.label)
    if paper_marks:
        ax.plot([], [], marker="D", color="black", linestyle="none", label="paper (mean)")
    ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(conditions)))
    ax.set_xticklabels([CONDITION_TITLES.get(c, c).replace(" / ", "\n") for c in conditions])
    ax.set_ylabel("SI-SNRi (dB)")
    ax.legend(loc="best")
    fig.tight_layout()
    if drawn:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return drawn


# --------------------------------------------------------------------------- document


def render(
    models: Sequence[ModelScores],
    title: str,
    prefix: str = "test",
    conditions: Sequence[str] = CONDITIONS,
    command: Optional[str] = None,
    configs: Sequence[Path] = (),
    checkpoint: Optional[Path] = None,
    plot: Optional[str] = None,
) -> str:
    lines = [f"# RESULTS: {title}", ""]
    lines += [
        "Mean ± std (population) over the examples of each test set; improvements are relative to the",
        "unprocessed mixture; outputs are scored as produced (no sign or permutation search).",
        "Published numbers from the paper / the authors' README are in parentheses (see tsepn/scoring/paper_numbers.py;",
        'their "SISDRi" is a BSS-eval SDRi and sits in the SDRi row; their PESQ came from pypesq, the raw narrow-band',
        'score, and sits in the "PESQ NB raw" row). "how computed" says the back end and variant of each row,',
        '"vs paper" whether the published number beside it was computed the same way.',
        "",
    ]
    for model in models:
        lines += [f"## {model.label}" + (f" (compared with the paper's {model.paper!r})" if model.paper else ""), ""]
        lines += _table(model.summaries, model.paper, conditions)
        notes = _notes(model.summaries, conditions)
        missing = [c for c in conditions if model.summaries.get(c) is None]
        if missing:
            notes.insert(0, "- not scored: " + ", ".join(f"{prefix}_{c}" for c in missing))
        if notes:
            lines += ["", *notes]
        lines.append("")
        if any(s is not None for s in model.controls.values()):
            lines += [f"### {model.label}: wrong-enrollment controls ({prefix}_<condition>_wrong_enroll)", ""]
            lines += ["Enrollments of a different target speaker: a model that uses the enrollment should score low here.", ""]
            lines += _table(model.controls, None, conditions)
            lines.append("")
    lines += absent_section(models, prefix)
    lines += reports_section(models)
    if plot:
        lines += [f"![SI-SNRi per condition]({plot})", ""]
    lines += _provenance(models, prefix, conditions, command, configs, checkpoint)
    return "\n".join(lines) + "\n"


def write_results(
    exp_dir: Path,
    models: Sequence[ModelScores],
    prefix: str = "test",
    conditions: Sequence[str] = CONDITIONS,
    command: Optional[str] = None,
    configs: Sequence[Path] = (),
    checkpoint: Optional[Path] = None,
    out: Optional[Path] = None,
) -> Path:
    """Load the summaries, draw the plot, write RESULTS.md atomically; returns its path."""
    exp_dir = Path(exp_dir)
    out = Path(out) if out else exp_dir / "RESULTS.md"
    for model in models:
        load_model_scores(model, prefix, conditions)
    if not any(s is not None for model in models for s in [*model.summaries.values(), *model.controls.values(), model.absent]):
        roots = ", ".join(str(m.score_root) for m in models)
        raise ResultsError(f"no score_{prefix}_<condition>/summary.json found under {roots}")
    plot_path = out.parent / PLOT_NAME
    plotted = plot_si_snri(models, prefix, conditions, plot_path)
    text = render(models, exp_dir.name, prefix, conditions, command, configs, checkpoint, plot_path.name if plotted else None)
    write_text_atomic(out, text)
    log.info("wrote %s%s", out, f" and {plot_path}" if plotted else "")
    return out
