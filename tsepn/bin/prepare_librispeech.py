"""Make a Kaldi data directory from one LibriSpeech subset (recipe stage 1).

    python -m tsepn.bin.prepare_librispeech --corpus-dir DIR --subset dev-clean --out data/dev

DIR holds `LibriSpeech/<subset>` (or is `LibriSpeech/` itself). Writes
wav.scp utt2spk spk2utt text utt2dur and validates them. Speech must be mono;
a sample rate other than --sample-rate is a warning (resampled when read) or,
with --strict, an error.
"""
from __future__ import annotations

import argparse
import logging
import sys

from tsepn.audio import AudioError
from tsepn.data.corpora import CorpusError
from tsepn.data.datadir import DataDirError, speech_dir_from_librispeech

log = logging.getLogger("prepare_librispeech")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-dir", required=True, help="folder holding LibriSpeech/<subset>")
    parser.add_argument("--subset", required=True, help="e.g. train-clean-360, dev-clean, test-clean")
    parser.add_argument("--out", required=True, help="data directory to write")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--strict", action="store_true", help="a wrong sample rate is an error")
    parser.add_argument("--nj", type=int, default=4, help="threads reading audio headers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        speech_dir_from_librispeech(args.corpus_dir, args.subset, args.out, args.sample_rate, args.strict, args.nj)
    except (CorpusError, AudioError, DataDirError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
