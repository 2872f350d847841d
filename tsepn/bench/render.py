"""Benchmark: on-the-fly rendering of training examples on one core.

    tsepn-bench render [--data-dir data] [--config conf/simulate.yaml] [--examples 2000] [--profile]
                       [--binaural auto|yes|no]

A training example is a 3-speaker 3 s mixture, a 3 s positive and a 3 s negative
enrollment (3 speakers in the enrollments) plus noise, drawn and rendered exactly as
SimulatedDataset does, from `<data-dir>/train` and `<data-dir>/noise_tr` as the recipe
stores them (flac files listed in Kaldi dirs). One process, torch and BLAS on one
thread. Without --data-dir a temporary mini corpus is generated (tsepn.data.mini).
Binaural (`--binaural`, by default when `<data-dir>/brir_train` exists, always for the
temporary corpus, which then includes the synthetic BRIR sets): the same examples with 2
channels, every source convolved with a response of one BRIR scene (tsepn.data.brir),
timed after the monaural ones and printed as `render_binaural_examples_per_s N`.
Prints a few lines, then, last, `render_examples_per_s N` (monaural).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import resource
import tempfile
import time
from pathlib import Path

log = logging.getLogger("tsepn.bench.render")

TRAINING_EXAMPLE = dict(mix_seconds=3.0, pos_seconds=3.0, neg_seconds=3.0, mix_speakers=[3], enroll_speakers=[3])


def _one_thread() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch

    torch.set_num_threads(1)


def _rss_mb() -> float:
    """Current resident set size (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _peak_rss_mb()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_temporary_data(root: Path) -> Path:
    """A mini corpus with its train and noise_tr data dirs and activity, under `root`."""
    try:
        from tsepn.data.mini import MiniCorpusConfig, make_mini_corpus
    except ImportError:
        raise SystemExit("tsepn.data.mini is not available: pass --data-dir") from None
    from tsepn.data.activity import compute_dir_activity
    from tsepn.data.datadir import noise_dir_from_wham, speech_dir_from_librispeech
    from tsepn.data.mini import SUBSET_NAMES

    from tsepn.data.brir import prepare_brirs
    from tsepn.data.mini_brir import MiniBrirConfig

    cfg = MiniCorpusConfig()
    cfg.dev.speakers = cfg.test.speakers = 1
    cfg.noise.cv = cfg.noise.tt = 1
    cfg.brirs = MiniBrirConfig()
    roots = make_mini_corpus(cfg, root / "corpus", progress=False)
    data = root / "data"
    prepare_brirs(roots["brirs"], data / "brir")
    speech_dir_from_librispeech(roots["librispeech"], SUBSET_NAMES["train"], data / "train")
    noise_dir_from_wham(roots["wham"], "tr", data / "noise_tr")
    compute_dir_activity(data / "train", progress=False)
    return data


def build_sampler(data_dir: Path, config: str | None, seed: int, binaural: bool = False):
    from tsepn.data.scenario import ScenarioConf, ScenarioSampler, SetConf, SimulateConf, load_simulate_conf, scenario_for

    conf = load_simulate_conf(config) if config else SimulateConf()
    train = conf.train or SetConf(name="train", speech="train", noise="noise_tr", seed=seed)
    scenario = scenario_for(conf, train)
    example = dict(TRAINING_EXAMPLE, channels=2) if binaural else dict(TRAINING_EXAMPLE, channels=1)
    scenario = ScenarioConf(**dict(dataclasses.asdict(scenario), **example))
    brir_dir = data_dir / (train.brir or "brir_train") if binaural else None
    return ScenarioSampler.from_dirs(scenario, data_dir / train.speech, data_dir / train.noise, seed, "bench",
                                     brir_dir)


def run(data_dir: Path, config: str | None, examples: int, warmup: int, profile: bool, seed: int,
        preload_mb: float, binaural: bool = False) -> float:
    from tsepn.data.dataset import SimulatedDataset

    sampler = build_sampler(data_dir, config, seed, binaural)
    if binaural:
        print(f"binaural: 2 channels, BRIR scenes of {sampler.brir_scenes.data_dir} "
              f"({sum(len(v) for v in sampler.brir_scenes.by_set.values())} scenes)")
    rss_before = _rss_mb()
    dataset = SimulatedDataset.from_sampler(sampler, num_examples=examples + warmup, preload_mb=preload_mb)
    speech = sampler.speech
    print(f"data: {data_dir} ({len(speech.utts)} utterances, {len(speech.by_speaker)} speakers, "
          f"{len(sampler.noise.names)} noise files)")
    held = dataset.renderer.preloaded_mb
    print(f"audio held in memory: {held:.0f} MB (RSS +{_rss_mb() - rss_before:.0f} MB; budget {preload_mb:g} MB)"
          if held else f"audio read slice by slice from disk (preload budget {preload_mb:g} MB)")
    seconds = sum(sampler.lengths.values()) / sampler.conf.sample_rate
    print(f"example: {'binaural ' if binaural else ''}m3e3, {seconds:.0f} s of output audio (mix {sampler.conf.mix_seconds:g} s + pos "
          f"{sampler.conf.pos_seconds:g} s + neg {sampler.conf.neg_seconds:g} s), one process, one thread")
    for i in range(warmup):
        dataset[i]
    rss_start, peak_start = _rss_mb(), _peak_rss_mb()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    for i in range(warmup, warmup + examples):
        dataset[i]
    elapsed = time.perf_counter() - started
    if profiler:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)
    rate = examples / elapsed
    print(f"rendered {examples} examples in {elapsed:.2f} s: {1000 * elapsed / examples:.2f} ms per example, "
          f"{rate * seconds:.0f} s of audio per s")
    print(f"memory: RSS {rss_start:.0f} -> {_rss_mb():.0f} MB, peak RSS growth over {examples} examples "
          f"{_peak_rss_mb() - peak_start:.1f} MB")
    return rate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="tsepn-bench render", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder with train/ and noise_tr/ (default: a temporary mini corpus)")
    parser.add_argument("--config", default=None, help="simulation config (its scenario and train set)")
    parser.add_argument("--examples", type=int, default=2000, help="examples to time")
    parser.add_argument("--warmup", type=int, default=200, help="examples rendered before timing (allocator warm-up)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument("--binaural", choices=["auto", "yes", "no"], default="auto",
                        help="also time binaural examples (auto: when <data-dir>/brir_train exists)")
    parser.add_argument("--preload-mb", type=float, default=512.0,
                        help="decode a corpus that fits in this many MB once (SimulatedDataset's default); "
                             "0: read every slice from disk")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _one_thread()
    def both(data: Path) -> None:
        rate = run(data, args.config, args.examples, args.warmup, args.profile, args.seed, args.preload_mb)
        binaural = args.binaural == "yes" or (args.binaural == "auto" and (data / "brir_train").is_dir())
        if binaural:
            print()
            rate_b = run(data, args.config, args.examples, args.warmup, args.profile, args.seed, args.preload_mb,
                         binaural=True)
            print(f"render_binaural_examples_per_s {rate_b:.1f}")
        print(f"render_examples_per_s {rate:.1f}")

    if args.data_dir:
        both(Path(args.data_dir))
    else:
        with tempfile.TemporaryDirectory(prefix="tsepn-bench-") as tmp:
            print("no --data-dir: generating a temporary mini corpus (with the synthetic BRIR sets)")
            both(make_temporary_data(Path(tmp)))


if __name__ == "__main__":
    main()
