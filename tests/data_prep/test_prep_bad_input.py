"""Bad corpora give errors that name the file or folder."""
import logging

import numpy as np
import pytest
import soundfile as sf
from prep_helpers import make_librispeech, make_wham, tone, write_flac

from tsepn.audio import AudioError
from tsepn.bin import check_corpus, compute_activity, prepare_librispeech, prepare_wham_noise
from tsepn.data.corpora import CorpusError, check_brirs, check_librispeech, scan_librispeech, scan_wham_noise
from tsepn.data.datadir import load_data_dir, noise_dir_from_wham, speech_dir_from_librispeech

SUBSET = "dev-clean"


@pytest.fixture
def libri(tmp_path):
    return make_librispeech(tmp_path / "corpus", SUBSET, {"11": {"100": 2}, "12": {"200": 2, "201": 1}})


def chapter(libri, spk="11", chap="100"):
    return libri / "LibriSpeech" / SUBSET / spk / chap


def test_good_tree_prepares(libri, tmp_path):
    data = speech_dir_from_librispeech(libri, SUBSET, tmp_path / "data" / "dev")
    assert len(data.wav) == 5 and sorted(data.spk2utt) == ["11", "12"]
    assert data.text["12-201-0000"] == "HELLO WORLD 0"
    assert data.utt2dur["11-100-0001"] == pytest.approx(0.6)


def test_missing_audio_file(libri, tmp_path):
    missing = chapter(libri) / "11-100-0001.flac"
    missing.unlink()
    with pytest.raises(CorpusError, match=f"{missing}: audio file missing"):
        scan_librispeech(libri, SUBSET)
    assert prepare_librispeech.main(["--corpus-dir", str(libri), "--subset", SUBSET, "--out", str(tmp_path / "d")]) == 1


def test_audio_without_transcript_and_missing_transcript(libri):
    extra = write_flac(chapter(libri) / "11-100-0009.flac", tone(0.3))
    with pytest.raises(CorpusError, match=f"{extra}: no transcript line"):
        scan_librispeech(libri, SUBSET)
    extra.unlink()
    trans = chapter(libri) / "11-100.trans.txt"
    trans.unlink()
    with pytest.raises(CorpusError, match=f"{trans}: transcript missing"):
        scan_librispeech(libri, SUBSET)


def test_corrupt_audio(libri, tmp_path):
    bad = chapter(libri) / "11-100-0000.flac"
    bad.write_bytes(b"fLaC this is not audio at all" * 10)
    with pytest.raises(AudioError, match=f"{bad}: unreadable or corrupt audio"):
        speech_dir_from_librispeech(libri, SUBSET, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_wrong_sample_rate_warns_or_fails_when_strict(libri, tmp_path, caplog):
    odd = chapter(libri, "12", "201") / "12-201-0000.flac"
    write_flac(odd, tone(0.5, sr=8000), sr=8000)
    with caplog.at_level(logging.WARNING):
        data = speech_dir_from_librispeech(libri, SUBSET, tmp_path / "data")
    assert f"{odd}: sample rate 8000 Hz, will be resampled to 16000 Hz" in caplog.text
    assert data.utt2dur["12-201-0000"] == pytest.approx(0.5)
    with pytest.raises(AudioError, match=f"{odd}: sample rate 8000 Hz, expected 16000 Hz"):
        speech_dir_from_librispeech(libri, SUBSET, tmp_path / "data2", strict=True)
    # stage 2 reads it resampled (warning), or refuses it with --strict
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert compute_activity.main(["--data-dir", str(tmp_path / "data")]) == 0
    assert f"{odd}: resampling 8000 Hz -> 16000 Hz" in caplog.text
    assert compute_activity.main(["--data-dir", str(tmp_path / "data"), "--strict"]) == 1


def test_stereo_speech_is_refused(libri, tmp_path):
    stereo = chapter(libri, "12", "200") / "12-200-0001.flac"
    write_flac(stereo, tone(0.5, channels=2))
    with pytest.raises(AudioError, match=f"{stereo}: expected 1 channel"):
        speech_dir_from_librispeech(libri, SUBSET, tmp_path / "data")


def test_empty_speaker_folder(libri):
    empty = libri / "LibriSpeech" / SUBSET / "13"
    empty.mkdir()
    with pytest.raises(CorpusError, match=f"{empty}: empty speaker folder"):
        scan_librispeech(libri, SUBSET)
    assert any(str(empty) in p for p in check_librispeech(libri, [SUBSET], layout_only=True))


def test_missing_subset_and_published_counts(libri):
    problems = check_librispeech(libri, [SUBSET, "test-clean"])
    assert any("2 speaker folders, expected 40" in p for p in problems)
    assert any("5 .flac files, expected 2703" in p for p in problems)
    assert any("no LibriSpeech subset 'test-clean'" in p for p in problems)
    assert any("SPEAKERS.TXT not found" in p for p in problems)
    assert check_corpus.main(["librispeech", "--root", str(libri), "--subsets", SUBSET]) == 1
    (libri / "LibriSpeech" / "SPEAKERS.TXT").write_text(";ID |SEX| SUBSET | MINUTES | NAME\n")
    assert check_corpus.main(["librispeech", "--root", str(libri), "--subsets", SUBSET, "--layout-only"]) == 0


def test_noise_folder_without_files(tmp_path):
    root = make_wham(tmp_path / "noise", splits=("tr", "cv"))
    (root / "wham_noise" / "tt").mkdir()
    with pytest.raises(CorpusError, match=f"{root / 'wham_noise' / 'tt'}: noise folder has no .wav files"):
        scan_wham_noise(root, "tt")
    assert prepare_wham_noise.main(["--wham-dir", str(root), "--split", "tt", "--out", str(tmp_path / "d")]) == 1
    data = noise_dir_from_wham(root, "tr", tmp_path / "noise_tr")
    assert sorted(data.wav) == ["n0", "n1"] and data.utt2dur["n0"] == pytest.approx(1.0)
    assert load_data_dir(tmp_path / "noise_tr").kind == "noise"


def test_noise_with_three_channels_is_refused(tmp_path):
    root = make_wham(tmp_path / "noise", splits=("tr",))
    bad = root / "wham_noise" / "tr" / "n1.wav"
    sf.write(str(bad), np.zeros((1600, 3), dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=f"{bad}: expected 1 or 2 channel"):
        noise_dir_from_wham(root, "tr", tmp_path / "noise_tr")


def test_brir_check_names_missing_sets(tmp_path):
    (tmp_path / "CIPIC").mkdir()
    for i in range(3):
        (tmp_path / "CIPIC" / f"subject_{i:03d}.sofa").write_bytes(b"x")
    problems = check_brirs(tmp_path)
    assert f"{tmp_path / 'CIPIC'}: 3 files matching subject_*.sofa, expected 45" in problems
    assert f"{tmp_path / 'CATT_RIRs/Binaural/16k'}: BRIR set 'catt' not found" in problems
    assert len(problems) == 4
