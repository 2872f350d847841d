"""RESULTS.md comparing several systems side by side (recipe stage 8 over every system trained).

    python -m tsepn.bin.make_results --compare --out exp/RESULTS.md proposed=exp/proposed/stage2 tce=exp/tce/train

Each DIR is a system's final experiment folder holding score_<prefix>_<condition>/summary.json
(and score_<prefix>_<condition>_wrong_enroll/, score_<prefix>_absent/ when scored). One table
per condition: a row per system (mean ± std), its wrong-enrollment control's SI-SNRi and
wrong-speaker rate beside it, then the paper's rows for the systems the paper reports
(tsepn.scoring.paper_numbers.SYSTEM_PAPER, e.g. proposed, nmf, usef_tfgridnet, tce).
Below the tables: how each column was computed and whether the paper's number is comparable,
and the target-absent table.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tsepn.fileio import write_text_atomic
from tsepn.scoring.paper_numbers import CONDITION_TITLES, CONDITIONS, PAPER_TITLES, paper_for_system, paper_number
from tsepn.scoring.results import (ABSENT_ROWS, ROWS, ModelScores, ResultsError, _cell, _git_revision, _stat,
                                   absent_section, load_model_scores, reports_section, row_how, row_vs_paper, score_dir,
                                   unavailable_reason)

log = logging.getLogger(__name__)

# columns of the comparison, in order (summary columns; see results.ROWS for titles and how)
COMPARE_COLUMNS = ("si_snri", "snri", "sdri", "pesq_nb_raw", "stoi", "dnsmos", "wer")
_ROW = {r.column: r for r in ROWS}


def parse_systems(items: Sequence[str]) -> List[Tuple[str, Path]]:
    """NAME=DIR pairs, in the order given; names unique, folders existing."""
    systems, seen = [], set()
    for item in items:
        if "=" not in item:
            raise ResultsError(f"{item!r}: expected NAME=DIR (a system's final experiment folder)")
        name, folder = item.split("=", 1)
        if not name or name in seen:
            raise ResultsError(f"{item!r}: system names must be non-empty and unique")
        if not Path(folder).is_dir():
            raise ResultsError(f"{item!r}: {folder} is not a folder")
        seen.add(name)
        systems.append((name, Path(folder)))
    if not systems:
        raise ResultsError("--compare needs at least one NAME=DIR")
    return systems


def _short(summary: Optional[dict], column: str, decimals: int) -> str:
    stat = _stat(summary, column)
    return "—" if stat is None else _cell(summary, column, decimals)


def _condition_table(models: Sequence[ModelScores], condition: str) -> List[str]:
    rows = [_ROW[c] for c in COMPARE_COLUMNS]
    header = ("| system | " + " | ".join(r.title for r in rows) + " | SI-SNRi (dB), wrong enrollment | "
              "wrong-speaker rate | examples |")
    lines = [header, "|---" * (len(rows) + 4) + "|"]
    papers: List[str] = []
    for model in models:
        summary = model.summaries.get(condition)
        control = model.controls.get(condition)
        cells = []
        for row in rows:
            cell = _short(summary, row.column, row.decimals)
            reason = unavailable_reason([summary], row)
            if cell == "—" and reason:
                cell = f"n/a ({reason})"
            cells.append(cell)
        rate = (summary or {}).get("wrong_speaker_rate")
        n = (summary or {}).get("n_examples", "—") if summary else "not scored"
        lines.append(f"| {model.label} | " + " | ".join(cells) + f" | {_short(control, 'si_snri', 2)} | "
                     f"{'—' if rate is None else f'{rate:.1%}'} | {n} |")
        if model.paper and model.paper not in papers:
            papers.append(model.paper)
    for paper in papers:
        published = [paper_number(paper, condition, r.column) for r in rows]
        if not any(published):
            continue
        cells = ["—" if p is None else (f"{p[0]:.{r.decimals}f}" + ("" if p[1] is None else f" ± {p[1]:.{r.decimals}f}"))
                 for p, r in zip(published, rows)]
        lines.append(f"| {PAPER_TITLES.get(paper, 'paper: ' + paper)} | " + " | ".join(cells) + " | — | — | — |")
    return lines


def _legend(models: Sequence[ModelScores], conditions: Sequence[str]) -> List[str]:
    summaries = [m.summaries.get(c) for m in models for c in conditions]
    lines = ["| column | how computed | vs paper |", "|---|---|---|"]
    for column in COMPARE_COLUMNS:
        row = _ROW[column]
        lines.append(f"| {row.title} | {row_how(row, summaries)} | {row_vs_paper(row, summaries, True)} |")
    return lines


def render_comparison(models: Sequence[ModelScores], prefix: str = "test", conditions: Sequence[str] = CONDITIONS) -> str:
    import tsepn

    lines = ["# RESULTS: systems compared", "",
             "Mean ± std (population) over the examples of each test set, scored as produced (no sign or permutation",
             "search). `SI-SNRi, wrong enrollment`: the same test set with another target's enrollments (a system that",
             "uses its enrollment should score low there). Rows `paper: ...` are the published numbers",
             "(tsepn/scoring/paper_numbers.py); the legend below says which columns are comparable with them.", ""]
    lines += ["Systems: " + ", ".join(f"`{m.label}` ({m.score_root})" for m in models), ""]
    for condition in conditions:
        if not any(m.summaries.get(condition) or m.controls.get(condition) for m in models):
            continue
        lines += [f"## {CONDITION_TITLES.get(condition, condition)} ({prefix}_{condition})", ""]
        lines += _condition_table(models, condition)
        lines.append("")
    lines += ["## How each column was computed", ""] + _legend(models, conditions) + [""]
    lines += absent_section(models, prefix)
    lines += reports_section(models)
    missing = [f"{m.label}: {score_dir(m.score_root, prefix, c).name}" for m in models for c in conditions
               if m.summaries.get(c) is None]
    if missing:
        lines += ["Not scored: " + "; ".join(missing), ""]
    lines += [f"tsepn {tsepn.__version__}, git {_git_revision()}"]
    return "\n".join(lines) + "\n"


def write_comparison(out: Path, systems: Sequence[Tuple[str, Path]], prefix: str = "test",
                     conditions: Sequence[str] = CONDITIONS, papers: Optional[Dict[str, str]] = None) -> Path:
    """Load every system's summaries and write the comparison atomically; returns its path."""
    papers = papers or {}
    models = [load_model_scores(ModelScores(name, root, papers.get(name, paper_for_system(name))), prefix, conditions)
              for name, root in systems]
    if not any(s is not None for m in models for s in [*m.summaries.values(), *m.controls.values(), m.absent]):
        raise ResultsError("no score_<set>/summary.json under " + ", ".join(str(root) for _, root in systems))
    write_text_atomic(Path(out), render_comparison(models, prefix, conditions))
    log.info("wrote %s (%d systems)", out, len(models))
    return Path(out)


__all__ = ["COMPARE_COLUMNS", "parse_systems", "render_comparison", "write_comparison", "ABSENT_ROWS"]
