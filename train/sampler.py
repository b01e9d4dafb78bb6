"""Which samples each process trains on at each step: deterministic, resumable, disjoint across ranks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from corrwise.errors import ConfigError
from corrwise.train.data import set_epoch
from torch.utils.data import Dataset

EPOCH_SEED_STRIDE = 7919  # a prime, so (seed, epoch) pairs do not collide for small seeds


class StepBatches:
    """Batches of dataset indices for steps ``start_step`` .. ``steps - 1`` of one process.

    The data is visited epoch by epoch, each epoch in a fresh permutation drawn
    from ``(seed, epoch)``. Step ``s`` takes positions ``[s * G, (s + 1) * G)`` of
    that endless sequence, G = batch_size x world_size, and rank ``r`` keeps
    positions ``r, r + world_size, ...`` of them. So the ranks of one step see
    different samples, and the batches of step ``s`` are the same whether the
    run got there in one go or was resumed. Usable as a DataLoader ``batch_sampler``.
    """

    def __init__(
        self,
        length: int,
        batch_size: int,
        steps: int,
        start_step: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        with_epoch: bool = False,
    ) -> None:
        if length < 1:
            raise ConfigError("the training data is empty: no samples to draw batches from")
        if not 0 <= rank < world_size or batch_size < 1 or not 0 <= start_step <= steps:
            raise ConfigError(
                f"invalid batch plan: rank {rank} of {world_size}, batch {batch_size}, "
                f"steps {start_step}..{steps}"
            )
        self.length, self.batch_size, self.steps = length, batch_size, steps
        self.start_step, self.seed, self.rank, self.world_size = start_step, seed, rank, world_size
        self.with_epoch = with_epoch
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return self.steps - self.start_step

    def __iter__(self) -> Iterator[list[Any]]:
        for step in range(self.start_step, self.steps):
            yield self.batch(step)

    def batch(self, step: int) -> list[Any]:
        """Dataset indices of this rank's part of step ``step`` ((epoch, index) pairs with ``with_epoch``)."""
        size = self.batch_size * self.world_size
        positions = range(step * size + self.rank, (step + 1) * size, self.world_size)
        return [self._index(p) for p in positions]

    def _index(self, position: int) -> Any:
        epoch, offset = divmod(position, self.length)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * EPOCH_SEED_STRIDE + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.length, generator=generator)
        index = int(self._order[offset])
        return (epoch, index) if self.with_epoch else index


class EpochView(Dataset):
    """Items ``(epoch, index)`` of ``dataset``: switches its augmentation epoch as the data order does.

    With :class:`StepBatches` ``(with_epoch=True)`` as the batch sampler, every
    sample gets the crop and flip of the epoch it is drawn in, in any worker
    process, and a resumed run draws exactly the same ones.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._epoch = -1

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if epoch != self._epoch:
            set_epoch(self.dataset, epoch)
            self._epoch = epoch
        return self.dataset[index]
