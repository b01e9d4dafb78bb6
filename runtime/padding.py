"""Centred edge padding to the model's alignment, and the crop that undoes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CropBox:
    """Where the original frame sits inside the padded one (pixels)."""

    top: int
    left: int
    height: int
    width: int


def pad_to_multiple(x: np.ndarray, align: int) -> tuple[np.ndarray, CropBox]:
    """Pad the last two axes of ``x`` (…, H, W) up to multiples of ``align``.

    The padding is split evenly between both sides (the extra pixel, if any,
    goes bottom/right) and repeats the edge pixels, which disturbs
    convolutions near the border less than zeros. Returns the padded array and
    the box that :func:`crop` uses to get the original extent back.
    """
    h, w = x.shape[-2:]
    ph, pw = -h % align, -w % align
    box = CropBox(ph // 2, pw // 2, h, w)
    if ph == 0 and pw == 0:
        return x, box
    widths = [(0, 0)] * (x.ndim - 2) + [(box.top, ph - box.top), (box.left, pw - box.left)]
    return np.pad(x, widths, mode="edge"), box


def crop(x: np.ndarray, box: CropBox) -> np.ndarray:
    """Cut the original (…, H, W) extent out of a padded array."""
    return x[..., box.top : box.top + box.height, box.left : box.left + box.width]
