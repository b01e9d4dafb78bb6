import pytest
import torch
from corrwise.errors import ConfigError, InputError
from corrwise.models import VideoPredictor3D, VideoPredictor3DConfig, build_model, export_spec, list_models
from corrwise.tolerances import tolerance_for

TORCH_FP32 = tolerance_for("torch", "fp32").max_abs
SMALL = {"ngf": 8, "n_down": 2}


def frames(count, batch=1, h=16, w=24):
    return [torch.rand(batch, 3, h, w) * 2 - 1 for _ in range(count)]


def test_registry_builds_the_video_predictor():
    assert "video-predictor-3d" in list_models()
    model = build_model("video-predictor-3d", SMALL)
    assert isinstance(model, VideoPredictor3D)
    assert model.config == VideoPredictor3DConfig(ngf=8, context_frames=3, n_down=2)


@pytest.mark.parametrize("context_frames", [1, 3, 5])
def test_forward_shape_and_range(context_frames):
    torch.manual_seed(0)
    model = build_model("video-predictor-3d", {**SMALL, "context_frames": context_frames}).eval()
    y = model(*frames(context_frames, batch=2, h=20, w=28))
    assert y.shape == (2, 3, 20, 28)
    assert y.min() >= -1 and y.max() <= 1


def test_time_is_collapsed_by_a_conv_over_all_k_frames():
    model = build_model("video-predictor-3d", {**SMALL, "context_frames": 4})
    for collapse in model.collapse:
        conv = collapse[0]
        assert conv.kernel_size[0] == 4 and conv.padding[0] == 0 and conv.stride[0] == 1
    widths = [stage[0].out_channels for stage in model.encoder]
    assert widths == [8, 16, 32]
    assert all(stage[0].stride == (1, 2, 2) for stage in model.encoder[1:])


def test_output_depends_on_every_context_frame_and_their_order():
    torch.manual_seed(0)
    model = build_model("video-predictor-3d", SMALL).eval()
    past = frames(3)
    y = model(*past)
    for i in range(3):
        changed = list(past)
        changed[i] = -past[i]
        assert (model(*changed) - y).abs().max() > TORCH_FP32, f"frame{i} is ignored"
    assert (model(*reversed(past)) - y).abs().max() > TORCH_FP32, "the order of the frames is ignored"


def test_eval_mode_treats_samples_independently():
    torch.manual_seed(0)
    model = build_model("video-predictor-3d", SMALL).eval()
    past = frames(3, batch=3)
    together = model(*past)
    alone = torch.cat([model(*(f[i : i + 1] for f in past)) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=0, atol=TORCH_FP32)


def test_gradients_reach_every_parameter():
    model = build_model("video-predictor-3d", SMALL).train()
    model(*frames(3, batch=2)).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_export_spec():
    spec = export_spec("video-predictor-3d", {"n_down": 4, "context_frames": 2})
    assert spec.task == "predict" and spec.align == 16 and spec.timestep_input is None
    assert spec.input_names == ("frame0", "frame1") and spec.output_names == ("frame",)


@pytest.mark.parametrize(
    "inputs, message",
    [
        (frames(2), r"takes 3 inputs \(frame0, frame1, frame2\), got 2"),
        (frames(3, h=18), "multiples of 4"),
        ([*frames(2), torch.zeros(1, 3, 16, 16)], "one shape"),
        ([*frames(2), torch.zeros(1, 4, 16, 24)], r"frame2 must be a \(B, 3, H, W\)"),
    ],
)
def test_bad_inputs_are_named(inputs, message):
    model = build_model("video-predictor-3d", SMALL)
    with pytest.raises(InputError, match=message):
        model(*inputs)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"ngf": 2}, "ngf"),
        ({"n_down": 0}, "n_down"),
        ({"n_down": 7}, "n_down"),
        ({"context_frames": 0}, "context_frames"),
        ({"task": "predict"}, "unknown option"),
        ({"timestep": True}, "unknown option"),
    ],
)
def test_bad_configs(config, message):
    with pytest.raises(ConfigError, match=message):
        build_model("video-predictor-3d", config)
