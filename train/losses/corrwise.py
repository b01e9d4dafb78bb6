"""The correspondence-wise loss (Geng, Hamilton and Owens, CVPR 2022).

With prediction P, target T, base loss D, flow F (pixels) and epsilon e::

    L(P, T) = D(warp(P, (1 - e) F(T → P)), T) + D(warp(T, (1 - e) F(P → T)), P)

F(A → B) gives, for every pixel of A, the offset of its match in B, so
``warp(P, F(T → P))`` is P resampled onto T's grid (bilinear ``grid_sample``,
``align_corners=True``). Putting the two frames into correspondence first means
a small positional error costs little, so a generator is not pushed towards
the blurry average of the positions it cannot be sure of. The flow is
estimated without gradients and detached by default; gradients reach the
generator through the warped prediction and through the second term.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from corrwise.errors import ConfigError
from corrwise.train.flow.base import FlowEstimator, check_image_pair
from corrwise.train.flow.oracle import ORACLE_MESSAGE, OracleFlow, check_flows
from corrwise.train.flow.registry import build_flow
from corrwise.train.flow.warp import PADDING_MODES, backward_warp
from corrwise.train.losses import regularizers as reg
from corrwise.train.losses.base import build_base_loss
from torch import nn

TERMS = (
    "loss_pred_to_target",
    "loss_target_to_pred",
    "reg_flow_mag",
    "reg_flow_grad",
    "edge_penalty",
)


class CorrWise(nn.Module):
    """Correspondence-wise wrapper around any base loss.

    Args:
        base_loss: a base-loss name (``l1``, ``mse``, ``charbonnier``, ``ssim``,
            ``msssim``, ``census``, ``vgg``), several joined by ``+`` or given as a
            list (their mean, aligned once), or any module/callable ``D(x, y) -> scalar``.
        flow: estimator name (``match``, ``dis``, ``raft``, ``oracle``) or instance.
            ``match`` needs nothing extra and is differentiable; ``oracle`` takes the
            flow from the data (``forward(..., flows=...)``).
        epsilon: flow is scaled by (1 - epsilon) before warping, in [0, 1]; 1 turns
            the loss into twice the base loss.
        detach: estimate the flow without gradients (the paper's default).
        padding_mode: where warps sample outside the frame: ``reflection``, ``border``, ``zeros``.
        reg_flow_mag: weight of the mean size-normalised flow magnitude (needs detach=False).
        reg_flow_grad: weight of the flow smoothness term (needs detach=False).
        edge_aware: 0 for plain Sobel flow gradients, 1 or 2 for edge-aware first- or
            second-order smoothness (shapes ``reg_flow_grad``).
        edge_penalty: weight of the out-of-frame penalty on the scaled flow (needs detach=False).
        flow_options: options of a flow estimator given by name, e.g. ``{"preset": "fast"}``.
    """

    def __init__(
        self,
        base_loss: str | Sequence[Any] | nn.Module | Any = "l1",
        flow: str | FlowEstimator = "match",
        epsilon: float = 0.1,
        detach: bool = True,
        padding_mode: str = "reflection",
        reg_flow_mag: float = 0.0,
        reg_flow_grad: float = 0.0,
        edge_aware: int = 0,
        edge_penalty: float = 0.0,
        flow_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        _check_options(epsilon, padding_mode, reg_flow_mag, reg_flow_grad, edge_aware, edge_penalty)
        self.base_loss = build_base_loss(base_loss)
        self.flow = build_flow(flow, **dict(flow_options or {}))
        regularised = [
            n
            for n, w in (
                ("reg_flow_mag", reg_flow_mag),
                ("reg_flow_grad", reg_flow_grad),
                ("edge_penalty", edge_penalty),
            )
            if w > 0
        ]
        if regularised and detach:
            raise ConfigError(
                f"{', '.join(regularised)} regularise the flow, which needs CorrWise(detach=False): "
                "with a detached flow the term has no gradient and only shifts the loss"
            )
        if not detach and not self.flow.differentiable:
            raise ConfigError(
                f"detach=False needs a differentiable flow estimator; {self.flow.name!r} is not: "
                "use flow='match' or flow='raft'"
            )
        self.epsilon = float(epsilon)
        self.detach = detach
        self.padding_mode = padding_mode
        self.weights = {
            "reg_flow_mag": reg_flow_mag,
            "reg_flow_grad": reg_flow_grad,
            "edge_penalty": edge_penalty,
        }
        self.edge_aware = edge_aware

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        flows: Sequence[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and what it saw.

        Args:
            pred: prediction P, (B, C, H, W) in [-1, 1].
            target: ground truth T, same shape, in [-1, 1].
            flows: optional (F(T → P), F(P → T)), each (B, 2, H, W) in pixels, used
                instead of estimating them (required with ``flow="oracle"``).

        Returns:
            ``(loss, info)``: the scalar loss, and detached tensors for logging and
            pictures: ``flow_target_to_pred``, ``flow_pred_to_target`` (B, 2, H, W)
            pixels, ``warped_pred`` (P on T's grid), ``warped_target`` (T on P's grid)
            (B, C, H, W), and each term of the sum (scalars; disabled ones are 0).
        """
        check_image_pair(pred, target, "CorrWise(pred, target)")
        flow_tp, flow_pp = self._flows(pred, target, flows)
        scale = 1.0 - self.epsilon
        if scale == 0.0:
            warped_pred, warped_target = pred, target
        else:
            warped_pred = backward_warp(pred, scale * flow_tp, self.padding_mode)
            warped_target = backward_warp(target, scale * flow_pp, self.padding_mode)
        terms = {
            "loss_pred_to_target": self.base_loss(warped_pred, target),
            "loss_target_to_pred": self.base_loss(warped_target, pred),
        }
        terms.update(self._regularisers(pred, target, flow_tp, flow_pp, scale))
        loss = sum(terms.values())
        info = {name: value.detach() for name, value in terms.items()}
        info.update(
            flow_target_to_pred=flow_tp.detach(),
            flow_pred_to_target=flow_pp.detach(),
            warped_pred=warped_pred.detach(),
            warped_target=warped_target.detach(),
        )
        return loss, info

    def _flows(
        self, pred: torch.Tensor, target: torch.Tensor, flows: Sequence[torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(F(T → P), F(P → T)), each (B, 2, H, W) float pixels."""
        if flows is not None:
            flow_tp, flow_pp = check_flows(flows, pred)
        elif isinstance(self.flow, OracleFlow):
            raise ConfigError(ORACLE_MESSAGE)
        elif self.detach:
            with torch.no_grad():
                flow_tp, flow_pp = self.flow.pair(target.detach(), pred.detach())
        else:
            flow_tp, flow_pp = self.flow.pair(target, pred)
        if self.detach:
            return flow_tp.detach(), flow_pp.detach()
        return flow_tp, flow_pp

    def _regularisers(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        flow_tp: torch.Tensor,
        flow_pp: torch.Tensor,
        scale: float,
    ) -> dict[str, torch.Tensor]:
        zero = pred.new_zeros(())
        out = {"reg_flow_mag": zero, "reg_flow_grad": zero, "edge_penalty": zero}
        if self.weights["reg_flow_mag"] > 0:
            magnitude = reg.flow_magnitude(flow_tp) + reg.flow_magnitude(flow_pp)
            out["reg_flow_mag"] = self.weights["reg_flow_mag"] * magnitude
        if self.weights["reg_flow_grad"] > 0:
            if self.edge_aware:
                smooth = reg.edge_aware_smoothness(flow_tp, target, self.edge_aware)
                smooth = smooth + reg.edge_aware_smoothness(flow_pp, pred, self.edge_aware)
            else:
                smooth = reg.flow_gradient(flow_tp) + reg.flow_gradient(flow_pp)
            out["reg_flow_grad"] = self.weights["reg_flow_grad"] * smooth
        if self.weights["edge_penalty"] > 0:
            outside = reg.out_of_bounds(scale * flow_tp) + reg.out_of_bounds(scale * flow_pp)
            out["edge_penalty"] = self.weights["edge_penalty"] * outside
        return out

    def extra_repr(self) -> str:
        enabled = ", ".join(f"{k}={v}" for k, v in self.weights.items() if v > 0)
        return (
            f"flow={self.flow.name!r}, epsilon={self.epsilon}, detach={self.detach}, "
            f"padding_mode={self.padding_mode!r}" + (f", {enabled}" if enabled else "")
        )


def _check_options(
    epsilon: float,
    padding_mode: str,
    reg_flow_mag: float,
    reg_flow_grad: float,
    edge_aware: int,
    edge_penalty: float,
) -> None:
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"epsilon must be in [0, 1], got {epsilon}")
    if padding_mode not in PADDING_MODES:
        raise ConfigError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    for name, weight in (
        ("reg_flow_mag", reg_flow_mag),
        ("reg_flow_grad", reg_flow_grad),
        ("edge_penalty", edge_penalty),
    ):
        if weight < 0:
            raise ConfigError(f"{name} must be >= 0, got {weight}")
    if edge_aware not in (0, 1, 2):
        raise ConfigError(f"edge_aware must be 0 (off), 1 or 2 (smoothness order), got {edge_aware}")
    if edge_aware and reg_flow_grad == 0:
        raise ConfigError("edge_aware only shapes the reg_flow_grad term: set reg_flow_grad > 0 as well")
