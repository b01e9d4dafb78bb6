import json

import pytest
import torch
from corrwise.errors import CheckpointError, ConfigError
from corrwise.models import build_model, load_checkpoint, save_checkpoint
from safetensors.torch import save_file


def test_round_trip_restores_weights_name_config_and_training(tmp_path):
    torch.manual_seed(1)
    model = build_model("edge-unet", {"base_channels": 8, "depth": 2})
    torch.nn.init.normal_(model.head.weight)
    path = save_checkpoint(tmp_path / "m.safetensors", model, "edge-unet", {"loss": "l1", "steps": 5})
    ckpt = load_checkpoint(path)
    assert ckpt.name == "edge-unet"
    assert ckpt.config == {"base_channels": 8, "depth": 2}
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
