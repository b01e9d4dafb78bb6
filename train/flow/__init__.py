"""corrwise.train.flow: optical-flow estimators behind one interface, and backward warping.

``build_flow(name, **options)`` builds ``dis`` (OpenCV DIS), ``match`` (global
patch matching, pure torch), ``raft`` (torchvision RAFT, optional) or ``oracle``
(ground-truth flow from the data). Estimator classes load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from corrwise.train.flow.base import FlowEstimator, check_image_pair
from corrwise.train.flow.registry import FLOW_ESTIMATORS, build_flow, flow_class, list_flows
from corrwise.train.flow.warp import backward_warp, pixel_grid

_LAZY = {cls: module for module, cls in FLOW_ESTIMATORS.values()}

__all__ = [
    "FLOW_ESTIMATORS",
    "FlowEstimator",
    "backward_warp",
    "build_flow",
    "check_image_pair",
    "flow_class",
    "list_flows",
    "pixel_grid",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'corrwise.train.flow' has no attribute {name!r}")
