"""How well an output shows the car: best-shift PSNR, the position it found, and sharpness.

An output drawn with the car crisp at any allowed position is a perfect answer
to the toy problem, so the output is compared with the scene re-rendered at
every candidate position (multiples of ``STEP`` pixels and both ends of the
allowed range, then steps of ``FINE_STEP`` around the best) and scored at the best one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from corrwise.train.toy.scene import Scene

STEP = 0.5  # pixels between candidate positions of the coarse search
FINE_STEP = 0.05  # pixels between candidates of the fine search around the best
PEAK_TO_PEAK = 2.0  # images are in [-1, 1]
MAX_PSNR_DB = 100.0  # reported when the output equals a rendering exactly


@dataclass(frozen=True)
class ShiftMatch:
    """The best allowed car position for an output.

    Attributes:
        psnr_db: PSNR (dB, peak-to-peak 2) against the scene rendered at ``position``,
            capped at ``MAX_PSNR_DB``.
        position: car position, pixels right of the centre, in [-max_shift, max_shift].
    """

    psnr_db: float
    position: float


def psnr_db(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR (dB, peak-to-peak 2) of each image (N, 3, H, W) in [-1, 1]: (N,), capped at MAX_PSNR_DB."""
    mse = (x - y).pow(2).flatten(1).mean(1)
    psnr = 10 * torch.log10(PEAK_TO_PEAK**2 / mse.clamp_min(1e-12))
    return psnr.clamp(max=MAX_PSNR_DB)


def _best(output: torch.Tensor, scene: Scene, positions: torch.Tensor) -> tuple[float, float]:
    """(PSNR, position) of the best of ``positions`` (N,) pixels for ``output`` (3, H, W)."""
    scores = torch.cat([psnr_db(scene.render(chunk), output.unsqueeze(0)) for chunk in positions.split(256)])
    index = int(scores.argmax())
    return float(scores[index]), float(positions[index])


@torch.no_grad()
def best_shift(output: torch.Tensor, scene: Scene) -> ShiftMatch:
    """Best-shift PSNR and position of ``output`` (3, H, W) in [-1, 1] over the allowed positions."""
    output = output.to(scene.background.device).float()
    limit = scene.max_shift
    steps = torch.arange(-math.floor(limit / STEP), math.floor(limit / STEP) + 1, device=output.device)
    coarse = torch.cat((steps * STEP, torch.tensor([-limit, limit], device=output.device)))
    _, position = _best(output, scene, coarse)
    offsets = torch.arange(-round(STEP / FINE_STEP), round(STEP / FINE_STEP) + 1, device=output.device)
    psnr, position = _best(output, scene, (position + offsets * FINE_STEP).clamp(-limit, limit))
    return ShiftMatch(psnr, position)


def horizontal_gradient(image: torch.Tensor, box: tuple[int, int, int, int]) -> float:
    """Mean |I(x + 1) - I(x)| over channels inside ``box`` (top, bottom, left, right) of (3, H, W)."""
    top, bottom, left, right = box
    patch = image[:, top:bottom, left:right]
    return float((patch[:, :, 1:] - patch[:, :, :-1]).abs().mean())


@torch.no_grad()
def sharpness(output: torch.Tensor, scene: Scene, position: float) -> float:
    """Horizontal-gradient energy in the car's box at ``position``, relative to the real car's (1 = as sharp).

    Horizontal uncertainty smears the car along x, which is what this measures;
    ``output`` is (3, H, W) in [-1, 1].
    """
    box = scene.car_box(position)
    real = scene.render(torch.tensor([position], device=scene.background.device))[0]
    return horizontal_gradient(output.to(real.device).float(), box) / horizontal_gradient(real, box)
