"""The exported model, run through corrwise.runtime, computes what the PyTorch original computes."""

import numpy as np
import pytest
import torch
from corrwise.models import load_checkpoint
from corrwise.runtime import Interpolator, crop, pad_to_multiple
from corrwise.tolerances import compare

# The export traced 32x48; these differ from it, and 37x53 is odd so padding is exercised.
SHAPES = [(2, 40, 64), (1, 37, 53), (1, 72, 128)]


def reference(model, x0: np.ndarray, x1: np.ndarray, align: int) -> np.ndarray:
    """PyTorch output on the same padded frames the runtime feeds to its backend."""
    (p0, box), (p1, _) = pad_to_multiple(x0, align), pad_to_multiple(x1, align)
    with torch.no_grad():
        y = model(torch.from_numpy(p0), torch.from_numpy(p1)).numpy()
    return crop(y, box)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_onnxruntime_fp32_matches_pytorch(checkpoint_path, onnx_path, shape):
    rng = np.random.default_rng(sum(shape))
    n, h, w = shape
    x0, x1 = (rng.uniform(-1, 1, size=(n, 3, h, w)).astype(np.float32) for _ in range(2))
    model = load_checkpoint(checkpoint_path).model
    with Interpolator(onnx_path) as interp:
        out = interp.run(x0, x1)
    ref = reference(model, x0, x1, align=8)
    assert out.shape == (n, 3, h, w)
    result = compare(ref, out, "onnxruntime", "fp32")
    assert result.passed, result
    assert np.abs(ref - 0.5 * (x0 + x1)).max() > 0.01  # the model is not a plain blend


def test_uint8_frames_match_pytorch_within_one_grey_level(checkpoint_path, onnx_path):
    rng = np.random.default_rng(1)
    f0, f1 = (rng.integers(0, 256, size=(45, 77, 3), dtype=np.uint8) for _ in range(2))
    model = load_checkpoint(checkpoint_path).model
    with Interpolator(onnx_path, cut_threshold=0) as interp:  # unrelated noise frames: no cut detection
        out = interp.interpolate(f0, f1)
    x0, x1 = (f.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1 for f in (f0, f1))
    ref = (reference(model, x0, x1, align=8)[0].transpose(1, 2, 0) + 1) * 127.5
    assert out.shape == (45, 77, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(np.float32) - ref).max() <= 1.0
