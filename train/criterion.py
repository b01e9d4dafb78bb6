"""The training loss of a run: a plain base loss, or the correspondence-wise loss around it."""

from __future__ import annotations

import torch
from corrwise.train.config import LossSection
from corrwise.train.losses import CorrWise, build_base_loss
from torch import nn


class Criterion(nn.Module):
    """``(pred, target) -> (loss, terms, warped)`` for any loss the config names.

    ``terms`` are detached scalars for the log (the corr-wise loss reports each
    direction and regulariser); ``warped`` is the prediction warped onto the
    target (B, 3, H, W) in [-1, 1] for the sample grids, or None for a plain loss.
    """

    def __init__(self, section: LossSection) -> None:
        super().__init__()
        self.section = section
        if section.corrwise:
            self.loss: nn.Module = CorrWise(
                section.base,
                flow=section.flow,
                epsilon=section.epsilon,
                detach=section.detach,
                reg_flow_mag=section.reg_flow_mag,
                reg_flow_grad=section.reg_flow_grad,
                edge_aware=section.edge_aware,
                edge_penalty=section.edge_penalty,
                flow_options=section.flow_options,
            )
        else:
            base = build_base_loss(section.base)
            self.loss = base if isinstance(base, nn.Module) else _Wrapped(base)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor | None]:
        pred, target = pred.float(), target.float()
        if not self.section.corrwise:
            loss = self.loss(pred, target)
            return loss, {}, None
        loss, info = self.loss(pred, target)
        terms = {name: float(value) for name, value in info.items() if value.dim() == 0}
        return loss, terms, info["warped_pred"]


class _Wrapped(nn.Module):
    def __init__(self, fn: object) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fn(x, y)  # type: ignore[operator]
