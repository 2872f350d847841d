"""Recipe stage 3: sample and render every dev/test set of the config, plus the
wrong-enrollment controls (`<set>_wrong_enroll`).

    python -m tsepn.bin.simulate_sets --config conf/simulate.yaml --data-dir data [--nj N]

A set whose `.done` marker matches its config (and data) is skipped, so re-running
is cheap; a set whose config changed is rebuilt.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from pathlib import Path

from tsepn.audio import AudioError
from tsepn.config import ConfigError
from tsepn.data.corpora import CorpusError
from tsepn.data.datadir import DataDirError
from tsepn.data.pools import PoolError
from tsepn.data.scenario import SpecError
from tsepn.data.sets import SetError
from tsepn.fileio import TableError

from tsepn.data.scenario import load_simulate_conf, sample_set, scenario_for, set_sampler
from tsepn.data.sets import fingerprint, is_done, make_wrong_enroll, render_set

log = logging.getLogger("tsepn.simulate_sets")


def _data_fingerprint(data_dir: Path, names) -> dict:
    """Sizes and times of the tables a set draws from: new data means a new set."""
    out = {}
    for name in names:
        for table in ("wav.scp", "utt2spk", "utt2dur", "activity", "brir.scp", "scene2face"):
            path = data_dir / name / table
            if path.is_file():
                stat = path.stat()
                out[f"{name}/{table}"] = [stat.st_size, stat.st_mtime_ns]
    return out


def simulate_sets(config, data_dir, nj: int = 1, only=None, overrides=(), progress: bool = True) -> list:
    """Make the configured sets under `data_dir`; returns the set directories (made or kept)."""
    conf = load_simulate_conf(config, overrides)
    data_dir = Path(data_dir)
    made = []
    for set_conf in conf.sets:
        if only and set_conf.name not in only:
            continue
        out_dir = data_dir / set_conf.name
        scenario = scenario_for(conf, set_conf, str(config))
        fields = dataclasses.asdict(scenario)
        if not scenario.candidate_count:  # a set without candidates keeps the fingerprint it had before them
            for key in ("candidate_count", "candidate_seconds", "candidate_snr_db"):
                fields.pop(key)
        fp = fingerprint({"set": dataclasses.asdict(set_conf), "scenario": fields,
                          "audio_format": conf.audio_format,
                          "data": _data_fingerprint(data_dir, [set_conf.speech, set_conf.noise]
                                                    + ([set_conf.brir] if set_conf.brir else []))})
        if is_done(out_dir, fp):
            log.info("%s: complete, skipped", out_dir)
        else:
            specs = sample_set(set_sampler(conf, set_conf, data_dir, str(config)), set_conf.num_examples)
            render_set(specs, out_dir, conf.audio_format, nj, info={"fingerprint": fp}, progress=progress)
        made.append(out_dir)
        if set_conf.wrong_enroll:
            wrong = data_dir / f"{set_conf.name}_wrong_enroll"
            if is_done(wrong, fp):
                log.info("%s: complete, skipped", wrong)
            else:
                make_wrong_enroll(out_dir, wrong, info={"fingerprint": fp})
            made.append(wrong)
    return made


@contextlib.contextmanager
def exit_on_bad_input():
    """Bad input (config, data dirs, audio, specs) ends the command with its message, exit code 1."""
    try:
        yield
    except (AudioError, ConfigError, CorpusError, DataDirError, PoolError, SpecError, SetError, TableError,
            FileNotFoundError) as err:
        logging.getLogger("tsepn").error("%s", err)
        sys.exit(1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="simulation config (conf/simulate.yaml)")
    parser.add_argument("--data-dir", default="data", help="folder holding the Kaldi data dirs; sets go here")
    parser.add_argument("--nj", type=int, default=1, help="rendering worker processes")
    parser.add_argument("--sets", nargs="*", default=None, help="only these sets (default: all)")
    parser.add_argument("--override", nargs="*", default=[], help="dotted.key=value config overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with exit_on_bad_input():
        simulate_sets(args.config, args.data_dir, args.nj, args.sets, args.override)


if __name__ == "__main__":
    main()
