import dataclasses
import json

import pytest
import torch
from corrwise.errors import CheckpointError, ConfigError
from corrwise.models import build_model, load_checkpoint, reconfigure_checkpoint, save_checkpoint
from safetensors.torch import save_file

# Every registered model and variant, small enough to build in milliseconds.
VARIANTS = {
    "edge-unet": ("edge-unet", {"base_channels": 8, "depth": 2}),
    "edge-unet-timestep": ("edge-unet", {"base_channels": 8, "depth": 2, "timestep": True}),
    "edge-unet-predict": (
        "edge-unet",
        {"base_channels": 8, "depth": 2, "task": "predict", "context_frames": 2},
    ),
    "video-predictor-3d": ("video-predictor-3d", {"ngf": 8, "n_down": 2}),
    "pix2pixhd-global": ("pix2pixhd-global", {"ngf": 8, "n_downsampling": 2, "n_blocks": 1}),
    "pix2pixhd-global-timestep": (
        "pix2pixhd-global",
        {"ngf": 8, "n_downsampling": 2, "n_blocks": 1, "timestep": True},
    ),
    "pix2pixhd-global-predict": (
        "pix2pixhd-global",
        {"ngf": 8, "n_downsampling": 2, "n_blocks": 1, "task": "predict"},
    ),
}


def randomize(model):
    """Non-trivial weights and normalisation statistics, so a round trip that drops any of them shows."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.1)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def example(model):
    spec = model.export_spec(model.config)
    frames = [torch.rand(2, 3, 16, 24) * 2 - 1 for _ in spec.input_names]
    return [*frames, torch.tensor([0.3, 0.6]).view(2, 1, 1, 1)] if spec.timestep_input else frames


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_round_trip_gives_identical_outputs(tmp_path, variant):
    name, config = VARIANTS[variant]
    torch.manual_seed(0)
    model = randomize(build_model(name, config))
    path = save_checkpoint(tmp_path / "m.safetensors", model, name)
    ckpt = load_checkpoint(path)
    assert ckpt.name == name and ckpt.config == dataclasses.asdict(model.config)
    inputs = example(model)
    with torch.no_grad():
        assert torch.equal(ckpt.model(*inputs), model(*inputs))


def test_checkpoint_written_before_the_task_options_still_loads(tmp_path):
    """Old edge-unet checkpoints carry only base_channels and depth: they load as the midpoint model."""
    torch.manual_seed(0)
    model = randomize(build_model("edge-unet", {"base_channels": 8, "depth": 2}))
    path = tmp_path / "old.safetensors"
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    old_config = json.dumps({"base_channels": 8, "depth": 2})
    save_file(tensors, str(path), metadata={"corrwise.model": "edge-unet", "corrwise.config": old_config})
    ckpt = load_checkpoint(path)
    assert (
        ckpt.model.config == model.config and ckpt.model.export_spec(ckpt.model.config).timestep_input is None
    )
    inputs = example(model)
    with torch.no_grad():
        assert torch.equal(ckpt.model(*inputs), model(*inputs))


def test_round_trip_restores_weights_name_config_and_training(tmp_path):
    torch.manual_seed(1)
    model = build_model("edge-unet", {"base_channels": 8, "depth": 2})
    torch.nn.init.normal_(model.head.weight)
    path = save_checkpoint(tmp_path / "m.safetensors", model, "edge-unet", {"loss": "l1", "steps": 5})
    ckpt = load_checkpoint(path)
    assert ckpt.name == "edge-unet"
    assert ckpt.config == {
        "base_channels": 8,
        "depth": 2,
        "task": "interpolate",
        "context_frames": 3,
        "timestep": False,
    }
    assert ckpt.training == {"loss": "l1", "steps": 5}
    assert not ckpt.model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(ckpt.model.state_dict()[key], value, rtol=0, atol=0)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


@pytest.mark.parametrize(
    "content", [b"", b"garbage that is not a checkpoint", b"\x10\x00\x00\x00\x00\x00\x00\x00{bad json"]
)
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        load_checkpoint(path)


def test_truncated_file(tmp_path, checkpoint_path):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(checkpoint_path.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="do not load"):
        load_checkpoint(path)


def test_plain_safetensors_without_corrwise_metadata(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a corrwise checkpoint"):
        load_checkpoint(path)


def test_unknown_model_name_in_checkpoint(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file(
        {"w": torch.zeros(2)},
        str(path),
        metadata={"corrwise.model": "mystery", "corrwise.config": json.dumps({})},
    )
    with pytest.raises(ConfigError, match="unknown model 'mystery'"):
        load_checkpoint(path)


def test_reconfigure_switches_on_a_parameter_free_option(tmp_path):
    model = build_model("edge-flow", {"base_channels": 8}).eval()
    src = save_checkpoint(tmp_path / "plain.safetensors", model, "edge-flow", {"loss": "l1"})
    dst = reconfigure_checkpoint(src, tmp_path / "select.safetensors", {"select_window": 3})
    ckpt = load_checkpoint(dst)
    assert ckpt.config == {**load_checkpoint(src).config, "select_window": 3}
    assert ckpt.training == {"loss": "l1", "reconfigured": {"select_window": 3}}
    for key, value in model.state_dict().items():
        torch.testing.assert_close(ckpt.model.state_dict()[key], value, rtol=0, atol=0)


def test_reconfigure_refuses_options_that_change_the_parameters(tmp_path):
    model = build_model("edge-flow", {"base_channels": 8})
    src = save_checkpoint(tmp_path / "a.safetensors", model, "edge-flow")
    with pytest.raises(CheckpointError, match="do not carry over"):
        reconfigure_checkpoint(src, tmp_path / "b.safetensors", {"refine_channels": 4})
    with pytest.raises(CheckpointError, match="add or reshape"):
        reconfigure_checkpoint(src, tmp_path / "b.safetensors", {"levels": 4})  # a new flow block
    with pytest.raises(ConfigError, match="select_window"):
        reconfigure_checkpoint(src, tmp_path / "b.safetensors", {"select_window": 2})
    assert not (tmp_path / "b.safetensors").exists()


def test_reconfigure_drops_the_weights_of_a_removed_part(tmp_path):
    model = build_model("edge-flow", {"base_channels": 8}).eval()
    src = save_checkpoint(tmp_path / "a.safetensors", model, "edge-flow", {"loss": "l1"})
    dst = reconfigure_checkpoint(src, tmp_path / "b.safetensors", {"refine_channels": 0})
    ckpt = load_checkpoint(dst)
    assert ckpt.model.refine is None and "refine" not in ckpt.model.head
    assert ckpt.training["dropped_weights"] == [
        "head.refine.bias",
        "head.refine.weight",
        "refine.0.bias",
        "refine.0.weight",
    ]
    state = ckpt.model.state_dict()
    assert state and all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    # the residual head starts at zero, so without it the untrained model computes the same frame
    x0, x1 = torch.rand(2, 1, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(ckpt.model(x0, x1), model(x0, x1))
