"""Make a noise data directory (wav.scp, utt2dur) from one WHAM! split (recipe stage 1).

    python -m tsepn.bin.prepare_wham_noise --wham-dir DIR --split tr --out data/noise_tr

DIR holds `wham_noise/{tr,cv,tt}` (or is `wham_noise/` itself). Files may have
1 or 2 channels; a sample rate other than --sample-rate is a warning or, with
--strict, an error.
"""
from __future__ import annotations

import argparse
import logging
import sys

from tsepn.audio import AudioError
from tsepn.data.corpora import CorpusError
from tsepn.data.datadir import DataDirError, noise_dir_from_wham

log = logging.getLogger("prepare_wham_noise")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wham-dir", required=True, help="folder holding wham_noise/{tr,cv,tt}")
    parser.add_argument("--split", required=True, choices=["tr", "cv", "tt"])
    parser.add_argument("--out", required=True, help="data directory to write")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--strict", action="store_true", help="a wrong sample rate is an error")
    parser.add_argument("--nj", type=int, default=4, help="threads reading audio headers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        noise_dir_from_wham(args.wham_dir, args.split, args.out, args.sample_rate, args.strict, args.nj)
    except (CorpusError, AudioError, DataDirError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
