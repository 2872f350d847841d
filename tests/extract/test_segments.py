"""Cutting positive and negative enrollments out of one recording with a segments file."""
import numpy as np
import pytest

from tsepn.fileio import TableError
from tsepn.infer import cut_enrollments, read_enroll_segments

SR = 100  # samples per second: keeps the arithmetic readable


def recording(seconds=10.0, channels=1):
    """Sample value = its own index, so cut positions can be read off the output."""
    n = int(seconds * SR)
    return np.tile(np.arange(n, dtype=np.float32), (channels, 1))


def write(tmp_path, text, name="rec.segments"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_concatenates_spans_per_label_in_time_order(tmp_path):
    segs = write(
        tmp_path,
        "s3 rec 6.0 7.0 pos\n"
        "s1 rec 0.5 1.5 pos\n"
        "s2 rec 2.0 3.0 neg\n"
        "s4 rec 8.0 8.5 neg\n",
    )
    pos, neg = cut_enrollments(recording(channels=2), SR, segs)
    expected_pos = np.concatenate([np.arange(50, 150), np.arange(600, 700)]).astype(np.float32)
    expected_neg = np.concatenate([np.arange(200, 300), np.arange(800, 850)]).astype(np.float32)
    assert pos.shape == (2, 200) and neg.shape == (2, 150)
    np.testing.assert_array_equal(pos[1], expected_pos)
    np.testing.assert_array_equal(neg[0], expected_neg)
    assert pos.dtype == np.float32


def test_rec_id_selects_lines(tmp_path):
    segs = write(tmp_path, "a rec1 0 1 pos\nb rec1 1 2 neg\nc rec2 2 3 pos\nd rec2 3 4 neg\n")
    spans = read_enroll_segments(segs, rec_id="rec2")
    assert [s.seg_id for s in spans] == ["c", "d"]
    pos, _ = cut_enrollments(recording(), SR, segs, rec_id="rec2")
    assert pos[0, 0] == 200


@pytest.mark.parametrize(
    "text, message",
    [
        ("a rec 0 1 pos\nb rec 1 2\n", "rec.segments:2: expected 5 fields"),
        ("a rec 0 1 pos\nb rec 1 2 maybe\n", "rec.segments:2: label must be 'pos' or 'neg'"),
        ("a rec 0 1 pos\nb rec 2 1 neg\n", "rec.segments:2: start 2.0 s is not before end 1.0 s"),
        ("a rec 0 1 pos\nb rec 1 1 neg\n", "rec.segments:2: start 1.0 s is not before end"),
        ("a rec -1 1 pos\nb rec 1 2 neg\n", "rec.segments:1: start -1.0 s is negative"),
        ("a rec 0 1 pos\nb rec x 2 neg\n", "rec.segments:2: start time 'x' is not a number"),
        ("a rec 0 1 pos\nb rec 1 nan neg\n", "rec.segments:2: end time 'nan' is not finite"),
        ("a rec 0 1 pos\na rec 1 2 neg\n", "rec.segments:2: duplicate segment id 'a'"),
        ("a rec 0 1 pos\nb other 1 2 neg\n", "rec.segments:2: recording 'other' differs"),
        ("a rec 0 1 pos\n\nb rec 1 2 neg\n", "rec.segments:2: empty line"),
        ("a rec 0 1 pos\nb rec 9 10.5 neg\n", "rec.segments:2: span 9.0-10.5 s ends after the recording"),
        ("a rec 0 2 pos\nb rec 1.5 3 neg\n", "rec.segments:2: span 1.5-3.0 s overlaps line 1"),
        ("a rec 0 1 pos\nb rec 2 3 pos\n", "no 'neg' segment"),
        ("a rec 0 1 neg\n", "no 'pos' segment"),
        ("a rec 0 0.2 pos\nb rec 1 2 neg\n", "'pos' segments total 0.200 s, at least 0.500 s"),
        ("", "rec.segments: no segments"),
    ],
)
def test_bad_segments_name_file_and_line(tmp_path, text, message):
    segs = write(tmp_path, text)
    with pytest.raises(TableError) as err:
        cut_enrollments(recording(), SR, segs)
    assert message in str(err.value)


def test_missing_segments_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.segments"):
        cut_enrollments(recording(), SR, tmp_path / "nothere.segments")


def test_end_within_rounding_slack_is_accepted(tmp_path):
    segs = write(tmp_path, "a rec 0 1 pos\nb rec 9 10.0005 neg\n")
    _, neg = cut_enrollments(recording(), SR, segs)
    assert neg.shape == (1, 100)
