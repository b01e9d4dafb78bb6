"""Sample grids: what the network sees and makes, side by side, as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from corrwise.atomic import atomic_output
from PIL import Image, ImageDraw

LABEL_HEIGHT = 14  # pixels of the caption strip above the grid
GAP = 2  # pixels between tiles


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8."""
    scaled = (frames.detach().float().cpu().clamp(-1, 1) + 1) * 127.5
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def make_grid(columns: dict[str, torch.Tensor], rows: int = 4) -> np.ndarray:
    """One row per sample, one captioned column per entry; each entry (B, 3, H, W) in [-1, 1].

    Returns an (H', W', 3) uint8 picture.
    """
    tiles = {name: to_uint8(frames[:rows]) for name, frames in columns.items()}
    count = min(len(t) for t in tiles.values())
    h, w = next(iter(tiles.values())).shape[1:3]
    width = len(tiles) * (w + GAP) - GAP
    canvas = np.full((LABEL_HEIGHT + count * (h + GAP) - GAP, width, 3), 255, np.uint8)
    for col, images in enumerate(tiles.values()):
        for row in range(count):
            top, left = LABEL_HEIGHT + row * (h + GAP), col * (w + GAP)
            canvas[top : top + h, left : left + w] = images[row]
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    for col, name in enumerate(tiles):
        draw.text((col * (w + GAP) + 2, 1), name, fill=(0, 0, 0))
    return np.asarray(picture)


def save_grid(path: str | Path, grid: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 picture as PNG, atomically."""
    path = Path(path)
    with atomic_output(path, suffix=".png") as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")
    return path
