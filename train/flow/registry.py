"""Flow estimators by name: ``build_flow("match")``, ``build_flow("dis", preset="fast")``."""

from __future__ import annotations

import importlib
from typing import Any

from corrwise.errors import ConfigError
from corrwise.train.flow.base import FlowEstimator

# name -> (module, class). Modules load on first use: ``raft`` needs torchvision, ``dis`` OpenCV.
FLOW_ESTIMATORS: dict[str, tuple[str, str]] = {
    "dis": ("corrwise.train.flow.dis", "DISFlow"),
    "match": ("corrwise.train.flow.match", "MatchFlow"),
    "raft": ("corrwise.train.flow.raft", "RAFTFlow"),
    "oracle": ("corrwise.train.flow.oracle", "OracleFlow"),
}


def list_flows() -> list[str]:
    """Registered estimator names."""
    return sorted(FLOW_ESTIMATORS)


def flow_class(name: str) -> type[FlowEstimator]:
    """The estimator class registered as ``name``; ConfigError for an unknown name."""
    if name not in FLOW_ESTIMATORS:
        raise ConfigError(f"unknown flow estimator {name!r}; choose one of {list_flows()}")
    module, cls = FLOW_ESTIMATORS[name]
    return getattr(importlib.import_module(module), cls)


def build_flow(flow: str | FlowEstimator, **options: Any) -> FlowEstimator:
    """An estimator from its name and options, or ``flow`` itself when it already is one."""
    if isinstance(flow, FlowEstimator):
        if options:
            raise ConfigError("options apply only when the flow estimator is given by name")
        return flow
    cls = flow_class(flow)
    try:
        return cls(**options)
    except TypeError as err:
        raise ConfigError(f"flow estimator {flow!r}: {err}") from err
