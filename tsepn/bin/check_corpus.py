"""Check corpora on disk against their published layout and sizes (recipe stage 0).

    python -m tsepn.bin.check_corpus librispeech --root DIR [--subsets ...] [--layout-only]
    python -m tsepn.bin.check_corpus wham --root DIR [--layout-only]
    python -m tsepn.bin.check_corpus brirs --root DIR [--sets cipic rrbrir ash catt] [--layout-only]
    python -m tsepn.bin.check_corpus archives --root DIR --corpus librispeech|wham

Prints every problem (what is missing, what count differs) and exits 1 if
there is any; the figures and their sources are in tsepn.data.corpora.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tsepn.data import corpora

log = logging.getLogger("check_corpus")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="corpus", required=True)
    p = sub.add_parser("librispeech", help="extracted LibriSpeech subsets")
    p.add_argument("--root", required=True, help="folder holding LibriSpeech/ (or LibriSpeech/ itself)")
    p.add_argument("--subsets", nargs="+", default=list(corpora.LIBRISPEECH_SUBSETS))
    p.add_argument("--layout-only", action="store_true", help="skip the published counts (mini corpus)")
    p = sub.add_parser("wham", help="extracted WHAM! noise")
    p.add_argument("--root", required=True, help="folder holding wham_noise/ (or wham_noise/ itself)")
    p.add_argument("--splits", nargs="+", default=list(corpora.WHAM_SPLITS))
    p.add_argument("--layout-only", action="store_true", help="skip the published counts and format (mini corpus)")
    p = sub.add_parser("brirs", help="BRIR sets of the binaural recipe")
    p.add_argument("--root", required=True, help="folder holding CIPIC/ RRBRIR/ ASH-Listening-Set-8.0/ CATT_RIRs/")
    p.add_argument("--sets", nargs="+", default=list(corpora.BRIR_SETS), choices=list(corpora.BRIR_SETS))
    p.add_argument("--layout-only", action="store_true", help="skip the published file counts (mini corpus)")
    p = sub.add_parser("archives", help="downloaded archives (sizes)")
    p.add_argument("--root", required=True, help="folder holding the archives")
    p.add_argument("--corpus", dest="archive_corpus", required=True, choices=["librispeech", "wham"])
    p.add_argument("--subsets", nargs="+", default=list(corpora.LIBRISPEECH_SUBSETS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    if not Path(args.root).is_dir():
        log.error("%s: no such folder", args.root)
        return 1
    if args.corpus == "librispeech":
        problems = corpora.check_librispeech(args.root, args.subsets, layout_only=args.layout_only)
    elif args.corpus == "wham":
        problems = corpora.check_wham(args.root, args.splits, layout_only=args.layout_only)
    elif args.corpus == "brirs":
        problems = corpora.check_brirs(args.root, args.sets, layout_only=args.layout_only)
    elif args.archive_corpus == "librispeech":
        unknown = [s for s in args.subsets if s not in corpora.LIBRISPEECH_SUBSETS]
        if unknown:
            log.error("no archive facts for subset(s) %s", ", ".join(unknown))
            return 1
        expected = {corpora.LIBRISPEECH_SUBSETS[s].archive: corpora.LIBRISPEECH_SUBSETS[s].archive_bytes
                    for s in args.subsets}
        problems = corpora.check_archives(args.root, expected)
    else:
        problems = corpora.check_archives(args.root, {corpora.WHAM_ARCHIVE: corpora.WHAM_ARCHIVE_MIN_BYTES},
                                          minimum_only=True)
    for problem in problems:
        log.error("%s", problem)
    if problems:
        log.error("%s check: %d problem(s) under %s", args.corpus, len(problems), args.root)
        return 1
    log.info("%s check: OK (%s)", args.corpus, args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
