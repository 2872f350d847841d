"""Sample the scenario specs of one configured set into a jsonl file (no audio is read).

    python -m tsepn.bin.make_scenarios --config conf/simulate.yaml --data-dir data \
        --set test_m2e2 --out data/test_m2e2.jsonl [--num-examples N]
"""
from __future__ import annotations

import argparse
import logging

from tsepn.bin.simulate_sets import exit_on_bad_input
from tsepn.data.scenario import find_set, load_simulate_conf, sample_set, set_sampler, spec_line
from tsepn.fileio import atomic_open


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="simulation config (conf/simulate.yaml)")
    parser.add_argument("--data-dir", default="data", help="folder holding the Kaldi data dirs")
    parser.add_argument("--set", required=True, help="name of a set of the config (sets[].name or train.name)")
    parser.add_argument("--out", required=True, help="output jsonl")
    parser.add_argument("--num-examples", type=int, default=None, help="override the set's num_examples")
    parser.add_argument("--override", nargs="*", default=[], help="dotted.key=value config overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with exit_on_bad_input():
        conf = load_simulate_conf(args.config, args.override)
        set_conf = find_set(conf, args.set, args.config)
        sampler = set_sampler(conf, set_conf, args.data_dir, args.config)
        count = set_conf.num_examples if args.num_examples is None else args.num_examples
        specs = sample_set(sampler, count)
        with atomic_open(args.out, "w", encoding="utf-8") as handle:
            handle.writelines(spec_line(s) for s in specs)
        logging.getLogger(__name__).info("%s: %d specs of set %s", args.out, len(specs), args.set)


if __name__ == "__main__":
    main()
