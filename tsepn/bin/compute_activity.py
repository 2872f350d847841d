"""Energy-based speech activity of every utterance of a data directory (recipe stage 2).

    python -m tsepn.bin.compute_activity --data-dir data/train --nj 4

Writes `<data-dir>/activity`: `<utt> <start_s> <end_s> [...]` (see
tsepn.data.activity for the detector and its parameters).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time

from tsepn.audio import AudioError
from tsepn.data.activity import ActivityConfig, compute_dir_activity
from tsepn.data.datadir import DataDirError, validate_data_dir
from tsepn.fileio import TableError

log = logging.getLogger("compute_activity")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="speech data directory (wav.scp ...)")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes")
    parser.add_argument("--sample-rate", type=int, default=16000, help="audio at other rates is resampled")
    parser.add_argument("--strict", action="store_true", help="a wrong sample rate is an error")
    for f in dataclasses.fields(ActivityConfig):
        parser.add_argument("--" + f.name.replace("_", "-"), type=float, default=f.default,
                            help=f"detector parameter (default {f.default})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = ActivityConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ActivityConfig)})
    started = time.time()
    try:
        data = validate_data_dir(args.data_dir, check_files=True)
        activity = compute_dir_activity(args.data_dir, cfg, nj=args.nj, sample_rate=args.sample_rate,
                                        strict=args.strict, progress=sys.stderr.isatty())
        validate_data_dir(args.data_dir, check_files=False)
    except (AudioError, DataDirError, TableError, FileNotFoundError) as err:
        log.error("%s", err)
        return 1
    speech = sum(e - s for spans in activity.values() for s, e in spans)
    log.info("%s: %d utterances, %.1f%% speech, %.1f s", args.data_dir, len(activity),
             100 * speech / max(1e-9, sum(data.utt2dur.values())),
             time.time() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
