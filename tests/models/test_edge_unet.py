import dataclasses

import pytest
import torch
from corrwise.errors import ConfigError, InputError
from corrwise.models import EdgeUNet, EdgeUNetConfig, build_model, export_spec, list_models
from corrwise.tolerances import tolerance_for

TORCH_FP32 = tolerance_for("torch", "fp32").max_abs


def frames(count, batch=1, h=32, w=32):
    return [torch.rand(batch, 3, h, w) * 2 - 1 for _ in range(count)]


def test_registry_lists_and_builds_edge_unet():
    assert "edge-unet" in list_models()
    model = build_model("edge-unet", {"base_channels": 8, "depth": 2})
    assert isinstance(model, EdgeUNet) and model.config == EdgeUNetConfig(8, 2)


def test_old_config_dict_builds_the_same_interpolation_network():
    """A config written before task/context_frames/timestep existed still means the midpoint interpolator."""
    model = build_model("edge-unet", {"base_channels": 8, "depth": 2})
    assert model.config.task == "interpolate" and not model.config.timestep
    assert model.stem[0][0].in_channels == 6
    explicit = build_model("edge-unet", dataclasses.asdict(model.config))
    shapes = {k: v.shape for k, v in explicit.state_dict().items()}
    assert shapes == {k: v.shape for k, v in model.state_dict().items()}


def test_forward_shape_and_range():
    torch.manual_seed(0)
    model = build_model("edge-unet", {"base_channels": 8}).eval()
    torch.nn.init.normal_(model.head.weight, std=1.0)  # large residuals: output must still be clipped
    x0, x1 = torch.rand(2, 2, 3, 40, 64) * 2 - 1
    y = model(x0, x1)
    assert y.shape == (2, 3, 40, 64)
    assert y.min() >= -1 and y.max() <= 1


