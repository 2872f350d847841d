"""Energy-based activity detection on signals with known speech spans; trimming; the activity table."""
import numpy as np
import pytest
from prep_helpers import write_flac

from tsepn.data.activity import (ActivityConfig, compute_dir_activity, detect_speech, kept_pieces, read_activity,
                                 spans_to_mask, trim_silences, write_activity)
from tsepn.data.datadir import SpeechEntry, validate_data_dir, write_speech_dir

SR = 16000
RAW = ActivityConfig(onset_s=0.0, hangover_s=0.0, min_pause_s=0.0)


def scene(bursts, seconds=4.0, floor_db=-65.0, seed=0):
    """Noise floor plus tone/noise bursts at known times: bursts = [(start, end, kind, level_db)]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = rng.standard_normal(n) * 10 ** (floor_db / 20)
    t = np.arange(n) / SR
    for start, end, kind, level_db in bursts:
        a, b = int(start * SR), int(end * SR)
        amp = 10 ** (level_db / 20)
        if kind == "tone":
            x[a:b] += amp * np.sqrt(2) * np.sin(2 * np.pi * 300 * t[a:b])
        else:
            x[a:b] += amp * rng.standard_normal(b - a)
    return x.astype(np.float32)


BURSTS = [(0.50, 1.20, "tone", -20), (1.30, 1.60, "noise", -26), (2.40, 3.10, "tone", -18)]


def test_spans_found_within_tolerance():
    spans = detect_speech(scene(BURSTS), SR, RAW)
    assert len(spans) == 3
    for (start, end), (t_start, t_end, _, _) in zip(spans, BURSTS):
        assert abs(start - t_start) <= 0.03 and abs(end - t_end) <= 0.03, (spans, BURSTS)


def test_defaults_bridge_short_pauses_and_pad_the_edges():
    cfg = ActivityConfig()
    spans = detect_speech(scene(BURSTS), SR, cfg)
    # the 0.1 s pause is bridged, the 0.8 s pause separates two spans
    assert len(spans) == 2
    (s1, e1), (s2, e2) = spans
    assert 0.5 - cfg.onset_s - 0.03 <= s1 <= 0.5 and 1.6 <= e1 <= 1.6 + cfg.hangover_s + 0.03
    assert 2.4 - cfg.onset_s - 0.03 <= s2 <= 2.4 and 3.1 <= e2 <= 3.1 + cfg.hangover_s + 0.03


def test_level_independent_and_silence_gives_no_span():
    x = scene(BURSTS)
    assert detect_speech(x * 0.01, SR) == detect_speech(x, SR)
    assert detect_speech(np.zeros(SR, dtype=np.float32), SR) == []


def test_short_clicks_are_dropped():
    x = scene([(1.0, 2.0, "tone", -20), (3.0, 3.02, "noise", -20)])
    spans = detect_speech(x, SR)
    assert len(spans) == 1 and spans[0][0] < 1.0 < 2.0 < spans[0][1] < 2.2


def test_trimming_shortens_long_pauses_only():
    spans = [(0.5, 1.0), (1.2, 1.5), (3.0, 3.5)]
    pieces = kept_pieces(spans, duration=4.0, max_pause_s=0.4, edge_s=0.1)
    assert pieces == [(0.4, 1.7), (2.8, 3.6)]
    audio = np.arange(int(4.0 * SR), dtype=np.float32)
    trimmed, new_spans = trim_silences(audio, SR, spans, max_pause_s=0.4, edge_s=0.1)
    assert len(trimmed) == int(round((1.3 + 0.8) * SR))
    assert trimmed[0] == audio[int(0.4 * SR)]
    assert new_spans == [(0.1, 0.6), (0.8, 1.1), (1.5, 2.0)]
    mask = spans_to_mask(new_spans, len(trimmed), SR)
    assert mask.sum() == int(round(1.3 * SR))
    stereo, _ = trim_silences(np.stack([audio, audio]), SR, spans, 0.4, 0.1)
    assert stereo.shape == (2, len(trimmed))


def test_activity_table_roundtrip(tmp_path):
    table = {"b": [(0.1, 0.5), (0.9, 1.25)], "a": [], "c": [(0.0, 2.0)]}
    write_activity(tmp_path / "activity", table)
    assert (tmp_path / "activity").read_text() == "a\nb 0.100 0.500 0.900 1.250\nc 0.000 2.000\n"
    assert read_activity(tmp_path / "activity") == {k: table[k] for k in sorted(table)}
    (tmp_path / "bad").write_text("a 0.1\n")
    with pytest.raises(ValueError, match=r"bad:1: expected start/end pairs"):
        read_activity(tmp_path / "bad")


@pytest.mark.parametrize("nj", [1, 2])
def test_dir_activity(tmp_path, nj):
    entries = []
    for i in range(3):
        utt = f"1-1-{i:04d}"
        path = write_flac(tmp_path / f"{utt}.flac", scene(BURSTS, seed=i))
        entries.append(SpeechEntry(utt, "1", str(path), "X", 4.0))
    write_speech_dir(tmp_path / "data", entries)
    result = compute_dir_activity(tmp_path / "data", nj=nj, progress=False)
    assert sorted(result) == [e.utt for e in entries]
    assert all(len(spans) == 2 for spans in result.values())
    validate_data_dir(tmp_path / "data")  # the activity file is consistent with the dir
