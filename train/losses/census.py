"""Ternary census loss (soft census transform), as in UnFlow (Meister et al. 2018) and RIFE.

Both images go to grayscale intensities on the [0, 255] scale. The census
transform of a pixel compares it with each pixel of its patch x patch
neighbourhood through a soft sign, ``t / sqrt(0.81 + t^2)`` with ``t`` the
neighbour minus the centre. Two transforms differ by the robust distance
``d^2 / (0.1 + d^2)`` per neighbour, summed over the neighbourhood; the loss
is the mean of that sum over batch and pixels.

It compares local structure, not absolute intensity, so it is insensitive to
brightness changes between frames. Pixels closer than ``patch // 2`` to the
border have an incomplete neighbourhood and are left out (UnFlow masks them
likewise), instead of being compared with zero padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError, InputError
from corrwise.train.flow.base import check_image_pair
from torch import nn

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # ITU-R BT.601 luma, as tf.image.rgb_to_grayscale


def intensities_255(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB or (B, 1, H, W) gray in [-1, 1] -> (B, 1, H, W) gray in [0, 255]."""
    if image.shape[1] == 3:
        weights = torch.tensor(GRAY_WEIGHTS, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
        image = (image * weights).sum(dim=1, keepdim=True)  # (B, 1, H, W), weights sum to 1
    return (image + 1) * 127.5


def census_transform(gray: torch.Tensor, patch: int) -> torch.Tensor:
    """Soft census transform of (B, 1, H, W) intensities in [0, 255].

    Returns:
        (B, patch * patch, (H - patch + 1) * (W - patch + 1)): for each pixel with a
        complete neighbourhood, ``t / sqrt(0.81 + t^2)`` for every neighbour (centre included, 0).
    """
    radius = patch // 2
    height, width = gray.shape[2:]
    neighbours = F.unfold(gray, kernel_size=patch)  # (B, P*P, L)
    centre = gray[:, :, radius : height - radius, radius : width - radius].flatten(2)  # (B, 1, L)
    diff = neighbours - centre
    return diff / torch.sqrt(0.81 + diff**2)


class CensusLoss(nn.Module):
    """Ternary census loss between two images.

    Args:
        patch: odd neighbourhood size >= 3 (7 as in RIFE; UnFlow used 3).

    Input images are RGB (C = 3) or gray (C = 1), (B, C, H, W) in [-1, 1] with
    H, W >= ``patch``. The loss is 0 for identical images and at most
    ``patch * patch - 1``.
    """

    def __init__(self, patch: int = 7) -> None:
        super().__init__()
        if isinstance(patch, bool) or not isinstance(patch, int) or patch < 3 or patch % 2 == 0:
            raise ConfigError(f"CensusLoss: patch must be an odd int >= 3 (7 is usual), got {patch!r}")
        self.patch = patch

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, 3 or 1, H, W) in [-1, 1], H, W >= patch. Returns: 0-d tensor."""
        check_image_pair(x, y, "CensusLoss")
        channels, height, width = x.shape[1:]
        if channels not in (1, 3):
            raise InputError(
                f"CensusLoss: expected RGB (C=3) or gray (C=1) images, got C={channels}; "
                "convert to RGB or gray first"
            )
        if min(height, width) < self.patch:
            raise InputError(
                f"CensusLoss: images must be at least {self.patch}x{self.patch} for patch={self.patch}, "
                f"got {height}x{width}; use a smaller patch or larger images"
            )
        t_x = census_transform(intensities_255(x), self.patch)  # (B, P*P, L)
        t_y = census_transform(intensities_255(y), self.patch)
        dist = (t_x - t_y) ** 2
        return (dist / (0.1 + dist)).sum(dim=1).mean()

    def extra_repr(self) -> str:
        return f"patch={self.patch}"
