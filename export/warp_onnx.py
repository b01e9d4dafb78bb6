"""ONNX translation of the models' warp op: ``corrwise::deform_warp`` -> one ``DeformConv``.

A 1x1 deformable convolution with one group per channel and unit weights
samples every channel bilinearly at pixel + offset, which is the warp; ONNX
Runtime's CPU kernel for it is several times faster than the equivalent gathers
(see :mod:`corrwise.models.warp`). ``DeformConv`` needs opset 19; TensorRT's
ONNX parser reads it from TensorRT 10.1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxscript
import torch
from corrwise.models.warp import deform_warp  # registers the op  # noqa: F401
from onnxscript import opset19 as op

MIN_OPSET = 19  # DeformConv


def deform_warp_onnx(image: Any, offsets: Any) -> Any:
    """``DeformConv(image, ones(C, 1, 1, 1), offsets, group=C)``.

    ``image`` (B, C, H, W) with a static C; ``offsets`` (B, 2, H, W), (dy, dx) in pixels.
    """
    channels = image.shape[1]
    if not isinstance(channels, int):
        raise ValueError(f"the warp needs a static channel count to export, got {channels!r}")
    weight = op.Constant(value=onnxscript.ir.tensor(np.ones((channels, 1, 1, 1), np.float32)))
    return op.DeformConv(image, weight, offsets, group=channels, kernel_shape=[1, 1], offset_group=1)


def translations() -> dict[Any, Any]:
    """The exporter's ``custom_translation_table`` for the models' custom ops."""
    return {torch.ops.corrwise.deform_warp.default: deform_warp_onnx}
