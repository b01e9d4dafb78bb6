"""The common base of the frame-sequence datasets: every window position of every sequence is a sample."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from corrwise.errors import ConfigError, InputError
from corrwise.train.data.augment import Augment, check_seed, sample_rng, to_tensor
from corrwise.train.data.sequence import FrameSequence
from torch.utils.data import Dataset


class WindowSamples(Dataset):
    """Samples that each read ``window`` consecutive frames of one sequence, at every valid start.

    Sample indices run through the sequences in order: sequence 0's starts
    0 .. len - window, then sequence 1's, and so on. Augmentation draws come
    from (seed, epoch, index) only; call :meth:`set_epoch` to get new crops and
    flips each epoch (before creating the DataLoader iterator, so workers see it).

    Args:
        sequences: one or more frame sequences.
        window: frames one sample spans (first to last, inclusive).
        crop, flip: see :class:`~corrwise.train.data.augment.Augment`.
        seed: non-negative base seed of the augmentation.
        describe: the options that set ``window``, quoted when a sequence is too short.
    """

    def __init__(
        self,
        sequences: FrameSequence | Iterable[FrameSequence],
        window: int,
        crop: tuple[int, int] | None,
        flip: bool,
        seed: int,
        describe: str,
    ) -> None:
        check_seed(seed)
        self.sequences = _as_list(sequences)
        self.augment = Augment(crop, flip)
        self.window = window
        self.seed = int(seed)
        self.epoch = 0
        for sequence in self.sequences:
            if len(sequence) < window:
                raise InputError(
                    f"sequence {sequence.name!r} has {len(sequence)} frames, but one sample ({describe}) "
                    f"needs {window}; drop the sequence or shorten the window"
                )
            self.augment.check(sequence.size, sequence.name)
        if crop is None:
            _check_equal_sizes(self.sequences)
        self._ends = np.cumsum([len(s) - window + 1 for s in self.sequences])  # (S,) samples so far

    def __len__(self) -> int:
        return int(self._ends[-1])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames in every sample."""
        return self.augment.output_size(self.sequences[0].size)

    def set_epoch(self, epoch: int) -> None:
        """Use the augmentation draws of ``epoch`` (>= 0) from now on."""
        check_seed(self.seed, epoch)
        self.epoch = int(epoch)

    def locate(self, index: int) -> tuple[FrameSequence, int]:
        """The sequence of sample ``index`` and the frame its window starts at."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        k = int(np.searchsorted(self._ends, index, side="right"))
        return self.sequences[k], int(index - (self._ends[k - 1] if k else 0))

    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index`` in the current epoch."""
        return sample_rng(self.seed, self.epoch, int(index))

    def load(self, sequence: FrameSequence, indices: Sequence[int], rng: np.random.Generator) -> torch.Tensor:
        """Frames ``indices`` of ``sequence``, augmented alike: float32 (N, 3, H, W) in [-1, 1]."""
        window = self.augment.draw(sequence.size, rng, sequence.name)
        return to_tensor(window.frames(sequence.frames(indices)))


def _as_list(sequences: FrameSequence | Iterable[FrameSequence]) -> list[FrameSequence]:
    items = [sequences] if isinstance(sequences, FrameSequence) else list(sequences)
    if not items:
        raise InputError("no frame sequences given: a dataset needs at least one")
    for item in items:
        if not isinstance(item, FrameSequence):
            raise ConfigError(f"expected FrameSequence objects, got {type(item).__name__}")
    return items


def _check_equal_sizes(sequences: list[FrameSequence]) -> None:
    """Without a crop every sample has its sequence's size, and a batch needs equal sizes."""
    first: dict[tuple[int, int], str] = {}
    for sequence in sequences:
        first.setdefault(sequence.size, sequence.name)
    if len(first) > 1:
        listed = ", ".join(f"{name!r} is {w}x{h}" for (h, w), name in first.items())
        smallest = (min(h for h, _ in first), min(w for _, w in first))
        raise InputError(
            f"the sequences have different frame sizes ({listed}); batching needs equal sizes or a "
            f"crop, e.g. crop=({smallest[0]}, {smallest[1]}) (height, width)"
        )
