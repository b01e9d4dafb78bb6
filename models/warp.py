"""Backward warping and bilinear resampling with ``grid_sample``, in pixel units.

Conventions shared by every function here:

* flow is in pixels of the tensor it is applied to, (B, 2, H, W) float32,
  channel 0 the x (width) displacement, channel 1 the y (height) one;
* ``warp(image, flow)[..., y, x] = image[..., y + flow_y, x + flow_x]``
  (backward warping: each output pixel reads from where its flow points);
* sampling is bilinear with ``align_corners=False`` (pixel centres at
  ``(i + 0.5) / size`` of the extent, which makes a normalised coordinate mean
  the same place at every resolution) and ``padding_mode="border"`` (reads
  beyond the frame repeat its edge).

The sampling grid is built from ``torch.arange`` over the tensor's own height
and width, not ``linspace`` over constants, so an ONNX export keeps H and W
dynamic (Range -> GridSample).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def base_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Normalised pixel-centre coordinates of an H x W image, (1, H, W, 2) in (-1, 1), x then y.

    ``like`` supplies the dtype and device.
    """
    xs = (torch.arange(width, dtype=like.dtype, device=like.device) * 2.0 + 1.0) / width - 1.0  # (W,)
    ys = (torch.arange(height, dtype=like.dtype, device=like.device) * 2.0 + 1.0) / height - 1.0  # (H,)
    gx = xs.view(1, 1, width, 1).expand(1, height, width, 1)  # (1, H, W, 1)
    gy = ys.view(1, height, 1, 1).expand(1, height, width, 1)  # (1, H, W, 1)
    return torch.cat([gx, gy], dim=3)  # (1, H, W, 2)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``image`` (B, C, H, W) by ``flow`` (B, 2, H, W) in pixels; returns (B, C, H, W).

    Bilinear, ``align_corners=False``, border padding (see the module docstring).
    """
    h, w = image.shape[-2], image.shape[-1]
    offset = torch.cat([flow[:, :1] * (2.0 / w), flow[:, 1:] * (2.0 / h)], dim=1)  # (B, 2, H, W) normalised
    offset = offset.permute(0, 2, 3, 1)  # (B, H, W, 2)
    grid = base_grid(h, w, image) + offset  # (B, H, W, 2)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def resample(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to (B, C, height, width), ``align_corners=False``, edges clamped.

    The same sampler as :func:`warp` with zero flow at the target size, so the
    graph needs no linear Resize; values are resampled, not rescaled (to
    upsample a flow, multiply it by the size ratio too).
    """
    grid = base_grid(height, width, x).expand(x.shape[0], height, width, 2)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
