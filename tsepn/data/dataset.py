"""torch Datasets of examples: rendered on the fly (dynamic mixing) or read from a rendered set.

Both yield the same item (docs/contracts.md): float32 tensors `[C, T]` named
`mix`, `ref`, `pos`, `neg`, `pos_clean`, plus `key`, and
- `spk`: int64 scalar, the target speaker's index among the training speakers (the sorted
  speaker ids of `<data>/train/spk2utt`, `<data>` being the folder of the set's speech
  dir or of the rendered set), -1 for a speaker who is not a training speaker (dev/test)
  or when that table is absent; what speaker-classification losses read;
- `enroll_clean`: `[C, T_pos]`, another clean recording of the target, from utterances the
  mixture does not use (`Renderer.render_enroll_clean`): the one enrollment of the
  clean-enrollment systems' upper-bound configs. Rendered from the spec; a rendered set
  without specs (no scenarios.jsonl, no donor set) has no such field.
- `candidates`: `[K, C, L]`, the spec's candidate references (other recordings of the target,
  each at its own noise level; `Renderer.render_candidates`), only where the spec has them
  (scenario `candidate_count` > 0); rendered from the spec like `enroll_clean`.

`SimulatedDataset` draws example i of epoch e from the spec seeded by
(seed, e, i): the data of an epoch depends neither on the number of DataLoader
workers nor on which worker renders what. Call `set_epoch(e)` before building
the epoch's DataLoader (tsepn.train.data.make_loader does). Nothing is cached
per example, so memory does not grow with the number of examples rendered.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch.utils.data import Dataset

from tsepn.audio import read_audio
from tsepn.data.render import Renderer
from tsepn.data.scenario import ScenarioSampler, find_set, load_simulate_conf, read_specs, set_sampler
from tsepn.fileio import TableError, read_table

SIGNALS = ("mix", "ref", "pos", "neg", "pos_clean")
NOT_A_TRAINING_SPEAKER = -1


def _item(key: str, arrays: Dict[str, Any]) -> Dict[str, Any]:
    item = {name: torch.from_numpy(arrays[name]) for name in SIGNALS}
    item["key"] = key
    return item


@functools.lru_cache(maxsize=16)
def training_speakers(data_dir: str) -> Dict[str, int]:
    """Speaker id -> index in the sorted ids of `<data_dir>/train/spk2utt` ({} without that table)."""
    table = Path(data_dir) / "train" / "spk2utt"
    if not table.is_file():
        return {}
    return {spk: i for i, spk in enumerate(sorted(read_table(table)))}


def speaker_index(data_dir, speaker: str) -> torch.Tensor:
    return torch.tensor(training_speakers(str(data_dir)).get(speaker, NOT_A_TRAINING_SPEAKER), dtype=torch.int64)


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
        spec = self.spec(index)
        out = self.renderer.render(spec)
        item = _item(out.key, vars(out))
        item["spk"] = speaker_index(Path(spec["speech_dir"]).parent, spec["target_speaker"])
        item["enroll_clean"] = torch.from_numpy(self.renderer.render_enroll_clean(spec))
        if spec.get("candidates"):
            item["candidates"] = torch.from_numpy(self.renderer.render_candidates(spec))
        return item


class ScpDataset(Dataset):
    """A rendered set directory: `mix.scp ref.scp pos.scp neg.scp pos_clean.scp` (same keys).

    `spk` from `utt2spk` (when present; else -1); `enroll_clean` (and `candidates`) rendered from the set's
    scenarios.jsonl, or for a `<set>_wrong_enroll` control from the donor example's spec
    (`enroll_from`) in `<set>/scenarios.jsonl`; absent when there is no spec.
    """

    def __init__(self, set_dir: str, sample_rate: Optional[int] = None):
        self.set_dir = Path(set_dir)
        self.sample_rate = sample_rate
        self.tables = {name: read_table(self.set_dir / f"{name}.scp") for name in SIGNALS}
        self.keys: List[str] = sorted(self.tables["mix"])
        for name, table in self.tables.items():
            if set(table) != set(self.keys):
                odd = sorted(set(table) ^ set(self.keys))[0]
                raise TableError(f"{self.set_dir / (name + '.scp')}: keys differ from mix.scp (e.g. {odd!r})")
        utt2spk = self.set_dir / "utt2spk"
        self.utt2spk = read_table(utt2spk) if utt2spk.is_file() else {}
        self._specs: Optional[Dict[str, Dict[str, Any]]] = None
        self._renderer: Optional[Renderer] = None

    def enroll_spec(self, key: str) -> Optional[Dict[str, Any]]:
        """The spec whose target enrolls example `key` (None when the set has no specs)."""
        if self._specs is None:
            self._specs = {}
            donors = {}
            source = self.set_dir / "scenarios.jsonl"
            if not source.is_file() and self.set_dir.name.endswith("_wrong_enroll") \
                    and (self.set_dir / "enroll_from").is_file():
                source = self.set_dir.parent / self.set_dir.name[: -len("_wrong_enroll")] / "scenarios.jsonl"
                donors = read_table(self.set_dir / "enroll_from")
            if source.is_file():
                specs = {spec["id"]: spec for spec in read_specs(source)}
                self._specs = {k: specs[donors.get(k, k)] for k in self.keys if donors.get(k, k) in specs}
        return self._specs.get(key)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        key = self.keys[index]
        arrays = {name: read_audio(self.tables[name][key], sample_rate=self.sample_rate)[0] for name in SIGNALS}
        item = _item(key, arrays)
        item["spk"] = speaker_index(self.set_dir.parent, self.utt2spk.get(key, ""))
        spec = self.enroll_spec(key)
        if spec is not None:
            if self._renderer is None:
                self._renderer = Renderer()
            item["enroll_clean"] = torch.from_numpy(self._renderer.render_enroll_clean(spec))
            if spec.get("candidates"):
                item["candidates"] = torch.from_numpy(self._renderer.render_candidates(spec))
        return item


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
