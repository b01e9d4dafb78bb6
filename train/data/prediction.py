"""Video prediction samples: K context frames and the frames that follow them."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from corrwise.errors import ConfigError
from corrwise.train.data.sequence import FrameSequence
from corrwise.train.data.windows import WindowSamples


class PredictionClips(WindowSamples):
    """Every run of ``context + horizon`` frames, ``skip`` apart, of every sequence.

    Sample = frames i, i + skip, ..., i + (context + horizon - 1) * skip of one sequence, for
    every start i where they all exist. Item ``n`` is a dict of float32 tensors in [-1, 1]:
        ``context``: (context, 3, H, W), oldest first.
        ``future``: (horizon, 3, H, W), the frames to predict, nearest first.

    Args:
        sequences: frame sequences (equal sizes unless ``crop`` is set).
        context: number of input frames K (>= 1).
        horizon: number of future frames (>= 1).
        skip: frame step (>= 1); 2 turns 30 fps footage into 15 fps samples.
        crop: (height, width) random crop shared by the frames of a sample, or None.
        flip: mirror a sample's frames left-right with probability 0.5.
        seed: base seed of the crop and flip draws (>= 0).
    """

    def __init__(
        self,
        sequences: FrameSequence | Iterable[FrameSequence],
        context: int = 3,
        horizon: int = 1,
        skip: int = 1,
        crop: tuple[int, int] | None = None,
        flip: bool = False,
        seed: int = 0,
    ) -> None:
        if context < 1 or horizon < 1 or skip < 1:
            raise ConfigError(f"context, horizon and skip must be >= 1, got {context}, {horizon}, {skip}")
        self.context, self.horizon, self.skip = int(context), int(horizon), int(skip)
        window = (context + horizon - 1) * skip + 1
        describe = f"context={context}, horizon={horizon}, skip={skip}"
        super().__init__(sequences, window, crop, flip, seed, describe)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sequence, start = self.locate(index)
        indices = [start + k * self.skip for k in range(self.context + self.horizon)]
        frames = self.load(sequence, indices, self.rng(index))  # (K + horizon, 3, H, W)
        return {"context": frames[: self.context], "future": frames[self.context :]}
