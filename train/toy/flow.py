"""The toy's flow: global matching that keeps zero flow wherever the frames already agree.

A flow that aligns too freely lets the generator skip reproducing the
background: a blurry or shifted background is "explained" by small, noisy
displacements and costs nothing. This wrapper runs an inner estimator (the
``match`` global matcher by default, which finds the car however far it jumped)
and then, per pixel, keeps its flow only where it explains the target clearly
better than no motion at all: the local mean absolute warping error (box
window) must beat the zero-flow error by ``margin``. Everywhere else the flow
is exactly zero, so whatever the background gets wrong is penalised as a
pixel-wise loss would, while the car is still compared with the car.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from corrwise.train.flow.base import FlowEstimator, check_image_pair
from corrwise.train.flow.warp import backward_warp

WINDOW = 5  # pixels: side of the box over which warping errors are compared
MARGIN = 0.02  # [-1, 1] units: how much better than zero flow a match must warp to be kept


class ZeroPreferringFlow(FlowEstimator):
    """``inner``'s flow where it beats zero flow by ``margin`` over a ``window`` box, else 0.

    Args:
        inner: the estimator whose matches are screened (``match`` recommended).
        window: odd side of the box of the per-pixel error comparison, pixels.
        margin: required error improvement, mean absolute difference in [-1, 1] units.
    """

    name: ClassVar[str] = "zero-preferring"
    differentiable: ClassVar[bool] = False

    def __init__(self, inner: FlowEstimator, window: int = WINDOW, margin: float = MARGIN) -> None:
        super().__init__()
        self.inner, self.window, self.margin = inner, window, margin

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self._screen(a, b, self.inner.estimate(a, b))

    def pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(flow A → B, flow B → A), each (B, 2, H, W) pixels, zero where no motion explains as well."""
        check_image_pair(a, b)
        flow_ab, flow_ba = self.inner.pair(a, b)
        return self._screen(a, b, flow_ab), self._screen(b, a, flow_ba)

    def _screen(self, a: torch.Tensor, b: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """``flow`` (B, 2, H, W) A → B, zeroed where it does not warp B onto A better than zero flow."""
        error_zero = self._local_error(b, a)
        error_flow = self._local_error(backward_warp(b, flow, "border"), a)
        keep = (error_flow + self.margin < error_zero).to(flow.dtype)  # (B, 1, H, W)
        return flow * keep

    def _local_error(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Box-filtered mean absolute difference (B, 1, H, W) of two (B, C, H, W) images."""
        diff = (x - y).abs().mean(1, keepdim=True)
        return F.avg_pool2d(diff, self.window, stride=1, padding=self.window // 2, count_include_pad=False)
