"""Scene-cut detection: SSIM of small grayscale thumbnails, and what to put between two frames across a cut.

Interpolating across a cut smears two unrelated images into each other, and a
predictor whose context spans a cut predicts a mix of two scenes. The rule is
RIFE's: shrink both frames to tiny thumbnails, compute their SSIM, and call it
a cut when the SSIM is below a threshold (0.2). The thumbnails are built from
a fixed grid of samples, so the cost does not grow with the frame size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from corrwise.errors import ConfigError, InputError
from corrwise.runtime.frames import as_rgb8

# What the frames between two frames across a cut are: copies of the frame
# before the cut ("repeat": the cut stays at the second frame's own time) or
# the linear mix at each time ("blend": a short cross-fade).
CUT_POLICIES = ("repeat", "blend")

# Samples per thumbnail pixel and axis: 4 x 4 samples average each thumbnail
# pixel's area, enough to suppress noise without reading every pixel.
SAMPLES_PER_CELL = 4
# ITU-R BT.601 luma weights (R, G, B).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# SSIM: Gaussian window (pixels) and its standard deviation, as in the
# reference implementation; constants for data in [0, 1].
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


@dataclass(frozen=True)
class SceneCutDetector:
    """Decides whether two consecutive frames belong to different shots.

    Attributes:
        threshold: SSIM below which two frames are a cut, in [0, 1). 0.2 is
            RIFE's value: real motion rarely drops the SSIM of 32 x 32
            thumbnails that low, a change of shot almost always does.
            0 disables detection.
        size: thumbnail side (pixels); 32 keeps the test well under a
            millisecond and blind to motion of a few pixels.
    """

    threshold: float = 0.2
    size: int = 32

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)):
            raise ConfigError(f"cut threshold must be a number in [0, 1), got {self.threshold!r}")
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(
                f"cut threshold must be an SSIM in [0, 1) (0 disables scene-cut detection, 0.2 is "
                f"the usual value), got {self.threshold}"
            )
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 8 <= self.size <= 256:
            raise ConfigError(f"thumbnail size must be an integer in [8, 256] pixels, got {self.size!r}")

    @property
    def enabled(self) -> bool:
        """False when the threshold is 0: no pair of frames is a cut."""
        return self.threshold > 0.0

    def thumbnail(self, frame: np.ndarray) -> np.ndarray:
        """The grayscale thumbnail of a frame.

        Args:
            frame: uint8 (H, W, 3) RGB (grayscale and RGBA are converted).

        Returns:
            float32 (size, size) luma in [0, 1], each pixel the mean of a grid
            of samples over its area of the frame.
        """
        frame = as_rgb8(frame)
        k = [min(SAMPLES_PER_CELL, max(1, n // self.size)) for n in frame.shape[:2]]
        rows, cols = (_sample_positions(n, self.size * m) for n, m in zip(frame.shape[:2], k, strict=True))
        luma = frame[np.ix_(rows, cols)].astype(np.float32) @ (LUMA / np.float32(255.0))  # (S*k0, S*k1)
        return luma.reshape(self.size, k[0], self.size, k[1]).mean(axis=(1, 3), dtype=np.float32)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """SSIM of the thumbnails of two uint8 (H, W, 3) frames (any sizes), in [-1, 1]; 1 when identical."""
        return thumbnail_ssim(self.thumbnail(a), self.thumbnail(b))

    def is_cut(self, frame0: np.ndarray, frame1: np.ndarray) -> bool:
        """True when ``frame1`` starts a new shot after ``frame0`` (uint8 (H, W, 3) frames)."""
        return self.enabled and self.similarity(frame0, frame1) < self.threshold

    def is_cut_thumbnails(self, thumb0: np.ndarray, thumb1: np.ndarray) -> bool:
        """:meth:`is_cut` on thumbnails already made with :meth:`thumbnail` (for streams that cache them)."""
        return self.enabled and thumbnail_ssim(thumb0, thumb1) < self.threshold


def _sample_positions(n: int, count: int) -> np.ndarray:
    """``count`` pixel indices in [0, n), the centres of ``count`` equal parts of the axis."""
    return (np.arange(count) * 2 + 1) * n // (2 * count)


def _gaussian_rows(size: int) -> np.ndarray:
    """The matrix G with G @ x = valid 1-D Gaussian filtering of the rows of x: (size - w + 1, size)."""
    w = min(SSIM_WINDOW, size)
    x = np.arange(w) - (w - 1) / 2
    kernel = np.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    kernel /= kernel.sum()
    g = np.zeros((size - w + 1, size))
    for i in range(size - w + 1):
        g[i, i : i + w] = kernel
    return g


def thumbnail_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two (S, S) images in [0, 1] (Gaussian window 11, sigma 1.5), in [-1, 1]."""
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InputError(f"thumbnails must be two square arrays of one shape, got {a.shape} and {b.shape}")
    g = _gaussian_rows(a.shape[0])
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = g @ a @ g.T, g @ b @ g.T  # (S - 10, S - 10) local means
    var_a = g @ (a * a) @ g.T - mu_a**2
    var_b = g @ (b * b) @ g.T - mu_b**2
    cov = g @ (a * b) @ g.T - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)) / (
        (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    )
    return float(np.clip(ssim.mean(), -1.0, 1.0))


def cut_frame(policy: str, frame0: np.ndarray, frame1: np.ndarray, t: float) -> np.ndarray:
    """The frame at time ``t`` in (0, 1) between two frames across a scene cut, without a model.

    Args:
        policy: ``"repeat"`` (a copy of ``frame0``) or ``"blend"`` (the mix
            (1 - t) * frame0 + t * frame1, rounded).
        frame0, frame1: uint8 (H, W, 3), same size.

    Returns:
        uint8 (H, W, 3), a new array.
    """
    if policy == "repeat":
        return frame0.copy()
    if policy == "blend":
        mix = (1.0 - t) * frame0.astype(np.float64) + t * frame1.astype(np.float64)
        return np.clip(np.rint(mix), 0, 255).astype(np.uint8)
    raise ConfigError(f"scene-cut policy must be one of {CUT_POLICIES}, got {policy!r}")
