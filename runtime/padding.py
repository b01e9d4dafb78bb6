"""Centred edge padding to the model's alignment (or its static size), and the crop that undoes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import InputError

Axes = tuple[int, int]
LAST_TWO: Axes = (-2, -1)


@dataclass(frozen=True)
class CropBox:
    """Where the original frame sits inside the padded one (pixels)."""

    top: int
    left: int
    height: int
    width: int


def pad_to_size(x: np.ndarray, size: tuple[int, int], axes: Axes = LAST_TWO) -> tuple[np.ndarray, CropBox]:
    """Pad the height and width axes of ``x`` up to ``size`` = (H, W) pixels.

    The padding is split evenly between both sides (the extra pixel, if any,
    goes bottom/right) and repeats the edge pixels, which disturbs
    convolutions near the border less than zeros. ``axes`` names the height
    and width axes: (-2, -1) for (…, H, W) arrays, (1, 2) for NHWC batches.
    Returns the padded array and the box that :func:`crop` uses to get the
    original extent back. InputError when ``x`` is larger than ``size``.
    """
    h, w = x.shape[axes[0]], x.shape[axes[1]]
    ph, pw = size[0] - h, size[1] - w
    if ph < 0 or pw < 0:
        raise InputError(
            f"frames of {h}x{w} (HxW) are larger than the model's fixed size {size[0]}x{size[1]}"
        )
    box = CropBox(ph // 2, pw // 2, h, w)
    if ph == 0 and pw == 0:
        return x, box
    widths = [(0, 0)] * x.ndim
    widths[axes[0]] = (box.top, ph - box.top)
    widths[axes[1]] = (box.left, pw - box.left)
    return np.pad(x, widths, mode="edge"), box


def pad_to_multiple(x: np.ndarray, align: int, axes: Axes = LAST_TWO) -> tuple[np.ndarray, CropBox]:
    """Pad the height and width axes of ``x`` up to multiples of ``align`` (see :func:`pad_to_size`)."""
    h, w = x.shape[axes[0]], x.shape[axes[1]]
    return pad_to_size(x, (h + -h % align, w + -w % align), axes)


def smallest_side(align: int, min_size: int) -> int:
    """The smallest height or width (pixels) a graph with this alignment and minimum size takes."""
    return max(align, min_size + -min_size % align)


def aligned_hw(hw: tuple[int, int], align: int, min_size: int = 1) -> tuple[int, int]:
    """``hw`` rounded up to multiples of ``align``, and to at least :func:`smallest_side` each."""
    low = smallest_side(align, min_size)
    return max(hw[0] + -hw[0] % align, low), max(hw[1] + -hw[1] % align, low)


def padded_hw(hw: tuple[int, int], contract: IOContract) -> tuple[int, int]:
    """The (H, W) pixels a graph runs frames of ``hw`` at: its static size, or the next multiple
    of its alignment that is at least its minimum size in each dimension."""
    if contract.static_hw is not None:
        return contract.static_hw
    return aligned_hw(hw, contract.align, contract.min_size)


def pad_for(x: np.ndarray, contract: IOContract) -> tuple[np.ndarray, CropBox]:
    """Pad a batch in the contract's layout to what its graph accepts (see :func:`padded_hw`)."""
    axes = contract.hw_axes
    return pad_to_size(x, padded_hw((x.shape[axes[0]], x.shape[axes[1]]), contract), axes)


def crop(x: np.ndarray, box: CropBox, axes: Axes = LAST_TWO) -> np.ndarray:
    """Cut the original extent out of a padded array (height and width on ``axes``)."""
    index = [slice(None)] * x.ndim
    index[axes[0]] = slice(box.top, box.top + box.height)
    index[axes[1]] = slice(box.left, box.left + box.width)
    return x[tuple(index)]
