"""The ONNX warp: one DeformConv, equal to the eager warp; the gathers where DeformConv cannot be used."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from corrwise.export import OnnxOptions, onnx_from_checkpoint
from corrwise.export.warp_onnx import translations
from corrwise.models import build_model, save_checkpoint
from corrwise.models.warp import export_form, warp


class Warp(torch.nn.Module):
    def forward(self, image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return warp(image, flow)


def export_warp(path, form: str, channels: int) -> onnx.ModelProto:
    dims = {0: torch.export.Dim("b"), 2: torch.export.Dim("h", min=2), 3: torch.export.Dim("w", min=2)}
    with export_form(form):
        program = torch.onnx.export(
            Warp(),
            (torch.rand(1, channels, 8, 12), torch.randn(1, 2, 8, 12)),
            dynamo=True,
            verbose=False,
            dynamic_shapes=(dims, dict(dims)),
            custom_translation_table=translations(),
        )
    program.save(str(path))
    return onnx.load(str(path))


@pytest.mark.parametrize("channels", [1, 3, 24])
def test_deform_form_is_one_deformconv_and_equals_the_eager_warp(tmp_path, channels):
    model = export_warp(tmp_path / "warp.onnx", "deform", channels)
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("DeformConv") == 1 and "GatherElements" not in ops and "GridSample" not in ops
    session = ort.InferenceSession(str(tmp_path / "warp.onnx"), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(channels)
    for batch, h, w in [(2, 37, 53), (1, 5, 3), (1, 64, 112)]:  # sizes other than the traced one
        image = torch.rand(batch, channels, h, w, generator=g) * 2 - 1
        flow = torch.randn(batch, 2, h, w, generator=g) * 4
        flow[:, 0, :, :2] -= 50  # far left of the frame: border padding
        flow[:, 1, -2:] += 50  # far below it
        out = session.run(None, {"image": image.numpy(), "flow": flow.numpy()})[0]
        # both sample at pixel + flow rounded to float32 (grid_sample via normalised coordinates):
        # ~1e-5 px apart at these sizes, times image gradients of up to 2 per pixel
        np.testing.assert_allclose(out, warp(image, flow).numpy(), rtol=0, atol=5e-5)


@pytest.fixture(scope="module")
def flow_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("edge-flow") / "model.safetensors"
    return save_checkpoint(path, build_model("edge-flow", {"base_channels": 8}), "edge-flow", {"steps": 0})


def test_opset_18_and_float16_exports_keep_the_gathers(flow_checkpoint, tmp_path):
    checkpoint_path = flow_checkpoint
    default = onnx.load(str(onnx_from_checkpoint(checkpoint_path, tmp_path / "a.onnx")))
    opset18 = onnx.load(str(onnx_from_checkpoint(checkpoint_path, tmp_path / "b.onnx", opset=18)))
    half = onnx.load(
        str(onnx_from_checkpoint(checkpoint_path, tmp_path / "c.onnx", options=OnnxOptions(fp16=True)))
    )
    assert {n.op_type for n in default.graph.node} >= {"DeformConv"}
    for model in (opset18, half):
        ops = {n.op_type for n in model.graph.node}
        assert "DeformConv" not in ops and "GatherElements" in ops
