"""Write exp/<experiment>/RESULTS.md (and a SI-SNRi plot) from score_* summaries.

    python -m tsepn.bin.make_results --exp-dir exp/proposed_mono --paper proposed \
        --command "./run.sh --stage 7" --config conf/train.yaml --checkpoint exp/proposed_mono/model.pt

Several systems side by side (recipe stage 8, every system trained so far):

    python -m tsepn.bin.make_results --compare --out exp/RESULTS.md NAME=DIR [NAME=DIR ...]

Several training runs of one system (`./run.sh --seed N`), mean and spread over the seeds:

    python -m tsepn.bin.make_results --seeds --out exp/RESULTS_seeds.md [--min-db 3 --min-gap-db 3] \
        seed0=exp/proposed_seed0/stage2 seed1=exp/proposed_seed1/stage2 ...

DIR is a system's final experiment folder holding score_<set>/summary.json (and the
<set>_wrong_enroll controls); systems the paper reports (proposed, nmf, usef_tfgridnet, tce)
get the published row beside them (override with --paper NAME=ROW).

By default the experiment directory is one model whose scores are in
exp/<experiment>/score_<prefix>_<condition>/. Several models (one table each):
--model LABEL=SCORE_ROOT (repeatable), with --paper LABEL=NAME to compare each
with a published row (NAME: proposed, improved, nmf, usef_tfgridnet, tce).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

from tsepn.scoring.compare import parse_systems, write_comparison
from tsepn.scoring.paper_numbers import CONDITIONS, PAPER_NUMBERS
from tsepn.scoring.results import ModelScores, ResultsError, write_results
from tsepn.scoring.seeds import write_seeds

log = logging.getLogger("tsepn.make_results")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tsepn-make-results", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, help="one experiment's folder (required without --compare)")
    p.add_argument("--compare", action="store_true", help="compare the NAME=DIR systems side by side (needs --out)")
    p.add_argument("--seeds", action="store_true", help="the NAME=DIR are training runs of one system (seeds): "
                                                       "per-run figures, mean and spread (needs --out)")
    p.add_argument("--min-db", type=float, help="with --seeds: correct-enrollment SI-SNRi every run must reach")
    p.add_argument("--min-gap-db", type=float, help="with --seeds: margin over the wrong-enrollment control")
    p.add_argument("systems", nargs="*", metavar="NAME=DIR", help="with --compare / --seeds: the systems or runs, in order")
    p.add_argument("--model", action="append", default=[], metavar="LABEL=SCORE_ROOT")
    p.add_argument("--paper", action="append", default=[], metavar="NAME|LABEL=NAME", help=f"published row: {', '.join(sorted(PAPER_NUMBERS))}")
    p.add_argument("--testset-prefix", default="test", help="score dirs are score_<prefix>_<condition>")
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS))
    p.add_argument("--command", help="the command that produced the scores (recorded verbatim)")
    p.add_argument("--config", action="append", default=[], type=Path, help="config file used (repeatable)")
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--out", type=Path, help="default: <exp-dir>/RESULTS.md")
    return p.parse_args(argv)


def _pairs(items: List[str], option: str) -> Dict[str, str]:
    pairs = {}
    for item in items:
        if "=" not in item:
            raise ResultsError(f"{option} {item!r}: expected LABEL=VALUE")
        label, value = item.split("=", 1)
        pairs[label] = value
    return pairs


def build_models(args) -> List[ModelScores]:
    roots = _pairs(args.model, "--model") or {args.exp_dir.name: str(args.exp_dir)}
    shared: Optional[str] = None
    per_label: Dict[str, str] = {}
    for item in args.paper:
        if "=" in item:
            per_label.update(_pairs([item], "--paper"))
        else:
            shared = item
    for name in [shared, *per_label.values()]:
        if name is not None and name not in PAPER_NUMBERS:
            raise ResultsError(f"--paper {name!r}: unknown; known: {', '.join(sorted(PAPER_NUMBERS))}")
    unknown = sorted(set(per_label) - set(roots))
    if unknown:
        raise ResultsError(f"--paper names label(s) {', '.join(unknown)} that no --model defines")
    return [ModelScores(label, Path(root), per_label.get(label, shared)) for label, root in roots.items()]


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        if args.seeds:
            if args.compare or not args.out:
                raise ResultsError("--seeds needs --out FILE (and not --compare)")
            write_seeds(args.out, parse_systems(args.systems), args.testset_prefix, args.conditions,
                        args.min_db, args.min_gap_db)
            log.info("wrote %s (%d runs)", args.out, len(args.systems))
            return 0
        if args.compare:
            if not args.out:
                raise ResultsError("--compare needs --out FILE")
            papers = {}
            for item in args.paper:
                if "=" not in item:
                    raise ResultsError(f"--paper {item!r}: with --compare give NAME=ROW")
                name, row = item.split("=", 1)
                if row not in PAPER_NUMBERS:
                    raise ResultsError(f"--paper {row!r}: unknown; known: {', '.join(sorted(PAPER_NUMBERS))}")
                papers[name] = row
            write_comparison(args.out, parse_systems(args.systems), args.testset_prefix, args.conditions, papers)
            return 0
        if args.systems:
            raise ResultsError(f"positional NAME=DIR arguments ({' '.join(args.systems)}) need --compare or --seeds")
        if args.exp_dir is None:
            raise ResultsError("give --exp-dir DIR (one experiment) or --compare --out FILE NAME=DIR ...")
        write_results(
            args.exp_dir,
            build_models(args),
            prefix=args.testset_prefix,
            conditions=args.conditions,
            command=args.command,
            configs=args.config,
            checkpoint=args.checkpoint,
            out=args.out,
        )
    except ResultsError as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
