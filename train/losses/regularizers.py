"""Flow regularisers of the correspondence-wise loss (all off by default).

They only make sense when the flow is not detached, so that the generator is
discouraged from needing large, rough or out-of-frame correspondences. Flow is
(B, 2, H, W) in pixels; images (B, C, H, W) in [-1, 1]; each returns a scalar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from corrwise.train.flow.warp import pixel_grid

EDGE_CONSTANT = 150.0  # edge-aware smoothness weight exp(-150 |dI|), as in the paper's code (UFlow's value)

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


def normalised(flow: torch.Tensor) -> torch.Tensor:
    """Flow (B, 2, H, W) divided by the image size (W, H): fractions of the frame."""
    height, width = flow.shape[2:]
    return flow / torch.tensor([width, height], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)


def flow_magnitude(flow: torch.Tensor) -> torch.Tensor:
    """Mean L1 norm of the size-normalised flow: |u|/W + |v|/H averaged over pixels."""
    return normalised(flow).abs().sum(1).mean()


def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel derivatives (B, C, H, W) per pixel along x and y, replicate-padded."""
    channels = x.shape[1]
    kx = _SOBEL_X.to(x).view(1, 1, 3, 3).repeat(channels, 1, 1, 1)
    ky = kx.transpose(2, 3)
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, kx, groups=channels), F.conv2d(padded, ky, groups=channels)


def flow_gradient(flow: torch.Tensor) -> torch.Tensor:
    """Mean Sobel gradient magnitude (L1) of the size-normalised flow."""
    gx, gy = sobel(normalised(flow))
    return (gx.abs() + gy.abs()).sum(1).mean()


def _first_differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x (B, C, H, W-1) and y (B, C, H-1, W)."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def edge_aware_smoothness(flow: torch.Tensor, image: torch.Tensor, order: int) -> torch.Tensor:
    """First- or second-order flow smoothness, down-weighted across image edges.

    Weight ``exp(-EDGE_CONSTANT * mean_c |dI|)`` on each difference of the
    size-normalised flow; ``image`` (B, C, H, W) in [-1, 1] is the frame the flow lives on.
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    image_dx, image_dy = _first_differences((image + 1) / 2)
    flow_dx, flow_dy = _first_differences(normalised(flow))
    if order == 2:
        flow_dx, flow_dy = (
            flow_dx[..., :, 1:] - flow_dx[..., :, :-1],
            flow_dy[..., 1:, :] - flow_dy[..., :-1, :],
        )
        image_dx, image_dy = image_dx[..., :, 1:], image_dy[..., 1:, :]
    weight_x = torch.exp(-EDGE_CONSTANT * image_dx.abs().mean(1, keepdim=True))
    weight_y = torch.exp(-EDGE_CONSTANT * image_dy.abs().mean(1, keepdim=True))
    return ((weight_x * flow_dx.abs()).sum(1).mean() + (weight_y * flow_dy.abs()).sum(1).mean()) / 2


def out_of_bounds(flow: torch.Tensor) -> torch.Tensor:
    """Mean distance, in fractions of the frame, by which ``p + flow[p]`` leaves the image."""
    height, width = flow.shape[2:]
    coords = pixel_grid(height, width, flow) + flow  # (B, 2, H, W) pixels
    limit = torch.tensor([width - 1, height - 1], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)
    outside = F.relu(-coords) + F.relu(coords - limit)
    return normalised(outside).sum(1).mean()
