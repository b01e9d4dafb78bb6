"""A video file as a frame sequence: decoded once with PyAV into uint8 memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from corrwise.errors import ConfigError, InputError
from corrwise.extras import import_for
from corrwise.train.data.sequence import FrameSequence


def resized_size(size: tuple[int, int], max_side: int | None, scale: float | None) -> tuple[int, int]:
    """(H, W) after the optional resize: longest side at most ``max_side`` (never enlarged), or ``scale``."""
    if max_side is not None and scale is not None:
        raise ConfigError("give max_side or scale, not both")
    height, width = size
    if max_side is not None:
        if max_side < 1:
            raise ConfigError(f"max_side must be >= 1, got {max_side}")
        factor = min(1.0, max_side / max(height, width))
    elif scale is not None:
        if not scale > 0:
            raise ConfigError(f"scale must be > 0, got {scale}")
        factor = scale
    else:
        return height, width
    return max(1, round(height * factor)), max(1, round(width * factor))


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (h, w, 3) -> uint8 (H, W, 3) with Pillow's antialiased bilinear filter."""
    if frame.shape[:2] == size:
        return frame
    image_module = import_for("PIL.Image", "train", "resizing video frames")
    image = image_module.fromarray(frame).resize((size[1], size[0]), image_module.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


class VideoSequence(FrameSequence):
    """All frames of a video's first stream, decoded on construction and held as uint8 (N, H, W, 3).

    A 720p clip takes 2.7 MB per frame; ``max_side=360`` (or ``scale=0.5``)
    cuts that by four. The frames pickle with the object, so each spawned
    DataLoader worker receives its own copy (forked workers share it).
    :meth:`frame` returns a read-only view into that array.

    Args:
        path: any file PyAV (FFmpeg) decodes.
        max_side: resize so the longest side is at most this many pixels (never enlarges).
        scale: resize by this factor instead (e.g. 0.5).
        max_frames: decode only the first ``max_frames`` frames.
        name: identifier for messages; defaults to the file path.
    """

    def __init__(
        self,
        path: str | Path,
        max_side: int | None = None,
        scale: float | None = None,
        max_frames: int | None = None,
        name: str | None = None,
    ) -> None:
        video = import_for("corrwise.runtime.video", None, "reading video frames")
        self.path = Path(path)
        self.name = name if name is not None else str(self.path)
        if max_frames is not None and max_frames < 1:
            raise ConfigError(f"max_frames must be >= 1, got {max_frames}")
        resized_size((1, 1), max_side, scale)  # validate the options before decoding
        expected = video.probe(self.path).frames or 0  # container's count; may be 0 or off by a few
        if max_frames is not None:
            expected = min(expected, max_frames)
        decoded = video.read_frames(self.path, max_frames=max_frames)
        self.array = self._decode(decoded, expected, max_side, scale)
        self.array.flags.writeable = False

    def _decode(
        self, frames: Iterator[np.ndarray], expected: int, max_side: int | None, scale: float | None
    ) -> np.ndarray:
        """Resize and store decoded frames in one preallocated (N, H, W, 3) array (no 2x peak)."""
        array, extra, source, count = None, [], None, 0
        for frame in frames:
            if source is None:
                source = frame.shape[:2]
                array = np.empty((max(expected, 1), *resized_size(source, max_side, scale), 3), np.uint8)
            elif frame.shape[:2] != source:
                raise InputError(
                    f"{self.path}: frame {count} is {frame.shape[1]}x{frame.shape[0]} but the first "
                    f"is {source[1]}x{source[0]}; videos that change size mid-stream are not supported"
                )
            small = resize_frame(frame, array.shape[1:3])
            if count < len(array):
                array[count] = small
            else:
                extra.append(small)
            count += 1
        if array is None:
            raise InputError(f"{self.path} has a video stream but no frame could be decoded")
        if extra:
            return np.concatenate([array, np.stack(extra)])
        return array[:count]

    def __len__(self) -> int:
        return len(self.array)

    @property
    def size(self) -> tuple[int, int]:
        return self.array.shape[1], self.array.shape[2]

    def frame(self, index: int) -> np.ndarray:
        return self.array[self._check_index(index)]
