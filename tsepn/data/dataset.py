"""torch Datasets of examples: rendered on the fly (dynamic mixing) or read from a rendered set.

Both yield the same item (docs/contracts.md): float32 tensors `[C, T]` named
`mix`, `ref`, `pos`, `neg`, `pos_clean`, plus `key`.

`SimulatedDataset` draws example i of epoch e from the spec seeded by
(seed, e, i): the data of an epoch depends neither on the number of DataLoader
workers nor on which worker renders what. Call `set_epoch(e)` before building
the epoch's DataLoader (tsepn.train.data.make_loader does). Nothing is cached
per example, so memory does not grow with the number of examples rendered.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch.utils.data import Dataset

from tsepn.audio import read_audio
from tsepn.data.render import Renderer
from tsepn.data.scenario import ScenarioSampler, find_set, load_simulate_conf, set_sampler
from tsepn.fileio import TableError, read_table

SIGNALS = ("mix", "ref", "pos", "neg", "pos_clean")


def _item(key: str, arrays: Dict[str, Any]) -> Dict[str, Any]:
    item = {name: torch.from_numpy(arrays[name]) for name in SIGNALS}
    item["key"] = key
    return item


class SimulatedDataset(Dataset):
    """Dynamic mixing from the `train` set (or any set) of a simulation config.

    config: conf/simulate.yaml; data_dir: folder of the Kaldi dirs; set_name: which set;
    num_examples: examples per epoch (default: the set's num_examples; 0 = one per target
    speaker, example i's target being speaker i); overrides: dotted.key=value;
    preload_mb: speech/noise that fits in this many MB once decoded is decoded here, once,
    and shared by forked DataLoader workers (tsepn.data.render.Renderer); the rest is read
    slice by slice.
    """

    def __init__(self, config: str, data_dir: str = "data", set_name: str = "train",
                 num_examples: Optional[int] = None, overrides: Sequence[str] = (), preload_mb: float = 512.0):
        conf = load_simulate_conf(config, overrides)
        set_conf = find_set(conf, set_name, str(config))
        sampler = set_sampler(conf, set_conf, data_dir, str(config))
        count = set_conf.num_examples if num_examples is None else num_examples
        self._setup(sampler, count, preload_mb)

    @classmethod
    def from_sampler(cls, sampler: ScenarioSampler, num_examples: int = 0,
                     preload_mb: float = 512.0) -> "SimulatedDataset":
        self = cls.__new__(cls)
        self._setup(sampler, num_examples, preload_mb)
        return self

    def _setup(self, sampler: ScenarioSampler, num_examples: int, preload_mb: float) -> None:
        self.sampler = sampler
        self.renderer = Renderer(speech_pools=(sampler.speech,), noise_pools=(sampler.noise,), preload_mb=preload_mb)
        self.per_speaker = num_examples <= 0
        self.num_examples = len(sampler.targets) if self.per_speaker else num_examples
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_examples

    def spec(self, index: int) -> Dict[str, Any]:
        if not 0 <= index < self.num_examples:
            raise IndexError(f"index {index} out of range for {self.num_examples} examples")
        target = self.sampler.targets[index] if self.per_speaker else None
        return self.sampler.sample(index, epoch=self.epoch, target=target)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        out = self.renderer.render(self.spec(index))
        return _item(out.key, vars(out))


class ScpDataset(Dataset):
    """A rendered set directory: `mix.scp ref.scp pos.scp neg.scp pos_clean.scp` (same keys)."""

    def __init__(self, set_dir: str, sample_rate: Optional[int] = None):
        self.set_dir = Path(set_dir)
        self.sample_rate = sample_rate
        self.tables = {name: read_table(self.set_dir / f"{name}.scp") for name in SIGNALS}
        self.keys: List[str] = sorted(self.tables["mix"])
        for name, table in self.tables.items():
            if set(table) != set(self.keys):
                odd = sorted(set(table) ^ set(self.keys))[0]
                raise TableError(f"{self.set_dir / (name + '.scp')}: keys differ from mix.scp (e.g. {odd!r})")

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        key = self.keys[index]
        arrays = {name: read_audio(self.tables[name][key], sample_rate=self.sample_rate)[0] for name in SIGNALS}
        return _item(key, arrays)


def collate(items: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Stack the `[C, T]` tensors of equal-length items into `[B, C, T]`; other fields become lists.

    Every example of a set has the same lengths, so a mismatch is an error, not padding.
    """
    keys = [item.get("key", "?") for item in items]
    batch: Dict[str, Any] = {}
    for name in items[0]:
        values = [item[name] for item in items]
        if isinstance(values[0], torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ValueError(f"collate: {name!r} shapes differ within a batch: {sorted(shapes)} (items {keys})")
            batch[name] = torch.stack(values)
        else:
            batch[name] = values
    return batch
