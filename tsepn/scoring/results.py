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

# (summary column, row title, decimals), in table order
METRIC_ROWS = (
    ("snri", "SNRi (dB)", 2),
    ("si_snri", "SI-SNRi (dB)", 2),
    ("si_sdri", "SI-SDRi (dB)", 2),
    ("sdri", 'SDRi (dB, BSS-eval 512 taps; authors\' "SISDRi")', 2),
    ("pesq", "PESQ (wide-band)", 2),
    ("stoi", "STOI", 3),
    ("estoi", "ESTOI", 3),
    ("dnsmos", "DNSMOS (overall)", 2),
    ("wer", "WER", 3),
    ("itd_err_us", "ITD error (µs)", 1),
    ("ild_err_db", "ILD error (dB)", 2),
)
PLOT_NAME = "RESULTS_si_snri.png"


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


def score_dir(root: Path, prefix: str, condition: str, wrong: bool = False) -> Path:
    return Path(root) / f"score_{prefix}_{condition}{'_wrong_enroll' if wrong else ''}"


def read_summary(directory: Path) -> Optional[dict]:
    path = directory / "summary.json"
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
        model.summaries[condition] = read_summary(score_dir(model.score_root, prefix, condition))
        model.controls[condition] = read_summary(score_dir(model.score_root, prefix, condition, wrong=True))
    return model


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


def _rows_present(summaries: Sequence[Optional[dict]], paper: Optional[str], conditions: Sequence[str]):
    for column, title, decimals in METRIC_ROWS:
        ours = any(_stat(s, column) is not None for s in summaries)
        theirs = any(paper_number(paper, c, column) is not None for c in conditions)
        if ours or theirs:
            yield column, title, decimals


def _table(summaries: Dict[str, Optional[dict]], paper: Optional[str], conditions: Sequence[str]) -> List[str]:
    header = "| metric | " + " | ".join(CONDITION_TITLES.get(c, c) for c in conditions) + " |"
    lines = [header, "|---" * (len(conditions) + 1) + "|"]
    for column, title, decimals in _rows_present(list(summaries.values()), paper, conditions):
        cells = [_cell(summaries[c], column, decimals, paper_number(paper, c, column)) for c in conditions]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    rate = [summaries[c].get("wrong_speaker_rate") if summaries[c] else None for c in conditions]
    if any(r is not None for r in rate):
        lines.append("| wrong-speaker rate (SI-SNRi < 0 dB) | " + " | ".join("—" if r is None else f"{r:.1%}" for r in rate) + " |")
    counts = [str(summaries[c].get("n_examples", "?")) if summaries[c] else "—" for c in conditions]
    lines.append("| examples | " + " | ".join(counts) + " |")
    return lines


def _notes(summaries: Dict[str, Optional[dict]], conditions: Sequence[str]) -> List[str]:
    """Undefined/failed counts, trimmed examples and unavailable metrics, so nothing hides in a mean."""
    notes = []
    for condition in conditions:
        summary = summaries[condition]
        if summary is None:
            continue
        for column, _, _ in METRIC_ROWS:
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
        "Published numbers from the paper / the authors' README are in parentheses (see tsepn/paper_numbers.py;",
        'their "SISDRi" is a BSS-eval SDRi and sits in the SDRi row; their PESQ came from pypesq, a narrow-band score).',
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
    if not any(s is not None for model in models for s in [*model.summaries.values(), *model.controls.values()]):
        roots = ", ".join(str(m.score_root) for m in models)
        raise ResultsError(f"no score_{prefix}_<condition>/summary.json found under {roots}")
    plot_path = out.parent / PLOT_NAME
    plotted = plot_si_snri(models, prefix, conditions, plot_path)
    text = render(models, exp_dir.name, prefix, conditions, command, configs, checkpoint, plot_path.name if plotted else None)
    write_text_atomic(out, text)
    log.info("wrote %s%s", out, f" and {plot_path}" if plotted else "")
    return out
