"""The bilinear warp's forms (grid_sample, gathers, DeformConv offsets) and resampling agree."""

import onnx
import pytest
import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.models.warp import (
    base_grid,
    border_offsets,
    deform_warp,
    export_form,
    gather_warp,
    resample,
    warp,
)
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 2),
    channels=st.integers(1, 5),
    height=st.integers(1, 23),
    width=st.integers(1, 31),
    scale=st.sampled_from([0.0, 0.3, 4.0, 60.0]),  # sub-pixel to far outside the frame
    seed=st.integers(0, 2**16),
)
def test_gather_warp_equals_grid_sample_warp(batch, channels, height, width, scale, seed):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, channels, height, width, generator=g) * 2 - 1
    flow = torch.randn(batch, 2, height, width, generator=g) * scale
    torch.testing.assert_close(gather_warp(image, flow), warp(image, flow), rtol=0, atol=2e-5)


def test_gather_warp_reads_integer_shifts_exactly_and_repeats_the_border():
    image = torch.arange(20.0).view(1, 1, 4, 5)
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0], flow[:, 1] = 1.0, -7.0  # one column right, far above the top row
    expected = image[:, :, :1, [1, 2, 3, 4, 4]].expand(1, 1, 4, 5)
    assert torch.equal(gather_warp(image, flow), expected)


@settings(max_examples=30, deadline=None)
@given(
    height=st.integers(1, 23),
    width=st.integers(1, 31),
    scale=st.sampled_from([0.0, 0.3, 4.0, 60.0]),
    seed=st.integers(0, 2**16),
)
def test_border_offsets_keep_samples_in_the_frame_and_the_warp_unchanged(height, width, scale, seed):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, height, width, generator=g) * 2 - 1
    flow = torch.randn(2, 2, height, width, generator=g) * scale
    offsets = border_offsets(flow)  # (dy, dx)
    ys = torch.arange(height).view(1, height, 1) + offsets[:, 0]
    xs = torch.arange(width).view(1, 1, width) + offsets[:, 1]
    assert ys.min() >= 0 and ys.max() <= height - 1 and xs.min() >= 0 and xs.max() <= width - 1
    target = torch.arange(height).view(1, height, 1) + flow[:, 1]
    inside = (target >= 0) & (target <= height - 1)  # offsets of points inside the frame pass unchanged
    assert torch.equal(offsets[:, 0][inside], flow[:, 1][inside])
    torch.testing.assert_close(deform_warp(image, offsets), warp(image, flow), rtol=0, atol=2e-5)


def test_export_form_rejects_unknown_forms_and_restores_the_default():
    with pytest.raises(ConfigError, match="gather"), export_form("grid"):
        pass
    with pytest.raises(RuntimeError), export_form("deform"):
        raise RuntimeError("export failed")
    exported = torch.export.export(Sampler(), (torch.rand(1, 3, 8, 12), torch.randn(1, 2, 8, 12)))
    assert "deform_warp" not in str(exported.graph)  # back to the gathers after the failed block


class Sampler(torch.nn.Module):
    def forward(self, image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        moved = warp(image, flow)  # (B, C, H, W)
        return resample(moved, moved.shape[-2] * 2, moved.shape[-1] * 2)  # (B, C, 2H, 2W)


def test_exported_graph_gathers_and_resizes_instead_of_grid_sampling(tmp_path):
    image, flow = torch.rand(1, 3, 8, 12), torch.randn(1, 2, 8, 12) * 3
    path = tmp_path / "sampler.onnx"
    torch.onnx.export(Sampler(), (image, flow), str(path), dynamo=True, verbose=False)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "GridSample" not in ops and {"GatherElements", "Resize"} <= ops


def test_resample_is_warps_sampler_at_the_target_size():
    """Zero-flow sampling at the pixel centres of the target grid, border padding: warp's convention."""
    x = torch.randn(2, 4, 9, 13)
    for size in [(18, 26), (36, 52), (9, 13), (20, 7)]:
        grid = base_grid(*size, x).expand(2, *size, 2)
        expected = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        torch.testing.assert_close(resample(x, *size), expected, rtol=0, atol=1e-5)
