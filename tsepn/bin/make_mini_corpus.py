"""Generate the synthetic mini corpus (LibriSpeech + WHAM! noise layouts), recipe stage 0.

    python -m tsepn.bin.make_mini_corpus --config conf/mini.yaml --out corpus [--nj 2] [key=value ...]

Skips the work when `<out>/.done` records the same config; otherwise builds the
corpus in a temporary folder and swaps it into place.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from tsepn.config import ConfigError
from tsepn.data.datadir import replace_dir
from tsepn.data.mini import config_fingerprint, load_mini_config, make_mini_corpus
from tsepn.fileio import write_text_atomic

log = logging.getLogger("make_mini_corpus")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML with the corpus sizes (defaults if omitted)")
    parser.add_argument("--out", required=True, help="output folder (gets LibriSpeech/ and wham_noise/)")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (output does not depend on it)")
    parser.add_argument("--force", action="store_true", help="regenerate even if the marker matches")
    parser.add_argument("overrides", nargs="*", help="dotted.key=value overrides of the config")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        cfg = load_mini_config(args.config, args.overrides)
    except ConfigError as err:
        log.error("%s", err)
        return 1
    out = Path(args.out)
    marker = out / ".done"
    fingerprint = config_fingerprint(cfg)
    if not args.force and marker.is_file() and marker.read_text().strip() == fingerprint:
        log.info("%s already holds this mini corpus (config %s); nothing to do", out, fingerprint)
        return 0
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.time()
    try:
        make_mini_corpus(cfg, tmp, nj=args.nj, progress=sys.stderr.isatty())
        write_text_atomic(tmp / ".done", fingerprint + "\n")
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote %s in %.1f s", out, time.time() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
