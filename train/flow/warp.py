"""Backward warping with optical flow: the one place pixel grids are built.

Conventions used throughout corrwise: images are (B, C, H, W); flow is
(B, 2, H, W) in pixels, channel 0 horizontal (x, to the right), channel 1
vertical (y, downwards). ``flow_ab[p]`` is the offset from pixel ``p`` of image
A to its match in image B.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from corrwise.errors import InputError

PADDING_MODES = ("reflection", "border", "zeros")


def pixel_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel coordinates (1, 2, H, W): channel 0 is x in [0, W-1], channel 1 is y in [0, H-1].

    Built with ``arange`` so an exported graph keeps H and W symbolic.
    """
    ys = torch.arange(height, device=like.device, dtype=like.dtype)
    xs = torch.arange(width, device=like.device, dtype=like.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x, grid_y)).unsqueeze(0)  # (1, 2, H, W)


def backward_warp(image: torch.Tensor, flow: torch.Tensor, padding_mode: str = "reflection") -> torch.Tensor:
    """Sample ``image`` at ``p + flow[p]`` for every pixel ``p``: ``out[p] = image[p + flow[p]]``.

    Args:
        image: (B, C, H, W), any range.
        flow: (B, 2, H, W) in pixels on the output grid (x then y).
        padding_mode: where samples leave the image: ``reflection`` (default, as in
            the paper's code), ``border`` or ``zeros``.

    Returns:
        (B, C, H, W): bilinear samples (``grid_sample``, ``align_corners=True``).
    """
    if padding_mode not in PADDING_MODES:
        raise InputError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise InputError(f"flow must be (B, 2, H, W), got {tuple(flow.shape)}")
    if image.dim() != 4 or image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise InputError(
            f"image (B, C, H, W) and flow (B, 2, H, W) must share B, H and W, "
            f"got {tuple(image.shape)} and {tuple(flow.shape)}"
        )
    height, width = image.shape[2:]
    coords = pixel_grid(height, width, flow) + flow  # (B, 2, H, W) pixels
    scale = torch.tensor(
        [2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], device=flow.device, dtype=flow.dtype
    ).view(1, 2, 1, 1)
    grid = (coords * scale - 1.0).permute(0, 2, 3, 1)  # (B, H, W, 2) in [-1, 1]
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Flow (B, 2, h, w) in pixels of its grid, resampled to ``size`` (H, W) with values rescaled.

    Bilinear with ``align_corners=False``: a cell of the small grid covers a block of
    the large one, as area downsampling produced it.
    """
    if tuple(flow.shape[2:]) == tuple(size):
        return flow
    ratio = torch.tensor(
        [size[1] / flow.shape[3], size[0] / flow.shape[2]], device=flow.device, dtype=flow.dtype
    ).view(1, 2, 1, 1)
    return F.interpolate(flow * ratio, size=size, mode="bilinear", align_corners=False)
