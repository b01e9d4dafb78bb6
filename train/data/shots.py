"""Scene cuts: split a video into shots so no training sample spans a cut.

A sample whose frames straddle a cut asks the network to morph one scene into
another, which teaches it nothing and hurts interpolation and prediction
alike. A cut is detected between frames i - 1 and i when the structural
similarity (SSIM) of their 32x32 grey thumbnails falls below 0.2 — the rule
RIFE uses to avoid morphing across cuts — which camera motion and moving
objects stay well above.
"""

from __future__ import annotations

import itertools

import numpy as np
from corrwise.errors import InputError
from corrwise.extras import import_for
from corrwise.train.data.sequence import FrameSequence

SCENE_CUT_SSIM = 0.2  # thumbnail SSIM below this between two frames = a cut
THUMBNAIL = 32  # thumbnail side (pixels)


class Shot(FrameSequence):
    """Frames ``start`` .. ``stop - 1`` of another sequence, as a sequence of its own (no copy)."""

    def __init__(self, sequence: FrameSequence, start: int, stop: int) -> None:
        if not 0 <= start < stop <= len(sequence):
            raise InputError(f"shot {start}..{stop} lies outside {sequence.name!r} ({len(sequence)} frames)")
        self.sequence, self.start, self.stop = sequence, start, stop
        self.name = f"{sequence.name} frames {start}-{stop - 1}"

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def size(self) -> tuple[int, int]:
        return self.sequence.size

    def frame(self, index: int) -> np.ndarray:
        return self.sequence.frame(self.start + self._check_index(index))


def thumbnails(sequence: FrameSequence) -> np.ndarray:
    """float32 (N, 32, 32) grey thumbnails in [0, 1] of every frame (area-averaged)."""
    image = import_for("PIL.Image", "train", "detecting scene cuts")
    out = np.empty((len(sequence), THUMBNAIL, THUMBNAIL), np.float32)
    for index in range(len(sequence)):
        grey = image.fromarray(sequence.frame(index)).convert("L")
        out[index] = np.asarray(grey.resize((THUMBNAIL, THUMBNAIL), image.Resampling.BOX), np.float32) / 255
    return out


def scene_cuts(sequence: FrameSequence, threshold: float = SCENE_CUT_SSIM) -> list[int]:
    """Indices i >= 1 of the frames that start a new shot (a cut lies between i - 1 and i)."""
    metrics = import_for("skimage.metrics", "train", "detecting scene cuts")
    thumbs = thumbnails(sequence)
    return [
        i
        for i in range(1, len(thumbs))
        if metrics.structural_similarity(thumbs[i - 1], thumbs[i], data_range=1.0) < threshold
    ]


def split_into_shots(
    sequence: FrameSequence, min_length: int, threshold: float = SCENE_CUT_SSIM
) -> list[FrameSequence]:
    """The shots of ``sequence`` with at least ``min_length`` frames (the sequence itself without cuts).

    Raises:
        InputError: no shot is long enough; the message gives the cut positions.
    """
    cuts = scene_cuts(sequence, threshold)
    if not cuts:
        return [sequence]
    bounds = [0, *cuts, len(sequence)]
    shots = [Shot(sequence, a, b) for a, b in itertools.pairwise(bounds) if b - a >= min_length]
    if not shots:
        raise InputError(
            f"{sequence.name!r} has scene cuts before frames {cuts} and no shot of {min_length} frames, "
            "which one sample needs; use a longer clip, a shorter window, or scene_cuts: false"
        )
    return shots
