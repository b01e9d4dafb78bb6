"""The toy car: body, cabin, windows, wheels and lights, drawn anti-aliased by supersampling.

Shapes are laid out in units of the car's length L (the box is L x 0.45 L);
each is a mask on a grid ``SUPERSAMPLE`` times finer than the output, and the
layers are averaged down, so edges are anti-aliased and the sprite has real
horizontal structure (window pillars, wheel hubs, a door gap) whose sharpness
the experiment measures.
"""

from __future__ import annotations

import numpy as np

SUPERSAMPLE = 8
HEIGHT_RATIO = 0.45  # car height / car length
BODY = (0.86, 0.16, 0.14)  # RGB in [0, 1]
WINDOW = (0.68, 0.84, 0.94)
TYRE = (0.06, 0.06, 0.07)
HUB = (0.72, 0.72, 0.74)
HEADLIGHT = (1.0, 0.9, 0.45)
TAIL_LIGHT = (0.45, 0.02, 0.02)
TRIM = (0.3, 0.05, 0.05)


def _trapezoid(
    x: np.ndarray, y: np.ndarray, top: tuple[float, float], bottom: tuple[float, float], y0: float, y1: float
) -> np.ndarray:
    """Mask of a trapezoid between heights y0 < y1 whose edges run from ``top`` (x0, x1) to ``bottom``."""
    t = np.clip((y - y0) / (y1 - y0), 0, 1)
    left = top[0] + t * (bottom[0] - top[0])
    right = top[1] + t * (bottom[1] - top[1])
    return (y >= y0) & (y < y1) & (x >= left) & (x < right)


def _layers(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, tuple[float, float, float]]]:
    """(mask, colour) pairs, back to front, on coordinates in car lengths."""
    wheel_r, hub_r = 0.095, 0.045
    wheels = [(x - cx) ** 2 + (y - 0.355) ** 2 for cx in (0.2, 0.79)]
    body = (x >= 0.0) & (x < 1.0) & (y >= 0.17) & (y < 0.36) & ~((x < 0.03) & (y < 0.21))
    return [
        (_trapezoid(x, y, (0.3, 0.66), (0.17, 0.83), 0.02, 0.18), BODY),  # cabin
        (_trapezoid(x, y, (0.33, 0.47), (0.24, 0.47), 0.045, 0.17), WINDOW),  # rear window
        (_trapezoid(x, y, (0.51, 0.63), (0.51, 0.75), 0.045, 0.17), WINDOW),  # front window
        (body, BODY),
        ((np.abs(x - 0.49) < 0.012) & (y >= 0.19) & (y < 0.33), TRIM),  # door gap
        ((x >= 0.955) & (x < 1.0) & (y >= 0.2) & (y < 0.25), HEADLIGHT),
        ((x >= 0.0) & (x < 0.035) & (y >= 0.21) & (y < 0.26), TAIL_LIGHT),
        (np.minimum(*wheels) < wheel_r**2, TYRE),
        (np.minimum(*wheels) < hub_r**2, HUB),
    ]


def draw_car(length: int) -> np.ndarray:
    """The car, ``length`` pixels long: float32 (h, length, 4) premultiplied RGB and alpha in [0, 1].

    ``h = ceil(0.45 * length)``; alpha is the covered fraction of each pixel.
    """
    height = int(np.ceil(HEIGHT_RATIO * length))
    fine_h, fine_w = height * SUPERSAMPLE, length * SUPERSAMPLE
    ys, xs = np.mgrid[0:fine_h, 0:fine_w].astype(np.float32)
    x, y = (xs + 0.5) / fine_w, (ys + 0.5) / fine_w  # car lengths
    rgba = np.zeros((fine_h, fine_w, 4), np.float32)
    for mask, colour in _layers(x, y):
        rgba[mask, :3] = colour
        rgba[mask, 3] = 1.0
    rgba[..., :3] *= rgba[..., 3:]  # premultiplied, so averaging is exact compositing
    coarse = rgba.reshape(height, SUPERSAMPLE, length, SUPERSAMPLE, 4).mean(axis=(1, 3))
    return coarse.astype(np.float32)
