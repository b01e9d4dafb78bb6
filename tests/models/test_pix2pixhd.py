import pytest
import torch
from corrwise.errors import ConfigError, InputError
from corrwise.models import Pix2PixHDConfig, Pix2PixHDGlobal, build_model, export_spec, list_models
from corrwise.tolerances import tolerance_for

TORCH_FP32 = tolerance_for("torch", "fp32").max_abs
SMALL = {"ngf": 8, "n_downsampling": 2, "n_blocks": 1}
VARIANTS = {
    "interpolate": ({}, 2, False),
    "timestep": ({"timestep": True}, 2, True),
    "predict": ({"task": "predict"}, 3, False),
    "predict-k2": ({"task": "predict", "context_frames": 2}, 2, False),
}


def frames(count, batch=1, h=16, w=24, scale=1.0):
    return [(torch.rand(batch, 3, h, w) * 2 - 1) * scale for _ in range(count)]


def inputs_for(variant, batch=1, h=16, w=24, scale=1.0):
    _, count, timestep = VARIANTS[variant]
    xs = frames(count, batch, h, w, scale)
    return [*xs, torch.full((batch, 1, 1, 1), 0.3)] if timestep else xs


def build(variant, **extra):
    return build_model("pix2pixhd-global", {**SMALL, **VARIANTS[variant][0], **extra})


def test_registry_builds_the_paper_defaults():
    assert "pix2pixhd-global" in list_models()
    config = Pix2PixHDConfig()
    assert (config.ngf, config.n_downsampling, config.n_blocks) == (64, 4, 9)
    assert export_spec("pix2pixhd-global").align == 16
    model = build_model("pix2pixhd-global", {"ngf": 4})  # the paper's depth at a 16th of its width
    assert isinstance(model, Pix2PixHDGlobal) and model.config == Pix2PixHDConfig(ngf=4)
    assert len(model.blocks) == 9 and model.blocks[0].conv1.layer[1].in_channels == 4 * 2**4


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_forward_shape_range_and_input_channels(variant):
    torch.manual_seed(0)
    model = build(variant).eval()
    count = VARIANTS[variant][1]
    assert model.stem.layer[1].in_channels == 3 * count  # time conditions the norms, not the input
    y = model(*inputs_for(variant, batch=2, h=20, w=28))
    assert y.shape == (2, 3, 20, 28)
    assert y.min() >= -1 and y.max() <= 1


def test_upsampling_is_the_papers_transposed_convolution():
    model = build("interpolate")
    ups = [stage.layer for stage in model.up]
    assert all(isinstance(u, torch.nn.ConvTranspose2d) for u in ups)
    assert [(u.in_channels, u.out_channels) for u in ups] == [(32, 16), (16, 8)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and not any(n.affine for n in norms)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_global_brightness_shift_of_the_frames_does_not_change_the_output(variant):
    """Reflection padding keeps a shift constant, and the first InstanceNorm removes it."""
    torch.manual_seed(0)
    model = build(variant).eval()
    inputs = inputs_for(variant, scale=0.5)
    count = VARIANTS[variant][1]
    shifted = [x + 0.3 for x in inputs[:count]] + inputs[count:]
    torch.testing.assert_close(model(*shifted), model(*inputs), rtol=0, atol=TORCH_FP32)


def test_untrained_time_conditioning_is_the_papers_generator():
    """The time scales and shifts start at zero: with the same other weights, t changes nothing yet."""
    torch.manual_seed(0)
    plain, timed = build("interpolate").eval(), build("timestep").eval()
    missing, unexpected = timed.load_state_dict(plain.state_dict(), strict=False)
    assert (
        not unexpected and missing and all(k.split(".")[-1] in ("time_scale", "time_shift") for k in missing)
    )
    x0, x1 = frames(2)
    for t in (0.1, 0.5, 0.9):
        torch.testing.assert_close(timed(x0, x1, torch.full((1, 1, 1, 1), t)), plain(x0, x1))


def test_a_constant_time_plane_would_be_erased_by_instance_norm():
    """Why time conditions the norms: conv + InstanceNorm answer a constant plane t with nothing."""
    conv = torch.nn.Sequential(torch.nn.ReflectionPad2d(3), torch.nn.Conv2d(7, 8, 7))
    norm = torch.nn.InstanceNorm2d(8)
    x = torch.rand(1, 6, 16, 16)
    y = [norm(conv(torch.cat([x, torch.full((1, 1, 16, 16), t)], 1))) for t in (0.2, 0.7)]
    torch.testing.assert_close(y[0], y[1], rtol=0, atol=TORCH_FP32)


def test_trained_time_conditioning_makes_the_output_depend_on_t():
    torch.manual_seed(0)
    model = build("timestep").eval()
    for name, p in model.named_parameters():
        if "time_" in name:
            torch.nn.init.normal_(p, std=0.5)
    x0, x1 = frames(2, batch=2)
    at = [model(x0, x1, torch.full((2, 1, 1, 1), t)) for t in (0.2, 0.7)]
    assert (at[0] - at[1]).abs().max() > TORCH_FP32
    mixed = model(x0, x1, torch.tensor([0.2, 0.7]).view(2, 1, 1, 1))
    torch.testing.assert_close(mixed, torch.cat([at[0][:1], at[1][1:]]), rtol=0, atol=TORCH_FP32)


@pytest.mark.parametrize("variant", ["interpolate", "timestep", "predict"])
def test_gradients_reach_every_parameter(variant):
    model = build(variant).train()
    model(*inputs_for(variant, batch=2)).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_export_spec():
    spec = export_spec("pix2pixhd-global", {"n_downsampling": 3, "timestep": True})
    assert spec.task == "interpolate" and spec.align == 8 and spec.min_size == 16
    assert spec.input_names == ("frame0", "frame1") and spec.timestep_input == "timestep"
    spec = export_spec("pix2pixhd-global", {"task": "predict"})
    assert spec.task == "predict" and spec.align == 16 and spec.timestep_input is None
    assert spec.input_names == ("frame0", "frame1", "frame2")


@pytest.mark.parametrize(
    "variant, inputs, message",
    [
        ("interpolate", frames(2, h=16, w=18), "multiples of 4"),
        ("interpolate", frames(2, h=4, w=24), r"H and W >= 8 \(two pixels at its 1/4 bottleneck\)"),
        ("interpolate", frames(3), r"takes 2 inputs"),
        ("predict", frames(2), r"takes 3 inputs \(frame0, frame1, frame2\), got 2"),
        ("timestep", [*frames(2), torch.full((1, 1, 2, 2), 0.5)], "timestep must be"),
        ("timestep", [*frames(2), 0.5], "timestep must be .* got float"),
    ],
)
def test_bad_inputs_are_named(variant, inputs, message):
    with pytest.raises(InputError, match=message):
        build(variant)(*inputs)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"ngf": 2}, "ngf"),
        ({"n_downsampling": 0}, "n_downsampling"),
        ({"n_blocks": -1}, "n_blocks"),
        ({"n_blocks": True}, "n_blocks"),
        ({"task": "predict", "timestep": True}, "timestep=True needs task='interpolate'"),
        ({"task": "predict", "context_frames": 0}, "context_frames"),
        ({"context_frames": 5}, "applies to task='predict' only"),
        ({"task": "segment"}, "task must be one of"),
        ({"norm": "batch"}, "unknown option"),
    ],
)
def test_bad_configs(config, message):
    with pytest.raises(ConfigError, match=message):
        build_model("pix2pixhd-global", config)
