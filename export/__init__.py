"""corrwise.export: checkpoint -> ONNX with the I/O contract in its metadata."""

from corrwise.export.onnx_export import contract_for, onnx_from_checkpoint

__all__ = ["contract_for", "onnx_from_checkpoint"]
