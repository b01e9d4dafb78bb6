"""Frame interpolation samples: two end frames and a real frame between them, with its time."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from corrwise.errors import ConfigError
from corrwise.train.data.sequence import FrameSequence
from corrwise.train.data.windows import WindowSamples


class InterpolationSamples(WindowSamples):
    """End frames i and i + span * skip of a sequence, and a frame j strictly between them.

    ``random_t`` draws j uniformly from the frames between the ends (i + 1 .. i + span * skip - 1,
    every source frame, not only multiples of ``skip``); otherwise j is the middle, which needs
    ``span * skip`` even. Item ``n`` is a dict of float32 tensors:
        ``frame0``, ``frame1``: (3, H, W) in [-1, 1], the end frames (t = 0 and t = 1).
        ``target``: (3, H, W) in [-1, 1], frame j.
        ``timestep``: 0-d, (j - i) / (span * skip), in (0, 1).

    Vimeo-90K triplets are ``span=2``; septuplets with ``span=6`` give im1, im7 and one of im2..im6.

    Args:
        sequences: frame sequences (equal sizes unless ``crop`` is set).
        span: distance of the end frames in steps of ``skip`` (>= 1).
        skip: frame step (>= 1).
        random_t: random target frame, or always the middle.
        crop, flip, seed: as in :class:`~corrwise.train.data.prediction.PredictionClips`.
    """

    def __init__(
        self,
        sequences: FrameSequence | Iterable[FrameSequence],
        span: int = 2,
        skip: int = 1,
        random_t: bool = True,
        crop: tuple[int, int] | None = None,
        flip: bool = False,
        seed: int = 0,
    ) -> None:
        if span < 1 or skip < 1:
            raise ConfigError(f"span and skip must be >= 1, got span={span}, skip={skip}")
        gap = span * skip
        if gap < 2:
            raise ConfigError("span * skip must be >= 2, so that a frame lies between the end frames")
        if not random_t and gap % 2:
            raise ConfigError(
                f"random_t=False takes the middle frame, which needs span * skip even; got span={span}, "
                f"skip={skip}: use an even span or random_t=True"
            )
        self.span, self.skip, self.random_t, self.gap = int(span), int(skip), bool(random_t), gap
        super().__init__(sequences, gap + 1, crop, flip, seed, f"span={span}, skip={skip}")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sequence, start = self.locate(index)
        rng = self.rng(index)
        offset = int(rng.integers(1, self.gap)) if self.random_t else self.gap // 2
        frames = self.load(sequence, [start, start + self.gap, start + offset], rng)  # (3, 3, H, W)
        return {
            "frame0": frames[0],
            "frame1": frames[1],
            "target": frames[2],
            "timestep": torch.tensor(offset / self.gap, dtype=torch.float32),
        }
