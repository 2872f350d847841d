"""Data loaders for training: which dataset class, which examples each epoch, seeding.

An epoch is a configured number of examples (the paper: one per training
speaker). The examples of epoch `e` and the DataLoader's worker seeds depend
only on (seed, e), so a resumed run sees exactly the data an uninterrupted one
would. Under DistributedDataParallel every process takes every world-th
example of the same epoch list; `batch_size` is per process.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tsepn.data.dataset import collate
from tsepn.registry import Registry
from tsepn.train.schema import DataConf, DatasetConf

DATASETS: Registry[Dataset] = Registry("dataset type")


@DATASETS.register("simulated")
def _simulated(**args) -> Dataset:
    from tsepn.data.dataset import SimulatedDataset

    return SimulatedDataset(**args)


@DATASETS.register("scp")
def _scp(**args) -> Dataset:
    from tsepn.data.dataset import ScpDataset

    return ScpDataset(**args)


@DATASETS.register("pitch")
def _pitch(**args) -> Dataset:
    """Another dataset entry (`base: {type, args}`) plus the clean target's pitch track (`pitch`)."""
    from tsepn.data.pitch import PitchDataset

    return PitchDataset(**args)


def build_dataset(conf: DatasetConf, key: str) -> Dataset:
    """Build a dataset from its config entry; errors name `key` (data.train / data.valid)."""
    try:
        constructor = DATASETS.get(conf.type)
    except KeyError as err:
        raise ValueError(f"{key}.type: {err.args[0]}") from None
    try:
        return constructor(**conf.args)
    except TypeError as err:
        raise ValueError(f"{key}.args: {err}") from None


def epoch_seed(seed: int, epoch: int) -> int:
    """A seed for epoch `epoch` that does not collide with neighbouring runs' seeds."""
    return (seed * 1_000_003 + epoch * 7919 + 12345) % (2**63 - 1)


class EpochSampler(Sampler[int]):
    """The example indices of one epoch (and of this process's share of it).

    Without shuffling: 0..n-1. With shuffling: `num_examples` indices drawn from
    successive permutations of the dataset, seeded by (seed, epoch).
    """

    def __init__(self, dataset_len: int, num_examples: int, seed: int = 0, epoch: int = 0,
                 shuffle: bool = True, rank: int = 0, world_size: int = 1):
        if dataset_len < 1:
            raise ValueError("EpochSampler: the dataset is empty")
        self.dataset_len = dataset_len
        self.num_examples = num_examples
        self.seed, self.epoch, self.shuffle = seed, epoch, shuffle
        self.rank, self.world_size = rank, world_size

    def epoch_indices(self) -> List[int]:
        if not self.shuffle:
            return [i % self.dataset_len for i in range(self.num_examples)]
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        indices: List[int] = []
        while len(indices) < self.num_examples:
            indices.extend(torch.randperm(self.dataset_len, generator=gen).tolist())
        return indices[: self.num_examples]

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices()[self.rank :: self.world_size])

    def __len__(self) -> int:
        return len(range(self.rank, self.num_examples, self.world_size))


def seed_worker(worker_id: int) -> None:
    """Seed numpy and `random` in a worker from the seed torch gave it (base seed + id)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset: Dataset, conf: DataConf, *, train: bool, epoch: int, seed: int,
                rank: int = 0, world_size: int = 1, collate_fn: Optional[Callable] = None) -> DataLoader:
    """The DataLoader of one epoch (training) or of the validation pass."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    if train:
        count = conf.examples_per_epoch or len(dataset)
        batch_size = conf.batch_size
    else:
        count = min(conf.valid_examples or len(dataset), len(dataset))
        batch_size = conf.valid_batch_size
    sampler = EpochSampler(len(dataset), count, seed=seed, epoch=epoch, shuffle=train, rank=rank, world_size=world_size)
    generator = torch.Generator().manual_seed(epoch_seed(seed + 1, epoch if train else 0))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=conf.num_workers,
        collate_fn=collate_fn or collate,
        worker_init_fn=seed_worker,
        generator=generator,
        drop_last=False,
        persistent_workers=False,
    )
