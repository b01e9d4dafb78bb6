"""Rewrites of an exported ONNX graph: half precision, simplification."""

from __future__ import annotations

import onnx
from corrwise.errors import ExportError
from corrwise.extras import import_for

FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16

# Ops whose inputs are coordinates, sizes or indices stay in fp32, so sampling
# positions (GridSample grids, Resize scales) keep full precision.
FP32_OPS = (
    "GridSample",
    "Resize",
    "Upsample",
    "Range",
    "CumSum",
    "TopK",
    "NonMaxSuppression",
    "RoiAlign",
)


def fp16_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Convert weights and activations to float16, keeping the graph's I/O types.

    Float inputs and outputs stay float32 (a Cast sits at each end), so the
    contract and the runtime do not change; ops in :data:`FP32_OPS` run in
    float32 behind casts. Needs ``onnxconverter-common`` (the export extra).
    """
    float16 = import_for("onnxconverter_common.float16", "export", "corr-export onnx --fp16")
    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(FP32_OPS))
    to_float = {n.name for n in model.graph.node if n.op_type == "Cast" and _cast_target(n) == FLOAT}
    try:
        half = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    except (ValueError, RuntimeError) as err:
        raise ExportError(f"converting the graph to float16 failed: {err}") from err
    # The converter retypes a Cast's output but not its `to` attribute: the
    # graph's own casts to float (the uint8 -> float step of fused I/O) must now cast to float16.
    for node in half.graph.node:
        if node.name in to_float:
            for attr in node.attribute:
                if attr.name == "to":
                    attr.i = FLOAT16
    return half


def _cast_target(node: onnx.NodeProto) -> int:
    """The element type a Cast node casts to."""
    return next(a.i for a in node.attribute if a.name == "to")


def simplify_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold constants, drop dead nodes and fuse simple patterns with onnxslim; dynamic axes stay dynamic."""
    onnxslim = import_for("onnxslim", "export", "corr-export onnx --simplify")
    try:
        return onnxslim.slim(model)
    except (ValueError, RuntimeError) as err:
        raise ExportError(f"simplifying the graph failed: {err}") from err
