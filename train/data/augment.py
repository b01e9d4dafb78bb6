"""Sample augmentation: one random crop window and one flip decision shared by all frames of a sample.

Randomness comes from :func:`sample_rng`, a pure function of (seed, epoch,
index), so a sample is the same in any worker process and in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from corrwise.errors import ConfigError, InputError


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` in ``epoch``; independent streams for different triples."""
    return np.random.default_rng([seed, epoch, index])


def check_seed(seed: int, epoch: int = 0) -> None:
    """Seeds and epochs feed :func:`sample_rng`, which needs non-negative integers."""
    if int(seed) != seed or seed < 0 or int(epoch) != epoch or epoch < 0:
        raise ConfigError(f"seed and epoch must be integers >= 0, got seed={seed!r}, epoch={epoch!r}")


@dataclass(frozen=True)
class Window:
    """Where one sample is cut from its frames: a crop box (pixels) and whether to mirror it."""

    top: int
    left: int
    height: int
    width: int
    flip: bool

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """Channel-last (N, H, W, C) -> (N, height, width, C), mirrored when ``flip``."""
        out = frames[:, self.top : self.top + self.height, self.left : self.left + self.width]
        return out[:, :, ::-1] if self.flip else out

    def planes(self, planes: torch.Tensor) -> torch.Tensor:
        """Channel-first (..., H, W) -> (..., height, width), mirrored when ``flip``."""
        out = planes[..., self.top : self.top + self.height, self.left : self.left + self.width]
        return out.flip(-1) if self.flip else out

    def flow(self, flow: torch.Tensor) -> torch.Tensor:
        """Flow (2, H, W) in pixels (x, y) -> (2, height, width); mirroring also negates x."""
        out = self.planes(flow)
        return out * torch.tensor([-1.0, 1.0], dtype=out.dtype).view(2, 1, 1) if self.flip else out


@dataclass(frozen=True)
class Augment:
    """Random crop and horizontal flip, applied identically to every frame of one sample.

    Attributes:
        crop: (height, width) of the crop in pixels, or None to keep the full frame.
        flip: mirror left-right with probability 0.5.
    """

    crop: tuple[int, int] | None = None
    flip: bool = False

    def __post_init__(self) -> None:
        if self.crop is not None:
            if len(self.crop) != 2 or min(self.crop) < 1:
                raise ConfigError(f"crop must be (height, width) with both >= 1, got {self.crop}")
            object.__setattr__(self, "crop", (int(self.crop[0]), int(self.crop[1])))

    @property
    def random(self) -> bool:
        """Whether samples depend on a random draw at all."""
        return self.crop is not None or self.flip

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(H, W) of the augmented frames for input frames of ``size``."""
        return self.crop if self.crop is not None else (int(size[0]), int(size[1]))

    def check(self, size: tuple[int, int], name: str) -> None:
        """Raise InputError when frames of ``size`` (H, W) from sequence ``name`` cannot be cropped."""
        if self.crop is not None and (size[0] < self.crop[0] or size[1] < self.crop[1]):
            raise InputError(
                f"sequence {name!r} has {size[1]}x{size[0]} frames (WxH), smaller than the crop "
                f"{self.crop[1]}x{self.crop[0]}; lower the crop or drop the sequence"
            )

    def draw(self, size: tuple[int, int], rng: np.random.Generator | None, name: str) -> Window:
        """The window of one sample with frames of ``size`` (H, W); ``rng`` may be None when not random."""
        self.check(size, name)
        height, width = self.output_size(size)
        if not self.random:
            return Window(0, 0, height, width, False)
        assert rng is not None, "a random augmentation needs a generator"
        top = int(rng.integers(0, size[0] - height + 1))
        left = int(rng.integers(0, size[1] - width + 1))
        return Window(top, left, height, width, bool(self.flip and rng.random() < 0.5))


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB -> float32 (N, 3, H, W) in [-1, 1] (0 -> -1, 255 -> 1)."""
    array = np.require(frames, requirements=["C", "W"])  # copies views, flips and read-only frames
    return torch.from_numpy(array).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous()
