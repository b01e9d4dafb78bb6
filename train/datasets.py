"""Torch datasets of training samples for frame interpolation."""

from __future__ import annotations

import torch
from corrwise.train.synthetic import SyntheticConfig, load_photos, render_triplet
from torch.utils.data import Dataset


class SyntheticTriplets(Dataset):
    """Interpolation samples rendered by :func:`render_triplet`; the embedded default data.

    Item ``i`` is a dict of float32 tensors:
        ``frame0``, ``frame1``: (3, H, W) in [-1, 1], the frames at t = 0 and t = 1.
        ``target``: (3, H, W) in [-1, 1], the frame at t = 0.5.
        ``flow``: (2, H, W), ground-truth motion frame0 -> frame1 in pixels (x, y).
    """

    def __init__(self, config: SyntheticConfig | None = None, length: int = 100_000) -> None:
        self.config = config or SyntheticConfig()
        self.length = length
        pad = 2 * self.config.camera_motion
        self.photos = load_photos(self.config.height + pad, self.config.width + pad)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        sample = render_triplet(self.photos, self.config, index)
        frames = torch.from_numpy(sample["frames"]).permute(0, 3, 1, 2) * 2 - 1  # (3, 3, H, W)
        return {
            "frame0": frames[0],
            "target": frames[1],
            "frame1": frames[2],
            "flow": torch.from_numpy(sample["flow"]),
        }
