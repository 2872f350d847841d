"""Kaldi data directories: writing, and validation errors that name file:line."""
from pathlib import Path

import pytest
from prep_helpers import tone, write_flac

from tsepn.data.datadir import (DataDirError, NoiseEntry, SpeechEntry, load_data_dir, validate_data_dir,
                                write_noise_dir, write_speech_dir)


@pytest.fixture
def speech_dir(tmp_path) -> Path:
    entries = []
    for spk in ("103", "1034", "2"):
        for i in range(2):
            utt = f"{spk}-1-{i:04d}"
            path = write_flac(tmp_path / "audio" / f"{utt}.flac", tone(0.5))
            entries.append(SpeechEntry(utt, spk, str(path), f"WORD {i}", 0.5))
    write_speech_dir(tmp_path / "data" / "train", entries)
    return tmp_path / "data" / "train"


def lines(path: Path):
    return path.read_text().splitlines(keepends=True)


def test_written_dir_is_sorted_and_consistent(speech_dir):
    data = validate_data_dir(speech_dir)
    assert data.kind == "speech"
    assert list(data.wav) == sorted(data.wav)
    # byte order: "103-..." < "1034-..." < "2-..."; speakers sort the same way
    assert list(data.spk2utt) == ["103", "1034", "2"]
    assert data.spk2utt["1034"] == ["1034-1-0000", "1034-1-0001"]
    assert (speech_dir / "spk2utt").read_text().splitlines()[0] == "103 103-1-0000 103-1-0001"


def test_noise_dir(tmp_path):
    path = write_flac(tmp_path / "n.flac", tone(1.0))
    data = write_noise_dir(tmp_path / "noise_tr", [NoiseEntry("n", str(path), 1.0)])
    assert data.kind == "noise" and data.utt2dur == {"n": 1.0}
    assert sorted(p.name for p in (tmp_path / "noise_tr").iterdir()) == ["utt2dur", "wav.scp"]


def check_error(path: Path, expected: str):
    with pytest.raises(DataDirError) as err:
        validate_data_dir(path)
    assert expected in str(err.value), str(err.value)


def test_unsorted_file_names_file_and_line(speech_dir):
    rows = lines(speech_dir / "text")
    rows[1], rows[2] = rows[2], rows[1]
    (speech_dir / "text").write_text("".join(rows))
    check_error(speech_dir, f"{speech_dir / 'text'}:3: key '103-1-0001' comes after '1034-1-0000'")


def test_duplicate_key(speech_dir):
    rows = lines(speech_dir / "utt2dur")
    (speech_dir / "utt2dur").write_text("".join(rows[:2] + rows[1:]))
    check_error(speech_dir, f"{speech_dir / 'utt2dur'}:3: duplicate key '103-1-0001'")


def test_missing_and_extra_keys(speech_dir):
    rows = lines(speech_dir / "text")
    (speech_dir / "text").write_text("".join(rows[:3] + rows[4:]))
    check_error(speech_dir, f"{speech_dir / 'wav.scp'}:4: utterance '1034-1-0001' has no line in text")
    (speech_dir / "text").write_text("".join(rows + ["3-1-0000 EXTRA\n"]))
    check_error(speech_dir, f"{speech_dir / 'text'}:7: utterance '3-1-0000' is not in wav.scp")


def test_spk2utt_must_agree_with_utt2spk(speech_dir):
    (speech_dir / "spk2utt").write_text("103 103-1-0000\n1034 103-1-0001 1034-1-0000 1034-1-0001\n"
                                        "2 2-1-0000 2-1-0001\n")
    check_error(speech_dir, f"{speech_dir / 'spk2utt'}:2: utterance '103-1-0001' belongs to '103' in utt2spk:2")
    (speech_dir / "spk2utt").write_text("103 103-1-0000 103-1-0001\n1034 1034-1-0000\n2 2-1-0000 2-1-0001\n")
    check_error(speech_dir, f"{speech_dir / 'utt2spk'}:4: utterance '1034-1-0001' is missing from spk2utt")


def test_speakers_must_be_contiguous(speech_dir):
    rows = lines(speech_dir / "utt2spk")
    rows[1] = "103-1-0001 2\n"
    (speech_dir / "utt2spk").write_text("".join(rows))
    check_error(speech_dir, f"{speech_dir / 'utt2spk'}:3: speaker '1034' sorts before '2'")


def test_durations_must_be_positive(speech_dir):
    rows = lines(speech_dir / "utt2dur")
    rows[4] = "2-1-0000 0.000\n"
    (speech_dir / "utt2dur").write_text("".join(rows))
    check_error(speech_dir, f"{speech_dir / 'utt2dur'}:5: duration of '2-1-0000' must be a positive number")
    rows[4] = "2-1-0000 abc\n"
    (speech_dir / "utt2dur").write_text("".join(rows))
    check_error(speech_dir, f"{speech_dir / 'utt2dur'}:5:")


def test_wrong_field_count_and_missing_table(speech_dir):
    rows = lines(speech_dir / "utt2spk")
    rows[0] = "103-1-0000 103 extra\n"
    (speech_dir / "utt2spk").write_text("".join(rows))
    check_error(speech_dir, f"{speech_dir / 'utt2spk'}:1: expected 2 fields")
    (speech_dir / "utt2spk").unlink()
    (speech_dir / "text").unlink()
    (speech_dir / "spk2utt").unlink()
    validate_data_dir(speech_dir)  # now a valid noise dir: wav.scp + utt2dur
    (speech_dir / "text").write_text("x\n")
    check_error(speech_dir, f"{speech_dir / 'utt2spk'}: missing")


def test_audio_files_must_exist(speech_dir):
    first = sorted((speech_dir.parent.parent / "audio").iterdir())[0]
    first.unlink()
    check_error(speech_dir, f"{speech_dir / 'wav.scp'}:1: audio file not found: {first}")
    validate_data_dir(speech_dir, check_files=False)


def test_activity_is_checked_when_present(speech_dir):
    data = load_data_dir(speech_dir)
    rows = [f"{u} 0.100 0.400\n" for u in data.wav]
    (speech_dir / "activity").write_text("".join(rows))
    validate_data_dir(speech_dir)
    rows[2] = rows[2].replace("0.400", "0.900")
    (speech_dir / "activity").write_text("".join(rows))
    check_error(speech_dir, f"{speech_dir / 'activity'}:3: span ends at 0.9 s after the utterance")
    (speech_dir / "activity").write_text("".join(rows[:2]))
    check_error(speech_dir, "utterance '1034-1-0000' of wav.scp has no line")


def test_failed_write_keeps_the_previous_dir(speech_dir, tmp_path):
    before = {p.name: p.read_text() for p in speech_dir.iterdir()}
    bad = [SpeechEntry("9-1-0000", "9", str(tmp_path / "nowhere.flac"), "X", 1.0)]
    with pytest.raises(DataDirError, match="audio file not found"):
        write_speech_dir(speech_dir, bad)
    assert {p.name: p.read_text() for p in speech_dir.iterdir()} == before
    assert sorted(p.name for p in speech_dir.parent.iterdir()) == ["train"]  # no temporary left behind
