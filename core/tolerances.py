"""The one tolerance table for numeric parity, shared by the tests and by export checks.

An artifact is compared with the PyTorch original on outputs in [-1, 1]. Full
precision must match element by element; reduced precisions are judged by the
PSNR of the artifact's output against the original's (peak-to-peak range 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from corrwise.errors import ConfigError


@dataclass(frozen=True)
class Tolerance:
    """Pass criteria for one backend and precision.

    Attributes:
        max_abs: largest allowed absolute difference (output units, range [-1, 1]),
            or None when not judged element-wise.
        min_psnr_db: smallest allowed PSNR against the original (dB, peak-to-peak 2),
            or None when not judged by PSNR.
    """

    max_abs: float | None = None
    min_psnr_db: float | None = None


@dataclass(frozen=True)
class ParityResult:
    """The comparison of one output with its reference."""

    backend: str
    precision: str
    max_abs: float
    psnr_db: float
    tolerance: Tolerance
    passed: bool


# One grey level of a uint8 frame, in output units (range [-1, 1] spans 255 levels).
GREY_LEVEL = 2.0 / 255.0

# (backend, precision) -> criteria. fp32 graphs differ from eager PyTorch only
# by operator ordering (~1e-6); 1e-4 leaves room for other kernels and threads.
# "uint8" is an fp32 graph with fused uint8 I/O: its output is compared with
# the original's output rounded the same way, and may differ by one grey level
# where the two land on opposite sides of a rounding boundary.
TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("onnxruntime", "fp32"): Tolerance(max_abs=1e-4),
    ("onnxruntime", "uint8"): Tolerance(max_abs=GREY_LEVEL + 1e-6),
    ("onnxruntime", "fp16"): Tolerance(min_psnr_db=45.0),
    ("onnxruntime", "int8"): Tolerance(min_psnr_db=35.0),
    ("tensorrt", "fp32"): Tolerance(max_abs=1e-4),
    ("tensorrt", "uint8"): Tolerance(max_abs=GREY_LEVEL + 1e-6),
    ("tensorrt", "fp16"): Tolerance(min_psnr_db=45.0),
    ("tensorrt", "int8"): Tolerance(min_psnr_db=35.0),
    ("torch", "fp32"): Tolerance(max_abs=1e-5),
}

# Video codecs are lossy: how far decoded frames may be from what was encoded, in
# uint8 grey levels. x264 at crf 18 (corr-run's default) on smooth content, as a
# mean absolute difference over the frame:
CODEC_CRF18_MEAN_LEVELS = 3
# A flat colour through one RGB -> YUV -> RGB round trip (rounding in each conversion):
YUV_ROUND_TRIP_LEVELS = 3


def precision_label(precision: str, fused_io: bool) -> str:
    """The tolerance-table precision of an artifact: ``"uint8"`` for fp32 graphs with fused uint8 I/O."""
    return "uint8" if fused_io and precision == "fp32" else precision


def tolerance_for(backend: str, precision: str) -> Tolerance:
    """Look up the criteria for a backend and precision, or raise ConfigError."""
    try:
        return TOLERANCES[(backend, precision)]
    except KeyError:
        known = ", ".join(f"{b}/{p}" for b, p in TOLERANCES)
        raise ConfigError(
            f"no parity tolerance for backend {backend!r} at precision {precision!r}; known: {known}"
        ) from None


def psnr_db(reference: np.ndarray, output: np.ndarray, peak_to_peak: float = 2.0) -> float:
    """PSNR (dB) of ``output`` against ``reference``; ``inf`` when identical."""
    mse = float(np.mean((reference.astype(np.float64) - output.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak_to_peak**2 / mse)


def compare(reference: np.ndarray, output: np.ndarray, backend: str, precision: str) -> ParityResult:
    """Judge ``output`` against ``reference`` (same shape, values in [-1, 1])."""
    if reference.shape != output.shape:
        raise ConfigError(
            f"cannot compare outputs of different shapes: reference {reference.shape}, "
            f"artifact {output.shape}"
        )
    tol = tolerance_for(backend, precision)
    max_abs = float(np.max(np.abs(reference.astype(np.float64) - output.astype(np.float64))))
    psnr = psnr_db(reference, output)
    passed = (tol.max_abs is None or max_abs <= tol.max_abs) and (
        tol.min_psnr_db is None or psnr >= tol.min_psnr_db
    )
    return ParityResult(backend, precision, max_abs, psnr, tol, passed)
