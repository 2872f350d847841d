"""The mini corpus: deterministic, disjoint speakers, real layouts, speakers that can be told apart."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal
from scipy.fft import dct

from tsepn.config import ConfigError
from tsepn.data.activity import detect_speech
from tsepn.data.corpora import read_speakers_txt, scan_librispeech, scan_wham_noise
from tsepn.data.mini import SUBSET_NAMES, NoiseSize, SubsetSize, load_mini_config, make_mini_corpus, MiniCorpusConfig

TINY = MiniCorpusConfig(
    seed=3,
    utterance_seconds=[3.0, 4.0],
    train=SubsetSize(speakers=8, utterances_per_speaker=3, chapters_per_speaker=2),
    dev=SubsetSize(speakers=2, utterances_per_speaker=2, chapters_per_speaker=1),
    test=SubsetSize(speakers=2, utterances_per_speaker=2, chapters_per_speaker=1),
    noise=NoiseSize(tr=2, cv=1, tt=1, seconds=2.0, channels=2),
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini") / "corpus"
    make_mini_corpus(TINY, out, nj=1, progress=False)
    return out


def tree_bytes(root: Path):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_whatever_nj(corpus, tmp_path):
    other = tmp_path / "again"
    make_mini_corpus(TINY, other, nj=2, progress=False)
    assert tree_bytes(other) == tree_bytes(corpus)
    changed = tmp_path / "seed4"
    make_mini_corpus(MiniCorpusConfig(**{**TINY.__dict__, "seed": 4}), changed, progress=False)
    assert tree_bytes(changed).keys() == tree_bytes(corpus).keys()
    assert tree_bytes(changed) != tree_bytes(corpus)


def test_layout_is_scanned_like_librispeech_and_wham(corpus):
    speakers = read_speakers_txt(corpus / "LibriSpeech" / "SPEAKERS.TXT")
    seen = {}
    for key, subset in SUBSET_NAMES.items():
        size = getattr(TINY, key)
        utts = scan_librispeech(corpus, subset)
        assert len(utts) == size.speakers * size.utterances_per_speaker
        spk = {u.speaker for u in utts}
        assert len(spk) == size.speakers
        assert all(speakers[s].subset == subset for s in spk)
        assert all(u.text and u.text == u.text.upper() for u in utts)
        assert all(u.path.name == f"{u.utt_id}.flac" and u.path.parent.name == u.chapter for u in utts)
        seen[subset] = spk
        info = sf.info(str(utts[0].path))
        assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
    train, dev, test = seen.values()
    assert not (train & dev or train & test or dev & test)
    for split in ("tr", "cv", "tt"):
        files = scan_wham_noise(corpus / "wham_noise", split)
        assert len(files) == getattr(TINY.noise, split)
        info = sf.info(str(files[0]))
        assert (info.samplerate, info.channels) == (16000, 2) and info.duration == pytest.approx(2.0)


def test_utterances_have_pauses_for_the_activity_detector(corpus):
    utts = scan_librispeech(corpus, "train-clean-360")
    fractions = []
    for u in utts:
        audio, sr = sf.read(str(u.path), dtype="float32")
        assert 3.0 <= len(audio) / sr <= 5.5
        spans = detect_speech(audio, sr)
        assert spans and spans[0][0] > 0.05 and spans[-1][1] < len(audio) / sr - 0.05  # silent edges
        fractions.append(sum(e - s for s, e in spans) / (len(audio) / sr))
    assert 0.5 < np.mean(fractions) < 0.95


def test_speakers_can_be_told_apart(corpus):
    """Nearest-neighbour speaker identification on mean cepstra beats chance by far."""
    feats, labels = [], []
    for u in scan_librispeech(corpus, "train-clean-360"):
        audio, sr = sf.read(str(u.path))
        _, _, spec = signal.stft(audio, sr, nperseg=512)
        power = np.abs(spec) ** 2
        loud = power.sum(0) > 0.01 * power.sum(0).max()
        feats.append(dct(np.log(power[:, loud] + 1e-10), axis=0, norm="ortho")[1:21].mean(1))
        labels.append(u.speaker)
    x = np.array(feats)
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    dist = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    accuracy = np.mean([labels[i] == labels[j] for i, j in enumerate(dist.argmin(1))])
    chance = (TINY.train.utterances_per_speaker - 1) / (len(labels) - 1)
    assert accuracy >= 0.6 > 4 * chance


def test_config_is_checked(tmp_path):
    (tmp_path / "bad.yaml").write_text("train:\n  speakerz: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key\(s\) train.speakerz"):
        load_mini_config(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("dev: {speakers: 2, utterances_per_speaker: 1, chapters_per_speaker: 2}\n")
    with pytest.raises(ConfigError, match="chapters_per_speaker <= utterances_per_speaker"):
        load_mini_config(tmp_path / "bad2.yaml")
    recipe = Path(__file__).resolve().parents[2] / "egs/librispeech_wham/mono/conf/mini.yaml"
    assert load_mini_config(recipe) == MiniCorpusConfig()  # the recipe file states the defaults
