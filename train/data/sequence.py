"""The one source abstraction of the datasets: an ordered, indexable run of RGB frames.

Every source (a folder of images, a KITTI drive, a decoded video, a Vimeo-90K
sequence) is a :class:`FrameSequence`; the sample datasets only ever call
``len``, ``size`` and ``frame``/``frames`` on it. Implementations must be
picklable, so a dataset holding them can be sent to DataLoader workers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from corrwise.errors import InputError


class FrameSequence(ABC):
    """An ordered sequence of equally sized RGB frames.

    Attributes:
        name: a human-readable identifier used in error messages (a folder, file or Vimeo id).
    """

    name: str

    @abstractmethod
    def __len__(self) -> int:
        """Number of frames."""

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """Frame size (H, W) in pixels; every frame of the sequence has it."""

    @abstractmethod
    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as uint8 (H, W, 3) RGB; IndexError when out of range.

        Negative indices count from the end. Treat the array as read-only: a decoded video
        returns a view of its frame store (copy it before writing).
        """

    def frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` stacked as uint8 (N, H, W, 3) RGB."""
        out = np.empty((len(indices), *self.size, 3), dtype=np.uint8)
        for k, index in enumerate(indices):
            out[k] = self.frame(index)
        return out

    def _check_index(self, index: int) -> int:
        """``index`` as an int in [0, len); negative indices count from the end like a list."""
        count = len(self)
        index = int(index)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"frame {index} out of range for sequence {self.name!r} of {count} frames")
        return index

    def __repr__(self) -> str:
        height, width = self.size
        return f"{type(self).__name__}({self.name!r}, {len(self)} frames, {width}x{height})"


def check_frame(frame: np.ndarray, size: tuple[int, int], where: str) -> np.ndarray:
    """Validate a decoded frame: uint8 (H, W, 3) with (H, W) == ``size``; ``where`` names its origin."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"{where}: expected uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
    if frame.shape[:2] != tuple(size):
        raise InputError(
            f"{where} is {frame.shape[1]}x{frame.shape[0]}, but the other frames of its sequence are "
            f"{size[1]}x{size[0]}; every frame of one sequence must have the same size"
        )
    return frame
