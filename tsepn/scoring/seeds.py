"""RESULTS over training seeds: is a system's figure a property of the recipe or of one lucky run?

    python -m tsepn.bin.make_results --seeds --out exp/RESULTS_seeds.md \
        seed0=exp/proposed_seed0/stage2 seed1=exp/proposed_seed1/stage2 seed2=exp/proposed_seed2/stage2

Each DIR is one training run's final folder (`./run.sh --seed N` trains into exp/<system>_seedN/).
Per test condition: SI-SNRi with the correct enrollment, with the wrong one (`_wrong_enroll`) and
their gap, for every run, then the mean, the sample standard deviation and the worst run over
the seeds. With `--min-db X --min-gap-db Y` a last column says whether every run meets both
(the demo's check: correct >= 3 dB and >= 3 dB above the control in every condition).
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from tsepn.fileio import write_text_atomic
from tsepn.scoring.paper_numbers import CONDITION_TITLES, CONDITIONS
from tsepn.scoring.results import ModelScores, ResultsError, _git_revision, _stat, load_model_scores

COLUMN = "si_snri"


def _mean(summary: Optional[dict]) -> Optional[float]:
    stat = _stat(summary, COLUMN)
    return None if stat is None else float(stat["mean"])


def _fmt(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.2f}"


def seed_figures(runs: Sequence[ModelScores], condition: str) -> List[Tuple[str, Optional[float], Optional[float]]]:
    """(label, correct-enrollment SI-SNRi, wrong-enrollment SI-SNRi) per run."""
    return [(r.label, _mean(r.summaries.get(condition)), _mean(r.controls.get(condition))) for r in runs]


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "—"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {std:.2f} (worst {min(values):.2f})"


def render_seeds(runs: Sequence[ModelScores], prefix: str = "test", conditions: Sequence[str] = CONDITIONS,
                 min_db: Optional[float] = None, min_gap_db: Optional[float] = None) -> str:
    import tsepn

    check = min_db is not None or min_gap_db is not None
    lines = ["# RESULTS over training seeds", "",
             f"SI-SNRi (dB), mean over the examples of each test set, per training run; then mean ± sample std",
             f"over the runs and the worst run. Runs: " + ", ".join(f"`{r.label}` ({r.score_root})" for r in runs), ""]
    header = "| condition | " + " | ".join(f"{r.label}: correct / wrong / gap" for r in runs) + \
             " | correct over seeds | gap over seeds |" + (" every run passes |" if check else "")
    lines += [header, "|---" * (len(runs) + 3 + int(check)) + "|"]
    verdicts = []
    for condition in conditions:
        figures = seed_figures(runs, condition)
        if all(c is None and w is None for _, c, w in figures):
            continue
        cells, correct, gaps, ok = [], [], [], True
        for _, c, w in figures:
            gap = None if c is None or w is None else c - w
            cells.append(f"{_fmt(c)} / {_fmt(w)} / {_fmt(gap)}")
            if c is not None:
                correct.append(c)
            if gap is not None:
                gaps.append(gap)
            ok = ok and c is not None and gap is not None and \
                (min_db is None or c >= min_db) and (min_gap_db is None or gap >= min_gap_db)
        verdicts.append(ok)
        title = CONDITION_TITLES.get(condition, condition)
        row = f"| {title} ({prefix}_{condition}) | " + " | ".join(cells) + f" | {_spread(correct)} | {_spread(gaps)} |"
        lines.append(row + (f" {'yes' if ok else 'NO'} |" if check else ""))
    if not verdicts:
        raise ResultsError("no score_<set>/summary.json under " + ", ".join(str(r.score_root) for r in runs))
    if check:
        lines += ["", f"Check: correct-enrollment SI-SNRi >= {min_db} dB and >= {min_gap_db} dB above the wrong-"
                      f"enrollment control, in every condition and every run: "
                      f"{'met' if all(verdicts) else 'NOT met'} ({sum(verdicts)} of {len(verdicts)} conditions)."]
    lines += ["", f"tsepn {tsepn.__version__}, git {_git_revision()}"]
    return "\n".join(lines) + "\n"


def write_seeds(out: Path, runs: Sequence[Tuple[str, Path]], prefix: str = "test",
                conditions: Sequence[str] = CONDITIONS, min_db: Optional[float] = None,
                min_gap_db: Optional[float] = None) -> Path:
    """Load each run's summaries and write the seed table atomically; returns its path."""
    models = [load_model_scores(ModelScores(label, root), prefix, conditions) for label, root in runs]
    write_text_atomic(Path(out), render_seeds(models, prefix, conditions, min_db, min_gap_db))
    return Path(out)


__all__ = ["render_seeds", "seed_figures", "write_seeds"]