def test_untrained_network_is_the_frame_blend():
    model = build_model("edge-unet").eval()
    x0, x1 = torch.rand(2, 1, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(model(x0, x1), 0.5 * (x0 + x1))


@pytest.mark.parametrize("context_frames", [1, 3, 4])
def test_predictor_shape_range_and_input_channels(context_frames):
    torch.manual_seed(0)
    model = build_model(
        "edge-unet", {"base_channels": 8, "task": "predict", "context_frames": context_frames}
    )
    torch.nn.init.normal_(model.head.weight, std=1.0)
    assert model.stem[0][0].in_channels == 3 * context_frames
    y = model.eval()(*frames(context_frames, batch=2, h=24, w=40))
    assert y.shape == (2, 3, 24, 40) and y.min() >= -1 and y.max() <= 1


def test_untrained_predictor_returns_the_last_frame_exactly():
    model = build_model("edge-unet", {"base_channels": 8, "task": "predict"}).eval()
    past = frames(3, batch=2)
    assert torch.equal(model(*past), past[-1])


def test_untrained_timestep_interpolator_returns_the_blend_at_t():
    model = build_model("edge-unet", {"base_channels": 8, "timestep": True}).eval()
    assert model.stem[0][0].in_channels == 7
    x0, x1 = frames(2, batch=2)
    t = torch.tensor([0.25, 0.8]).view(2, 1, 1, 1)
    torch.testing.assert_close(model(x0, x1, t), (1 - t) * x0 + t * x1, rtol=0, atol=TORCH_FP32)


def test_timestep_reaches_the_network():
    torch.manual_seed(0)
    model = build_model("edge-unet", {"base_channels": 8, "timestep": True}).eval()
    torch.nn.init.normal_(model.head.weight, std=0.05)
    x0, x1 = frames(2)
    at = [model(x0, x1, torch.full((1, 1, 1, 1), t)) - ((1 - t) * x0 + t * x1) for t in (0.2, 0.7)]
    assert (at[0] - at[1]).abs().max() > TORCH_FP32  # the residual, not only the blend, depends on t


@pytest.mark.parametrize(
    "config", [{}, {"timestep": True}, {"task": "predict"}, {"task": "predict", "context_frames": 2}]
)
def test_gradients_reach_every_parameter(config):
    model = build_model("edge-unet", {"base_channels": 8, **config})
    torch.nn.init.normal_(model.head.weight, std=0.01)
    spec = model.export_spec(model.config)
    inputs = [x * 0.5 for x in frames(len(spec.input_names), h=16, w=16)]
    if spec.timestep_input:
        inputs.append(torch.full((1, 1, 1, 1), 0.3))
    model(*inputs).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_export_spec_alignment_follows_depth():
    spec = export_spec("edge-unet", {"depth": 4})
    assert spec.align == 16 and spec.task == "interpolate" and spec.timestep_input is None
    assert spec.input_names == ("frame0", "frame1") and spec.output_names == ("frame",)


def test_export_spec_of_the_variants():
    spec = export_spec("edge-unet", {"timestep": True})
    assert spec.input_names == ("frame0", "frame1") and spec.timestep_input == "timestep"
    spec = export_spec("edge-unet", {"task": "predict", "context_frames": 4, "depth": 2})
    assert spec.task == "predict" and spec.align == 4 and spec.timestep_input is None
    assert spec.input_names == ("frame0", "frame1", "frame2", "frame3")


def test_unaligned_input_names_the_multiple():
    model = build_model("edge-unet")
    with pytest.raises(InputError, match="multiples of 8"):
        model(torch.zeros(1, 3, 30, 32), torch.zeros(1, 3, 30, 32))


@pytest.mark.parametrize(
    "config, inputs, message",
    [
        ({}, frames(3), r"takes 2 inputs \(frame0, frame1\), got 3"),
        ({"task": "predict"}, frames(2), r"takes 3 inputs \(frame0, frame1, frame2\), got 2"),
        ({"timestep": True}, frames(2), r"takes 3 inputs \(frame0, frame1, timestep\)"),
        ({"timestep": True}, [*frames(2), torch.full((1, 1, 1), 0.5)], r"timestep must be .* \(1, 1, 1, 1\)"),
        ({"timestep": True}, [*frames(2), torch.full((2, 1, 1, 1), 0.5)], "timestep must be"),
        ({"timestep": True}, [*frames(2), torch.ones(1, 1, 1, 1, dtype=torch.int64)], "torch.int64"),
        ({}, [torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 40)], "one shape"),
        ({}, [torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32)], r"\(B, 3, H, W\)"),
        ({"task": "predict"}, [*frames(2), torch.zeros(3, 32, 32)], "frame2 must be"),
    ],
)
def test_bad_inputs_are_named(config, inputs, message):
    model = build_model("edge-unet", {"base_channels": 8, **config})
    with pytest.raises(InputError, match=message):
        model(*inputs)


@pytest.mark.parametrize(
    "name, config, message",
    [
        ("no-such-net", None, "registered models"),
        ("edge-unet", {"channels": 3}, "unknown option"),
        ("edge-unet", {"base_channels": 2}, "base_channels"),
        ("edge-unet", {"depth": 9}, "depth"),
        ("edge-unet", {"task": "extrapolate"}, "task must be one of"),
        ("edge-unet", {"task": "predict", "timestep": True}, "timestep=True needs task='interpolate'"),
        ("edge-unet", {"task": "predict", "context_frames": 0}, "context_frames must be an integer"),
        ("edge-unet", {"task": "predict", "context_frames": 17}, "context_frames must be an integer"),
        ("edge-unet", {"task": "predict", "context_frames": 2.0}, "context_frames must be an integer"),
        ("edge-unet", {"context_frames": 4}, "applies to task='predict' only"),
        ("edge-unet", {"timestep": "false"}, "timestep must be true or false"),
    ],
)
def test_bad_names_and_configs(name, config, message):
    with pytest.raises(ConfigError, match=message):
        build_model(name, config)
