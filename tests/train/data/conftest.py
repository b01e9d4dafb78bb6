"""Tiny on-disk data sets in every supported layout, written into tmp_path by the tests.

Frames carry their identity: red = 10 x frame number, green = 4 x column,
blue = 4 x row, so a sample tells which frames, which crop window and which
flip it was cut with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def pattern(index: int, height: int = 24, width: int = 32) -> np.ndarray:
    """uint8 (H, W, 3): red 10 * index, green 4 * x, blue 4 * y (all below 256 for small sizes)."""
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[..., 0] = 10 * index
    frame[..., 1] = 4 * np.arange(width)[None, :]
    frame[..., 2] = 4 * np.arange(height)[:, None]
    return frame


def write_frames(
    folder: Path,
    count: int,
    height: int = 24,
    width: int = 32,
    template: str = "{:04d}.png",
    first: int = 0,
    number_from: int = 0,
) -> Path:
    """``count`` pattern frames (ids from ``first``) named ``template.format(number_from + k)``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        Image.fromarray(pattern(first + k, height, width)).save(folder / template.format(number_from + k))
    return folder


def write_vimeo(
    root: Path, layout: str, lists: dict[str, list[str]], height: int = 16, width: int = 24
) -> Path:
    """A Vimeo-90K tree: ``sequences/<id>/im1..imN.png`` for every listed id, and the list files.

    ``lists`` maps a list-file name (``tri_testlist.txt``) to its ids; the files get a blank line
    between ids and at the end, as the official ones have a trailing newline.
    """
    count = 3 if layout == "triplet" else 7
    for number, seq_id in enumerate(sorted({i for ids in lists.values() for i in ids})):
        folder = root / "sequences" / seq_id
        write_frames(folder, count, height, width, "im{}.png", first=number * 8, number_from=1)
    for name, ids in lists.items():
        (root / name).write_text("\n\n".join(ids) + "\n\n")
    return root


def frame_ids(frames: torch.Tensor) -> list[int]:
    """Frame numbers of float (..., 3, H, W) frames in [-1, 1] made from :func:`pattern`."""
    red = ((frames[..., 0, 0, 0] + 1) * 127.5).round().reshape(-1)
    return [int(v) // 10 for v in red]


def window_of(frame: torch.Tensor) -> tuple[int, int, bool]:
    """(top, left, flipped) of a float (3, h, w) crop of a :func:`pattern` frame."""
    values = ((frame + 1) * 127.5).round().long()
    green, blue = values[1, 0], values[2, :, 0]
    flipped = bool(green[0] > green[-1]) if green.numel() > 1 else False
    left = int(min(green[0], green[-1])) // 4
    return int(blue[0]) // 4, left, flipped
