import pytest
import torch
from corrwise.errors import ConfigError, InputError
from corrwise.models import EdgeFlow, EdgeFlowConfig, build_model, export_spec, list_models
from corrwise.models.edge_flow import cost_volume
from corrwise.models.warp import base_grid, resample, warp
from corrwise.tolerances import tolerance_for

TORCH_FP32 = tolerance_for("torch", "fp32").max_abs


def frames(count, batch=1, h=64, w=96):
    return [torch.rand(batch, 3, h, w) * 2 - 1 for _ in range(count)]


def smooth_image(h, w, seed=0):
    """(1, 3, h, w) in [-0.9, 0.9] with structure at several scales (no flat regions)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=g) * 1.6 - 0.8
    fine = torch.rand(1, 3, h, w, generator=g) * 0.2 - 0.1  # total within [-0.9, 0.9]: no clamping
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False) + fine


def randomize_heads(model, std=0.05):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0.0, std)
    return model.eval()


def test_registry_lists_and_builds_edge_flow():
    assert "edge-flow" in list_models()
    model = build_model("edge-flow", {"base_channels": 8, "levels": 2})
    assert isinstance(model, EdgeFlow) and model.config == EdgeFlowConfig(base_channels=8, levels=2)


def test_export_spec_names_alignment_and_minimum_size():
    spec = export_spec("edge-flow", {"search_radius": 2})
    assert spec.task == "interpolate" and spec.input_names == ("frame0", "frame1")
    assert spec.output_names == ("frame",) and spec.align == 16 and spec.min_size == 48
    assert spec.timestep_input is None
    assert export_spec("edge-flow", {"timestep": True}).timestep_input == "timestep"


def test_candidate_selection_needs_twice_the_alignment():
    spec = export_spec("edge-flow", {"search_radius": 2, "select_window": 5})
    assert spec.align == 32 and spec.min_size == 96


def test_selection_keeps_a_still_scene_still_when_the_estimate_is_wrong():
    """Two equal frames and flow heads that move things anyway: no motion aligns them exactly, so
    selection gives it nearly all the weight and the frame comes back; without selection it does not."""
    x = smooth_image(96, 128)
    options = {"base_channels": 8, "refine_channels": 0}
    plain = randomize_heads(build_model("edge-flow", options), std=1.0)
    selecting = build_model("edge-flow", {**options, "select_window": 3})
    selecting.load_state_dict(plain.state_dict())  # selection has no parameters of its own
    selecting.eval()
    with torch.no_grad():
        wrong = (plain(x, x) - x).abs().mean()
        kept = (selecting(x, x) - x).abs().mean()
    assert wrong > 0.02  # the randomised heads do move the still scene
    assert kept < 0.1 * wrong


def constant_estimate(flow_x0, flow_x1, h, w):
    """(1, 5, h, w): flow t->0 = (flow_x0, 0), t->1 = (flow_x1, 0), mask logit 0."""
    values = torch.tensor([flow_x0, 0.0, flow_x1, 0.0, 0.0]).view(1, 5, 1, 1)
    return values.expand(1, 5, h, w).clone()


def test_selection_takes_the_candidate_that_aligns_the_frames(monkeypatch):
    """Frame 1 is frame 0 moved 8 px right, so the midpoint flows are -4 and +4 px. Given a wrong
    full-resolution estimate (the reverse) and a right estimate from the halved frames, the mixed
    estimate is the right one wherever the frames' content is inside both."""
    model = build_model("edge-flow", {"base_channels": 8, "select_window": 3}).eval()
    x0 = smooth_image(96, 128, seed=1)
    x1 = torch.roll(x0, shifts=8, dims=-1)  # x1(p) = x0(p - 8 px)
    wrong = constant_estimate(4.0, -4.0, 48, 64)  # full-resolution pixels, at half resolution
    right_on_halved = constant_estimate(-2.0, 2.0, 24, 32)  # pixels of the halved frames, at 1/4
    monkeypatch.setattr(model, "estimate_half", lambda a, b: right_on_halved)
    with torch.no_grad():
        mixed = model.select(x0, x1, wrong)
    assert mixed.shape == (1, 5, 48, 64)
    interior = mixed[0, :, 8:-8, 8:-8]  # away from the borders, where the roll wraps around
    torch.testing.assert_close(interior[0].mean(), torch.tensor(-4.0), atol=0.1, rtol=0)
    torch.testing.assert_close(interior[2].mean(), torch.tensor(4.0), atol=0.1, rtol=0)


