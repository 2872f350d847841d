"""Render a scenarios.jsonl into a set directory (scp lists, audio, segments, utt2spk, utt2cond).

    python -m tsepn.bin.render_scenarios --scenarios data/test_m2e2.jsonl \
        --out-dir data/test_m2e2 [--format flac|ark | --config conf/simulate.yaml] [--nj 4]

Built under `.<name>.tmp` and renamed into place when complete: safe to interrupt and re-run.
"""
from __future__ import annotations

import argparse
import logging

from tsepn.bin.simulate_sets import exit_on_bad_input
from tsepn.data.scenario import load_simulate_conf
from tsepn.data.sets import render_scenarios_file


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", required=True, help="jsonl of specs (make_scenarios)")
    parser.add_argument("--out-dir", required=True, help="set directory to create (replaced if it exists)")
    parser.add_argument("--format", choices=["flac", "ark"], default=None,
                        help="audio storage (default: the config's audio_format, else flac)")
    parser.add_argument("--config", default=None, help="simulation config, for its audio_format")
    parser.add_argument("--nj", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    audio_format = args.format or (load_simulate_conf(args.config).audio_format if args.config else "flac")
    with exit_on_bad_input():
        render_scenarios_file(args.scenarios, args.out_dir, audio_format, args.nj)


if __name__ == "__main__":
    main()
