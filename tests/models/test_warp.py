"""The two formulations of the bilinear warp and of resampling agree, and exports take the fast ones."""

import onnx
import torch
import torch.nn.functional as F
from corrwise.models.warp import base_grid, gather_warp, resample, warp
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
