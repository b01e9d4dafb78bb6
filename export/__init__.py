"""corrwise.export: checkpoint -> ONNX with the I/O contract in its metadata.

Names load on first use, so ``corr-export --help`` works before the
``export`` extra (torch, onnx) is installed.
"""

from __future__ import annotations

from typing import Any

from corrwise.extras import import_for

__all__ = ["contract_for", "onnx_from_checkpoint"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_for("corrwise.export.onnx_export", "export", "corrwise.export"), name)
    raise AttributeError(f"module 'corrwise.export' has no attribute {name!r}")
