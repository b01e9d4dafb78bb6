"""corrwise.export: checkpoint -> ONNX / .pt2 / INT8 / TensorRT engine / Triton repository, and parity checks.

Names load on first use, so ``corr-export --help`` works before the
``export`` extra (torch, onnx) is installed.
"""

from __future__ import annotations

from typing import Any

from corrwise.extras import import_for

_WHERE = {
    "OnnxOptions": "onnx_export",
    "contract_for": "onnx_export",
    "onnx_from_checkpoint": "onnx_export",
    "pt2_from_checkpoint": "torch_export",
    "Int8Options": "int8",
    "int8_from_onnx": "int8",
    "engine_from_onnx": "tensorrt_engine",
    "triton_repository": "triton",
    "ParityReport": "parity",
    "verify": "parity",
    "export_bundle": "bundle",
    "read_contract": "artifact",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_for(f"corrwise.export.{_WHERE[name]}", "export", "corrwise.export"), name)
    raise AttributeError(f"module 'corrwise.export' has no attribute {name!r}")
