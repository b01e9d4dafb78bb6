"""Raise a video's frame rate by a power of two with an Interpolator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from corrwise.errors import InputError
from corrwise.runtime.interpolator import Interpolator
from corrwise.runtime.video import VideoWriter, probe, read_frames
from tqdm import tqdm


@dataclass(frozen=True)
class UpsampleReport:
    """What :func:`upsample_video` did: frame counts, output rate (frames/s), wall time (s)."""

    output: Path
    frames_in: int
    frames_out: int
    fps_in: float
    fps_out: float
    seconds: float


def midpoints(interp: Interpolator, frame0: np.ndarray, frame1: np.ndarray, factor: int) -> list[np.ndarray]:
    """The ``factor - 1`` frames evenly spaced between two frames, by recursive halving.

    ``factor`` must be a power of two (the model synthesises t = 0.5 only).
    """
    if factor == 1:
        return []
    middle = interp.interpolate(frame0, frame1)
    half = factor // 2
    return [*midpoints(interp, frame0, middle, half), middle, *midpoints(interp, middle, frame1, half)]


def upsample_frames(interp: Interpolator, frames: Iterator[np.ndarray], factor: int) -> Iterator[np.ndarray]:
    """Yield every input frame followed by the ``factor - 1`` frames up to the next one."""
    previous = None
    for frame in frames:
        if previous is not None:
            yield from midpoints(interp, previous, frame, factor)
        yield frame
        previous = frame


def upsample_video(
    src: str | Path,
    dst: str | Path,
    interp: Interpolator,
    factor: int = 2,
    max_frames: int | None = None,
    progress: bool = True,
) -> UpsampleReport:
    """Write ``src`` at ``factor`` times its frame rate to ``dst`` (H.264).

    The output appears under ``dst`` only when complete. ``max_frames`` limits
    how many input frames are read (None: all).
    """
    if factor < 2 or factor & (factor - 1):
        raise InputError(f"factor must be a power of two >= 2 (2, 4, 8, ...), got {factor}")
    info = probe(src)
    total = min(info.frames, max_frames) if info.frames and max_frames else (info.frames or max_frames)
    start = time.monotonic()
    frames = tqdm(
        read_frames(src, max_frames),
        total=total,
        desc="interpolate",
        unit="frame",
        disable=not progress,
        mininterval=1.0,
    )
    with VideoWriter(dst, info.fps * factor) as writer:
        for frame in upsample_frames(interp, frames, factor):
            writer.write(frame)
    if writer.frames_written == 0:
        raise InputError(f"{src} has no decodable frames")
    frames_in = (writer.frames_written + factor - 1) // factor  # n inputs -> n + (n - 1)(factor - 1)
    return UpsampleReport(
        Path(dst),
        frames_in,
        writer.frames_written,
        float(info.fps),
        float(info.fps * factor),
        time.monotonic() - start,
    )