@pytest.mark.parametrize("levels", [1, 3, 4])
def test_forward_shape_and_range(levels):
    model = randomize_heads(build_model("edge-flow", {"base_channels": 8, "levels": levels}), std=1.0)
    x0, x1 = frames(2, batch=2, h=48, w=80)
    with torch.no_grad():
        y = model(x0, x1)
    assert y.shape == (2, 3, 48, 80)
    assert y.min() >= -1 and y.max() <= 1
    assert (y - 0.5 * (x0 + x1)).abs().max() > TORCH_FP32  # the trained-looking network is not the blend


def test_untrained_network_returns_a_still_frame():
    """Two equal frames: every matching cost is symmetric in d, so the flow is zero: the frame comes back."""
    model = build_model("edge-flow", {"base_channels": 8}).eval()
    (x,) = frames(1, batch=2)
    with torch.no_grad():
        torch.testing.assert_close(model(x, x), x, rtol=0, atol=10 * TORCH_FP32)


def test_zero_flow_and_half_mask_give_the_blend():
    model = randomize_heads(build_model("edge-flow", {"base_channels": 8, "refine_channels": 0}))
    x0, x1 = frames(2, batch=2)
    flow, logit = torch.zeros(2, 4, 64, 96), torch.zeros(2, 1, 64, 96)
    out = model.synthesise(x0, x1, flow, logit, None)
    torch.testing.assert_close(out, 0.5 * (x0 + x1), rtol=0, atol=TORCH_FP32)


def test_timestep_scales_the_fusion_weights():
    """Zero flow and mask 0.5 at time t: the blend (1 - t) * frame0 + t * frame1."""
    model = build_model("edge-flow", {"base_channels": 8, "timestep": True, "refine_channels": 0}).eval()
    x0, x1 = frames(2, batch=2)
    t = torch.tensor([0.25, 0.8]).view(2, 1, 1, 1)
    flow, logit = torch.zeros(2, 4, 64, 96), torch.zeros(2, 1, 64, 96)
    out = model.synthesise(x0, x1, flow, logit, t)
    torch.testing.assert_close(out, (1 - t) * x0 + t * x1, rtol=0, atol=10 * TORCH_FP32)
    (x,) = frames(1, batch=2)
    with torch.no_grad():
        torch.testing.assert_close(model(x, x, t), x, rtol=0, atol=10 * TORCH_FP32)


def test_timestep_scales_the_flows():
    """Flow (-3, 0) / (3, 0) at the midpoint becomes (-6t, 0) / (6(1 - t), 0) at time t."""
    model = build_model("edge-flow", {"base_channels": 8, "timestep": True, "refine_channels": 0}).eval()
    image = smooth_image(64, 112)
    t = torch.full((1, 1, 1, 1), 0.25)
    x0, x1 = image[..., 10:-6], image[..., 4:-12]  # content moves 6 px left from frame 0 to frame 1
    flow = torch.tensor([-3.0, 0.0, 3.0, 0.0]).view(1, 4, 1, 1).expand(1, 4, 64, 96)
    logit = torch.full((1, 1, 64, 96), 30.0)  # frame 0 only
    out = model.synthesise(x0, x1, flow, logit, t)
    expected = warp(x0, torch.tensor([-1.5, 0.0]).view(1, 2, 1, 1).expand(1, 2, 64, 96))  # 1.5 px moved
    torch.testing.assert_close(out[..., 4:-4], expected[..., 4:-4], rtol=0, atol=10 * TORCH_FP32)


def test_synthesis_moves_content_along_the_flow():
    """Frame 0 shows the content 3 px right of the middle, frame 1 3 px left: flows (-3, 0), (3, 0)."""
    model = build_model("edge-flow", {"base_channels": 8, "refine_channels": 0}).eval()
    image = smooth_image(64, 112)
    middle, x0, x1 = image[..., 8:-8], image[..., 11:-5], image[..., 5:-11]  # (1, 3, 64, 96)
    flow = torch.tensor([-3.0, 0.0, 3.0, 0.0]).view(1, 4, 1, 1).expand(1, 4, 64, 96)
    out = model.synthesise(x0, x1, flow, torch.zeros(1, 1, 64, 96), None)
    interior = (..., slice(4, -4))
    torch.testing.assert_close(out[interior], middle[interior], rtol=0, atol=TORCH_FP32)
    assert (0.5 * (x0 + x1) - middle)[interior].abs().max() > 0.05  # the blend would not do


