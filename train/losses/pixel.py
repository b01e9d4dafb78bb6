"""Per-pixel base losses: L1, MSE and Charbonnier.

Each compares two images (B, C, H, W) in [-1, 1] of one shape and returns the
mean over every element (batch, channels and pixels) as a 0-d tensor,
differentiable in both arguments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.train.flow.base import check_image_pair
from torch import nn


class L1Loss(nn.Module):
    """Mean absolute difference, ``mean |x - y|``; range [0, 2] for inputs in [-1, 1]."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, C, H, W) in [-1, 1]. Returns: 0-d tensor."""
        check_image_pair(x, y, "L1Loss")
        return F.l1_loss(x, y)


class MSELoss(nn.Module):
    """Mean squared difference, ``mean (x - y)^2``; range [0, 4] for inputs in [-1, 1]."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, C, H, W) in [-1, 1]. Returns: 0-d tensor."""
        check_image_pair(x, y, "MSELoss")
        return F.mse_loss(x, y)


class CharbonnierLoss(nn.Module):
    """Charbonnier (smooth L1), ``mean sqrt((x - y)^2 + eps^2)``.

    A differentiable L1: quadratic for differences well below ``eps``, linear
    above. Note the minimum, for identical inputs, is ``eps`` and not 0 (the
    usual definition, as in RIFE and EDVR); subtract ``eps`` if you need a
    zero floor. Gradients are identical either way.

    Args:
        eps: smoothing scale in image units ([-1, 1] range), > 0. 1e-3 is the
            common choice (eps^2 = 1e-6).
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        if not eps > 0:
            raise ConfigError(f"CharbonnierLoss: eps must be > 0, got {eps!r}; 1e-3 is the usual value")
        self.eps = float(eps)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, C, H, W) in [-1, 1]. Returns: 0-d tensor, >= eps."""
        check_image_pair(x, y, "CharbonnierLoss")
        return torch.sqrt((x - y) ** 2 + self.eps**2).mean()

    def extra_repr(self) -> str:
        return f"eps={self.eps}"
