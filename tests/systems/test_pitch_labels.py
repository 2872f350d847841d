"""Pitch labels: Praat's tracker on synthetic tones of known f0, the frame grid, the precision rate, the dataset."""
import numpy as np
import pytest
import torch

from tsepn.data.pitch import PitchDataset, frames_for, precision_rate, track_pitch

SR, HOP = 16000, 128


def tone(f0, seconds=1.0, harmonics=3):
    t = np.arange(int(seconds * SR)) / SR
    return sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1)).astype(np.float32)


@pytest.mark.parametrize("f0", [110.0, 196.0, 330.0])
def test_tracker_within_one_percent_on_a_tone(f0):
    track = track_pitch(tone(f0), SR, HOP)
    assert track.shape == (frames_for(SR, HOP),) and track.dtype == np.float32
    voiced = track[track > 0]
    assert len(voiced) > 0.8 * len(track)
    assert np.all(np.abs(voiced / f0 - 1) < 0.01)


def test_silence_and_the_frame_grid():
    wave = np.concatenate([np.zeros(SR // 2, np.float32), tone(200.0, 0.5)])
    track = track_pitch(wave, SR, HOP)
    centre = np.arange(len(track)) * HOP / SR
    assert np.all(track[centre < 0.45] == 0)  # silent first half: unvoiced
    assert np.median(track[centre > 0.6]) == pytest.approx(200.0, rel=0.01)
    assert not track_pitch(np.zeros(100, np.float32), SR, HOP).any()  # too short / silent: all unvoiced


def test_precision_rate_on_known_tracks():
    ref = np.array([0.0, 100.0, 100.0, 200.0, 200.0, 0.0])
    assert precision_rate(ref, ref) == 1.0
    semitone = 2 ** (1 / 12)  # 100 cents: out of tolerance; 25 cents: inside
    est = np.array([150.0, 100.0 * 2 ** (25 / 1200), 100.0 * semitone, 0.0, 200.0, 0.0])
    assert precision_rate(est, ref) == pytest.approx(2 / 4)  # unvoiced reference frames do not count
    assert precision_rate(est, ref, tolerance_cents=150.0) == pytest.approx(3 / 4)
    assert precision_rate(torch.tensor(est), torch.tensor(ref)) == pytest.approx(0.5)
    assert precision_rate(est, np.zeros(6)) is None
    with pytest.raises(ValueError, match="differ"):
        precision_rate(est[:3], ref)


class Tones(torch.utils.data.Dataset):
    """A stand-in rendered set: `ref` tones of known f0, keys, a set_dir."""

    def __init__(self, set_dir):
        self.set_dir, self.keys = set_dir, ["a", "b"]
        self.reads = 0

    def __len__(self):
        return 2

    def __getitem__(self, i):
        self.reads += 1
        ref = torch.from_numpy(tone([150.0, 250.0][i], 0.5))[None]
        return {"key": self.keys[i], "mix": ref, "ref": ref}


def test_dataset_adds_pitch_and_stores_a_set_once(tmp_path, monkeypatch):
    from tsepn.train import data as train_data

    monkeypatch.setitem(train_data.DATASETS._table, "tones", lambda **a: Tones(tmp_path))
    ds = PitchDataset({"type": "tones", "args": {}}, hop=HOP)
    assert (tmp_path / f"pitch_hop{HOP}.npz").is_file() and ds.base.reads == 2
    item = ds[1]
    assert item["pitch"].shape == (frames_for(SR // 2, HOP),) and item["pitch"].dtype == torch.float32
    assert np.median(item["pitch"][item["pitch"] > 0].numpy()) == pytest.approx(250.0, rel=0.01)
    again = PitchDataset({"type": "tones", "args": {}}, hop=HOP)
    assert again.base.reads == 0  # read back from the stored labels
    assert torch.equal(again[1]["pitch"], item["pitch"])
    other = PitchDataset({"type": "tones", "args": {}}, hop=HOP, ceiling=400.0)
    assert other.base.reads == 2  # other tracker settings: tracked again


def test_the_miss_rate_loss_is_one_minus_the_precision_rate():
    from tsepn.losses import build_loss

    ref = torch.tensor([[0.0, 100.0, 100.0, 200.0], [200.0, 0.0, 150.0, 150.0]])
    est = torch.tensor([[120.0, 101.0, 0.0, 200.0], [190.0, 0.0, 150.0 * 2 ** (60 / 1200), 150.0]])
    loss = build_loss([{"name": "pitch_miss_rate", "weight": 0.0, "output": "f0", "target": "pitch"}])
    _, parts = loss.evaluate({"f0": est}, {"pitch": ref})
    # voiced reference frames: 6; hits: 101 (17 cents), 200, 150 -> 3 (190 vs 200 is 89 cents; 60 cents off)
    assert parts["pitch_miss_rate"].item() == pytest.approx(1 - precision_rate(est, ref)) == pytest.approx(0.5)
