"""Export spec as data: what each registered model declares about its graph.

The exporter builds the ONNX graph and its I/O contract from this alone, so a
new model needs no special case in ``corrwise.export``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from corrwise.errors import ConfigError

C = TypeVar("C")


@dataclass(frozen=True)
class ExportSpec:
    """Graph-level facts of a model, given its config.

    Attributes:
        task: ``"interpolate"`` or ``"predict"``.
        input_names: one name per frame input, oldest first; each (B, 3, H, W) in [-1, 1].
        output_names: output names; the first is the frame (B, 3, H, W) in [-1, 1].
        align: H and W must be multiples of this (pixels).
        min_opset: the lowest ONNX opset whose operators the graph needs.
        timestep_input: name of the time input (B, 1, 1, 1) in (0, 1), fed after the
            frames, or None when the model has none.
        min_size: smallest H and W the graph accepts (pixels); 1 when any aligned size works.
    """

    task: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    align: int
    min_opset: int = 17
    timestep_input: str | None = None
    min_size: int = 1


def config_from_dict(config_class: type[C], data: Mapping[str, Any] | None) -> C:
    """Fill a frozen config dataclass from plain data, rejecting unknown keys."""
    data = dict(data or {})
    known = {f.name for f in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for {config_class.__name__}; known options: {sorted(known)}"
        )
    return config_class(**data)
