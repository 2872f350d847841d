"""Pitch labels of the clean target (for the pitch-aware systems) and the pitch precision rate.

    f0 = track_pitch(ref[0], 16000, hop=128)          # float32 [1 + T // hop] Hz, 0 = unvoiced
    rate = precision_rate(estimate, f0)                 # share of voiced frames within 50 cents
    dataset = PitchDataset({"type": "scp", "args": {"set_dir": "data/dev_m2e2"}}, hop=128)
    dataset[i]["pitch"]                                  # the item of the base dataset + `pitch`

Tracker: Praat's autocorrelation method (`praat-parselmouth`, Sound.to_pitch_ac) run on the
clean target `ref` (channels averaged). Frame n of a label track is at time n * hop / sr,
the centre of frame n of a centred STFT with that hop (torch.stft(center=True) gives
1 + T // hop frames); each takes the Praat frame nearest in time (0 where Praat has none
within half a hop or calls it unvoiced).

Storage: a rendered set's labels are computed once and stored next to its scp files as
`pitch_hop<hop>.npz` (one array per example key, written atomically; recomputed when the
keys or the tracker settings differ); on-the-fly training examples are tracked as they are
rendered.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from tsepn.fileio import atomic_path


def frames_for(samples: int, hop: int) -> int:
    return 1 + samples // hop


def track_pitch(wave: np.ndarray, sample_rate: int, hop: int, floor: float = 75.0,
                ceiling: float = 500.0) -> np.ndarray:
    """f0 in Hz of a mono signal on the frame grid n * hop (float32 [1 + T // hop]); 0 = unvoiced."""
    import parselmouth

    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim == 2:
        wave = wave.mean(axis=0)
    if wave.ndim != 1:
        raise ValueError(f"track_pitch: expected [T] or [C, T] audio, got shape {wave.shape}")
    n = frames_for(len(wave), hop)
    out = np.zeros(n, dtype=np.float32)
    # Praat needs at least 3 periods of the floor frequency in its analysis window
    if len(wave) < int(3 * sample_rate / floor) or not np.any(wave):
        return out
    sound = parselmouth.Sound(wave, sampling_frequency=float(sample_rate))
    pitch = sound.to_pitch_ac(time_step=hop / sample_rate, pitch_floor=floor, pitch_ceiling=ceiling)
    times = np.asarray(pitch.xs())
    values = np.asarray(pitch.selected_array["frequency"], dtype=np.float32)
    if len(times) == 0:
        return out
    grid = np.arange(n) * hop / sample_rate
    nearest = np.clip(np.searchsorted(times, grid), 1, len(times) - 1)
    left = times[nearest - 1]
    nearest = np.where(np.abs(grid - left) <= np.abs(times[nearest] - grid), nearest - 1, nearest)
    close = np.abs(times[nearest] - grid) <= 0.5 * hop / sample_rate + 1e-9
    out[close] = values[nearest[close]]
    out[~np.isfinite(out)] = 0.0
    return out


def cents(estimate, reference):
    """1200 * log2(estimate / reference) (both > 0)."""
    return 1200.0 * np.log2(np.asarray(estimate, dtype=np.float64) / np.asarray(reference, dtype=np.float64))


def precision_rate(estimate, reference, tolerance_cents: float = 50.0) -> Optional[float]:
    """Share of the reference's voiced frames (> 0) where the estimate is voiced and within
    `tolerance_cents` of it; None when the reference has no voiced frame. Any array shape."""
    est = np.asarray(estimate.detach().cpu() if torch.is_tensor(estimate) else estimate, dtype=np.float64).ravel()
    ref = np.asarray(reference.detach().cpu() if torch.is_tensor(reference) else reference, dtype=np.float64).ravel()
    if est.shape != ref.shape:
        raise ValueError(f"precision_rate: estimate {est.shape} and reference {ref.shape} differ")
    voiced = ref > 0
    if not voiced.any():
        return None
    hit = np.zeros_like(voiced)
    both = voiced & (est > 0)
    hit[both] = np.abs(cents(est[both], ref[both])) <= tolerance_cents
    return float(hit[voiced].mean())


class PitchDataset(Dataset):
    """Any training dataset (`base`: {type, args} of tsepn.train.data) plus the target's pitch track.

    hop / sample_rate: the label frame grid (the pitch model's STFT hop); floor / ceiling:
    the tracker's f0 range in Hz; store: keep a rendered (scp) set's labels in
    `<set_dir>/pitch_hop<hop>.npz`.
    """

    def __init__(self, base: Mapping[str, Any], hop: int = 128, sample_rate: int = 16000, floor: float = 75.0,
                 ceiling: float = 500.0, store: bool = True):
        from tsepn.train.data import build_dataset
        from tsepn.train.schema import DatasetConf

        if not isinstance(base, Mapping) or "type" not in base:
            raise ValueError("pitch dataset: args.base must be a dataset entry {type, args}")
        self.base = build_dataset(DatasetConf(type=base["type"], args=dict(base.get("args") or {})), "args.base")
        self.hop, self.sample_rate, self.floor, self.ceiling = int(hop), int(sample_rate), float(floor), float(ceiling)
        self.labels: Dict[str, np.ndarray] = {}
        set_dir = getattr(self.base, "set_dir", None)
        if store and set_dir is not None:
            self.labels = self._stored(Path(set_dir))

    def settings(self) -> Dict[str, Any]:
        return {"hop": self.hop, "sample_rate": self.sample_rate, "floor": self.floor, "ceiling": self.ceiling,
                "tracker": "praat to_pitch_ac"}

    def _track(self, ref: torch.Tensor) -> np.ndarray:
        return track_pitch(ref.numpy(), self.sample_rate, self.hop, self.floor, self.ceiling)

    def _stored(self, set_dir: Path) -> Dict[str, np.ndarray]:
        path = set_dir / f"pitch_hop{self.hop}.npz"
        keys = list(getattr(self.base, "keys", []))
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                if str(data["__settings__"]) == json.dumps(self.settings()) and set(keys) <= set(data.files):
                    return {k: data[k] for k in keys}
        labels = {}
        for i in range(len(self.base)):
            item = self.base[i]
            labels[item["key"]] = self._track(item["ref"])
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, __settings__=np.array(json.dumps(self.settings())), **labels)
        return labels

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        item = dict(self.base[index])
        label = self.labels.get(item["key"])
        if label is None:
            label = self._track(item["ref"])
        item["pitch"] = torch.from_numpy(np.asarray(label, dtype=np.float32))
        return item


def enrollment_tracks(set_dir, hop: int, sample_rate: int = 16000) -> Dict[str, np.ndarray]:
    """key -> the true f0 track of the speaker each example's enrollment names (what an oracle-pitch
    model is fed): the example's own target, or in a `<set>_wrong_enroll` control (`enroll_from`)
    the donor example's target, so the control does not hand the model the mixture target's track."""
    from tsepn.fileio import read_table

    set_dir = Path(set_dir)
    donors_file = set_dir / "enroll_from"
    if not donors_file.is_file():
        return PitchDataset({"type": "scp", "args": {"set_dir": str(set_dir)}}, hop=hop, sample_rate=sample_rate).labels
    if not set_dir.name.endswith("_wrong_enroll"):
        raise ValueError(f"{donors_file}: an enroll_from table outside a <set>_wrong_enroll control")
    source = set_dir.parent / set_dir.name[: -len("_wrong_enroll")]
    donor = PitchDataset({"type": "scp", "args": {"set_dir": str(source)}}, hop=hop, sample_rate=sample_rate).labels
    return {key: donor[src] for key, src in read_table(donors_file).items()}
