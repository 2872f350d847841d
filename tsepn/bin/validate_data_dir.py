"""Validate Kaldi data directories; the first problem is reported as file:line.

    python -m tsepn.bin.validate_data_dir data/train data/noise_tr [--check-audio]

Speech directories (with utt2spk) need wav.scp utt2spk spk2utt text utt2dur;
noise directories need wav.scp utt2dur. See tsepn.data.datadir for the rules.
"""
from __future__ import annotations

import argparse
import logging
import sys

from tsepn.data.datadir import DataDirError, validate_data_dir

log = logging.getLogger("validate_data_dir")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", help="data directories")
    parser.add_argument("--no-check-files", action="store_true", help="do not check that audio files exist")
    parser.add_argument("--check-audio", action="store_true", help="also read every audio header")
    parser.add_argument("--sample-rate", type=int, default=None, help="with --check-audio: expected rate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    failed = 0
    for d in args.dirs:
        try:
            data = validate_data_dir(d, check_files=not args.no_check_files, check_audio=args.check_audio,
                                     sample_rate=args.sample_rate)
        except DataDirError as err:
            log.error("%s", err)
            failed += 1
            continue
        speakers = f", {len(data.spk2utt)} speakers" if data.spk2utt is not None else ""
        log.info("%s: OK (%s, %d entries%s, %.2f h)", d, data.kind, len(data.wav), speakers,
                 sum(data.utt2dur.values()) / 3600)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
