import pytest
import torch
from corrwise.errors import ConfigError, InputError
from corrwise.models import EdgeUNet, EdgeUNetConfig, build_model, export_spec, list_models


def test_registry_lists_and_builds_edge_unet():
    assert "edge-unet" in list_models()
    model = build_model("edge-unet", {"base_channels": 8, "depth": 2})
    assert isinstance(model, EdgeUNet) and model.config == EdgeUNetConfig(8, 2)


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


def test_gradients_reach_every_parameter():
    model = build_model("edge-unet", {"base_channels": 8})
    torch.nn.init.normal_(model.head.weight, std=0.01)
    x0, x1 = torch.rand(2, 1, 3, 16, 16) * 0.5
    model(x0, x1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_export_spec_alignment_follows_depth():
    spec = export_spec("edge-unet", {"depth": 4})
    assert spec.align == 16 and spec.task == "interpolate"
    assert spec.input_names == ("frame0", "frame1") and spec.output_names == ("frame",)


def test_unaligned_input_names_the_multiple():
    model = build_model("edge-unet")
    with pytest.raises(InputError, match="multiples of 8"):
        model(torch.zeros(1, 3, 30, 32), torch.zeros(1, 3, 30, 32))


@pytest.mark.parametrize(
    "name, config, message",
    [
        ("no-such-net", None, "registered models"),
        ("edge-unet", {"channels": 3}, "unknown option"),
        ("edge-unet", {"base_channels": 2}, "base_channels"),
        ("edge-unet", {"depth": 9}, "depth"),
    ],
)
def test_bad_names_and_configs(name, config, message):
    with pytest.raises(ConfigError, match=message):
        build_model(name, config)
