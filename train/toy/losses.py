"""The six losses of the toy experiment, built from the project's base and corr-wise losses."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from corrwise.train.losses import CorrWise, L1Loss, MeanLoss, MSELoss
from torch import nn

LossFn = nn.Module


@dataclass(frozen=True)
class ToyLoss:
    """One loss of the experiment.

    Attributes:
        name: key of ``LOSS_LABELS`` (``mse``, ``l1``, ``l1+perceptual``, ``cw-l1``, ...).
        pixel: the base loss D(x, y) -> 0-d tensor on (B, 3, H, W) in [-1, 1].
        corrwise: the corr-wise wrapper of ``pixel``, or None for a pixel-wise loss.
    """

    name: str
    pixel: nn.Module
    corrwise: CorrWise | None

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, pixelwise: bool = False) -> torch.Tensor:
        """0-d loss of ``pred`` against ``target`` (B, 3, H, W) in [-1, 1]; ``pixelwise`` skips the flow."""
        if self.corrwise is None or pixelwise:
            return self.pixel(pred, target)
        return self.corrwise(pred, target)[0]


def build_toy_loss(name: str, perceptual: nn.Module, flow: nn.Module, epsilon: float) -> ToyLoss:
    """The loss called ``name``; ``perceptual`` and ``flow`` (a FlowEstimator) are shared between runs."""
    base_name = name.removeprefix("cw-")
    if base_name == "mse":
        base: nn.Module = MSELoss()
    elif base_name == "l1":
        base = L1Loss()
    else:
        base = MeanLoss([L1Loss(), perceptual])
    if not name.startswith("cw-"):
        return ToyLoss(name, base, None)
    return ToyLoss(name, base, CorrWise(base, flow=flow, epsilon=epsilon))
