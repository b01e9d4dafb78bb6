"""Ground-truth flow from the data, for ablations: the correspondence-wise loss with perfect flow.

``flow='oracle'`` estimates nothing: the dataset supplies the flow (the built-in
synthetic data does) and the caller passes it to the loss, e.g.
``loss(pred, target, flows=(flow_target_to_pred, flow_pred_to_target))``.
:func:`check_flows` validates such a user-supplied pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NoReturn

import torch
from corrwise.errors import ConfigError, InputError
from corrwise.train.flow.base import FlowEstimator

ORACLE_MESSAGE = (
    "flow='oracle' estimates nothing: it takes the flow from the data (e.g. the synthetic dataset's "
    "'flow'), so the caller must pass both directions to the loss, e.g. "
    "loss(pred, target, flows=(flow_target_to_pred, flow_pred_to_target)), each (B, 2, H, W) in pixels; "
    "or choose an estimator: flow='match', 'dis' or 'raft'"
)


class OracleFlow(FlowEstimator):
    """Placeholder estimator for flow supplied by the data; every call raises ConfigError."""

    name: ClassVar[str] = "oracle"
    differentiable: ClassVar[bool] = False

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> NoReturn:
        """Always raises ConfigError: the flow must come from the data."""
        raise ConfigError(ORACLE_MESSAGE)

    def pair(self, a: torch.Tensor, b: torch.Tensor) -> NoReturn:
        """Always raises ConfigError: the flow must come from the data."""
        raise ConfigError(ORACLE_MESSAGE)

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> NoReturn:
        """Always raises ConfigError: the flow must come from the data."""
        raise ConfigError(ORACLE_MESSAGE)


def check_flow(flow: object, which: str, like: torch.Tensor) -> torch.Tensor:
    """One user-supplied flow as a float32 tensor on ``like``'s device; InputError when unusable.

    Args:
        flow: expected (B, 2, H, W) floating, finite, in pixels (x then y).
        which: how the message names it, e.g. ``flows[0] (target -> pred)``.
        like: (B, C, H, W) images whose B, H and W the flow must share.
    """
    batch, _, height, width = like.shape
    if not isinstance(flow, torch.Tensor):
        raise InputError(f"{which} is a {type(flow).__name__}, expected a (B, 2, H, W) torch.Tensor")
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise InputError(f"{which} must be (B, 2, H, W) in pixels (x then y), got shape {tuple(flow.shape)}")
    if (flow.shape[0], flow.shape[2], flow.shape[3]) != (batch, height, width):
        raise InputError(
            f"{which} has shape {tuple(flow.shape)}, expected ({batch}, 2, {height}, {width}) "
            f"to match the images {tuple(like.shape)}"
        )
    if not flow.is_floating_point():
        raise InputError(f"{which} must be a floating-point tensor of pixel offsets, got {flow.dtype}")
    if not bool(torch.isfinite(flow).all()):
        raise InputError(f"{which} contains NaN or infinite values")
    return flow.to(device=like.device, dtype=torch.float32)


def check_flows(flows: Sequence[torch.Tensor], like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a user-supplied pair of flows (e.g. the oracle's ground truth) against the images.

    Args:
        flows: ``(flow_target_to_pred, flow_pred_to_target)``, each (B, 2, H, W) floating and
            finite, in pixels (x then y) on the grid of the first image of its direction.
        like: (B, C, H, W) images (prediction or target) whose B, H and W the flows must share.

    Returns:
        Both flows as float32 tensors on ``like``'s device (gradients, if any, are kept).

    Raises:
        InputError: not a pair, or a flow of the wrong type, shape or dtype, or not finite.
    """
    if not isinstance(like, torch.Tensor) or like.dim() != 4:
        shape = tuple(like.shape) if isinstance(like, torch.Tensor) else type(like).__name__
        raise InputError(f"flows are checked against (B, C, H, W) images, got {shape}")
    if isinstance(flows, torch.Tensor) or not isinstance(flows, Sequence) or len(flows) != 2:
        got = f"a {type(flows).__name__}" + (
            f" of length {len(flows)}" if isinstance(flows, Sequence) else ""
        )
        raise InputError(
            "flows must be a pair (flow_target_to_pred, flow_pred_to_target) of (B, 2, H, W) tensors, "
            f"got {got}"
        )
    names = ("flows[0] (target -> pred)", "flows[1] (pred -> target)")
    first, second = (check_flow(flow, name, like) for flow, name in zip(flows, names, strict=True))
    return first, second
