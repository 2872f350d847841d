"""Prepare the BRIR lists of the binaural recipe (stage 1): data/brir_{train,dev,test}/.

    python -m tsepn.bin.prepare_brirs --root DIR --out data/brir [--sets cipic rrbrir ash catt]
        [--sample-rate 16000] [--max-seconds 1.0] [--shared-hrtf-sets]

DIR holds CIPIC/ RRBRIR/ ASH-Listening-Set-8.0/ CATT_RIRs/ (tools/download_brirs.sh, or the
mini corpus' brirs/). Writes <out>_train, <out>_dev, <out>_test; formats, direction
conventions and split rules: tsepn/data/brir.py. A bad file ends the command with an error
naming it (exit code 1).
"""
from __future__ import annotations

import argparse
import logging
import sys

from tsepn.audio import AudioError
from tsepn.data.brir import SET_NAMES, BrirError, prepare_brirs
from tsepn.data.corpora import CorpusError
from tsepn.fileio import TableError

log = logging.getLogger("tsepn.prepare_brirs")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder holding the BRIR sets")
    parser.add_argument("--out", required=True, help="output prefix: <out>_{train,dev,test}/")
    parser.add_argument("--sets", nargs="+", default=list(SET_NAMES), choices=list(SET_NAMES))
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--max-seconds", type=float, default=1.0, help="responses are cut to this length")
    parser.add_argument("--shared-hrtf-sets", action="store_true",
                        help="use every CIPIC subject and RRBRIR room in all splits (the authors' loader)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        made = prepare_brirs(args.root, args.out, args.sets, args.sample_rate, args.max_seconds,
                             args.shared_hrtf_sets)
    except (BrirError, CorpusError, AudioError, TableError) as err:
        log.error("%s", err)
        return 1
    for split, folder in made.items():
        log.info("%s: %s", split, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
