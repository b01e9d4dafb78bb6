"""The one interface every optical-flow estimator implements.

An estimator takes two images (B, C, H, W) in [-1, 1] and returns the flow
from the first to the second, (B, 2, H, W) in pixels (x then y): for every
pixel of A, the offset of its match in B. ``pair(a, b)`` returns both
directions; estimators that can share work between them override it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from corrwise.errors import InputError
from torch import nn

RANGE_SLACK = 1e-3  # inputs may overshoot [-1, 1] by float rounding


def check_image_pair(a: torch.Tensor, b: torch.Tensor, what: str = "images") -> None:
    """Raise InputError unless ``a`` and ``b`` are floating (B, C, H, W) tensors of one shape in [-1, 1]."""
    for name, x in (("first", a), ("second", b)):
        if not isinstance(x, torch.Tensor):
            raise InputError(f"{what}: the {name} is a {type(x).__name__}, expected a torch.Tensor")
        if x.dim() != 4:
            raise InputError(f"{what}: expected (B, C, H, W) tensors, the {name} has shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise InputError(f"{what}: expected floating-point tensors in [-1, 1], got {x.dtype}")
    if a.shape != b.shape:
        raise InputError(f"{what}: shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    low = torch.minimum(a.detach().amin(), b.detach().amin()).item()
    high = torch.maximum(a.detach().amax(), b.detach().amax()).item()
    if low < -1 - RANGE_SLACK or high > 1 + RANGE_SLACK:
        raise InputError(
            f"{what}: values must lie in [-1, 1], got [{low:.4g}, {high:.4g}]; "
            "scale 8-bit images with x / 127.5 - 1 and [0, 1] images with 2 * x - 1"
        )


class FlowEstimator(nn.Module, ABC):
    """Optical flow from image A to image B.

    Class attributes:
        name: registry name (``dis``, ``match``, ``raft``, ``oracle``).
        differentiable: True when gradients flow from the flow back into the
            images, which ``CorrWise(detach=False)`` and its regularisers need.
    """

    name: ClassVar[str]
    differentiable: ClassVar[bool]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flow A → B.

        Args:
            a, b: (B, C, H, W) in [-1, 1], same shape and device.

        Returns:
            (B, 2, H, W) float32 flow in pixels on A's grid, on the inputs' device.
        """
        check_image_pair(a, b)
        return self.estimate(a, b)

    def pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both directions: (flow A → B, flow B → A), each (B, 2, H, W) in pixels."""
        check_image_pair(a, b)
        return self.estimate(a, b), self.estimate(b, a)

    @abstractmethod
    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flow A → B for inputs already checked; see :meth:`forward`."""