@pytest.mark.parametrize("shift", [(2, 0), (-3, 1), (0, -4)])
def test_warp_undoes_a_known_shift_in_the_interior(shift):
    """image1(x) = image0(x - s): warping image1 by flow s gives image0 back where x + s is inside."""
    sx, sy = shift
    image0 = smooth_image(40, 56, seed=1)
    image1 = torch.roll(image0, shifts=(sy, sx), dims=(2, 3))
    flow = torch.tensor([float(sx), float(sy)]).view(1, 2, 1, 1).expand(1, 2, 40, 56)
    out = warp(image1, flow)
    inner = (..., slice(5, -5), slice(5, -5))
    torch.testing.assert_close(out[inner], image0[inner], rtol=0, atol=TORCH_FP32)


def test_warp_by_half_a_pixel_averages_neighbours():
    image = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 4, 8).contiguous()
    flow = torch.zeros(1, 2, 4, 8)
    flow[:, 0] = 0.5
    out = warp(image, flow)
    torch.testing.assert_close(out[0, 0, :, :7], image[0, 0, :, :7] + 0.5, rtol=0, atol=TORCH_FP32)
    assert torch.equal(out[0, 0, :, 7], image[0, 0, :, 7])  # the border repeats


def test_resample_keeps_a_linear_ramp_linear():
    """Bilinear with align_corners=False: a ramp at 1/2 resolution upsamples to the full-resolution ramp."""
    xs = torch.arange(16.0) * 2 + 0.5  # pixel-centre positions of the 1/2 grid in full-resolution pixels
    low = xs.view(1, 1, 1, 16).expand(1, 1, 6, 16)
    high = resample(low, 12, 32)
    assert high.shape == (1, 1, 12, 32)
    torch.testing.assert_close(high[0, 0, :, 1:-1], torch.arange(1.0, 31.0).expand(12, 30), rtol=0, atol=1e-5)


def test_base_grid_is_pixel_centres():
    grid = base_grid(2, 4, torch.zeros(1))
    assert grid.shape == (1, 2, 4, 2)
    torch.testing.assert_close(grid[0, 0, :, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    torch.testing.assert_close(grid[0, :, 0, 1], torch.tensor([-0.5, 0.5]))


def test_cost_volume_peaks_at_the_symmetric_displacement():
    """f1(y) = f0(y - 2d) for d = (1, 0): channel (dy + R) * (2R + 1) + (dx + R) is the largest."""
    torch.manual_seed(0)
    f0 = torch.randn(1, 32, 12, 16)
    f1 = torch.roll(f0, shifts=2, dims=3)
    cost = cost_volume(f0, f1, radius=2)
    assert cost.shape == (1, 25, 12, 16)
    best = cost[..., 3:-3, 3:-3].argmax(dim=1)
    assert (best == (0 + 2) * 5 + (1 + 2)).all()


def test_sizes_off_the_alignment_are_input_errors():
    model = build_model("edge-flow", {"base_channels": 8}).eval()
    with pytest.raises(InputError, match="multiples of 16"):
        model(*frames(2, h=50, w=64))
    with pytest.raises(InputError, match="takes 2 inputs"):
        model(*frames(3))


@pytest.mark.parametrize(
    "options, match",
    [
        ({"task": "predict"}, r"unknown option\(s\) \['task'\]"),
        ({"levels": 0}, "levels"),
        ({"levels": 5}, "levels"),
        ({"search_radius": 0}, "search_radius"),
        ({"base_channels": 2}, "base_channels"),
        ({"refine_channels": -1}, "refine_channels"),
        ({"timestep": 1}, "timestep must be true or false"),
        ({"select_window": 4}, "select_window"),
        ({"select_window": 17}, "select_window"),
        ({"select_window": True}, "select_window"),
        ({"select_temperature": 0.0}, "select_temperature"),
        ({"context_frames": 4}, "unknown option"),
        ({"depth": 3}, "unknown option"),
    ],
)
def test_bad_configs_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        build_model("edge-flow", options)
