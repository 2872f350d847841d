"""Fixtures of the binaural tests: synthetic BRIR sets in the real layouts, their prepared
lists, and a tiny 16 kHz speech + noise corpus with Kaldi dirs and activity."""
from __future__ import annotations

from pathlib import Path

import pytest

from tsepn.data.brir import prepare_brirs
from tsepn.data.mini_brir import MiniBrirConfig, make_mini_brirs


@pytest.fixture(scope="session")
def brir_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("brirs")
    make_mini_brirs(MiniBrirConfig(), root)
    return root


@pytest.fixture(scope="session")
def brir_lists(brir_root, tmp_path_factory):
    """split -> prepared folder (data/brir_<split>)."""
    data = tmp_path_factory.mktemp("brir_data")
    return prepare_brirs(brir_root, data / "brir", max_seconds=1.0)


@pytest.fixture(scope="session")
def speech_data(tmp_path_factory) -> Path:
    """A tiny mini corpus as Kaldi dirs (train/test speech with activity, noise_tr/noise_tt)."""
    from tsepn.data.activity import compute_dir_activity
    from tsepn.data.datadir import noise_dir_from_wham, speech_dir_from_librispeech
    from tsepn.data.mini import SUBSET_NAMES, MiniCorpusConfig, make_mini_corpus

    root = tmp_path_factory.mktemp("speech")
    cfg = MiniCorpusConfig(seed=5, utterance_seconds=[3.0, 4.0])
    cfg.train.speakers, cfg.train.utterances_per_speaker, cfg.train.chapters_per_speaker = 6, 3, 1
    cfg.dev.speakers, cfg.dev.utterances_per_speaker, cfg.dev.chapters_per_speaker = 2, 2, 1
    cfg.test.speakers, cfg.test.utterances_per_speaker, cfg.test.chapters_per_speaker = 6, 3, 1
    cfg.noise.tr = cfg.noise.cv = cfg.noise.tt = 1
    cfg.noise.seconds = 8.0
    roots = make_mini_corpus(cfg, root / "corpus", progress=False)
    data = root / "data"
    for name in ("train", "test"):
        speech_dir_from_librispeech(roots["librispeech"], SUBSET_NAMES[name], data / name)
        compute_dir_activity(data / name, progress=False)
    for split in ("tr", "tt"):
        noise_dir_from_wham(roots["wham"], split, data / f"noise_{split}")
    return data
