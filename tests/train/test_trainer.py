import json

import pytest
import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.models import build_model, load_checkpoint
from corrwise.train import SyntheticConfig, SyntheticTriplets, TrainConfig, train_interpolation

SMALL = SyntheticConfig(height=32, width=48)


def test_l1_falls_when_fitting_a_fixed_batch():
    torch.manual_seed(0)
    data = SyntheticTriplets(SMALL, length=4)
    batch = {k: torch.stack([data[i][k] for i in range(4)]) for k in ("frame0", "frame1", "target")}
    model = build_model("edge-unet", {"base_channels": 8})
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = F.l1_loss(model(batch["frame0"], batch["frame1"]), batch["target"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_training_run_writes_a_loadable_checkpoint_and_summary(tmp_path):
    config = TrainConfig(model_config={"base_channels": 8}, data=SMALL, steps=5, batch_size=2, val_samples=4)
    result = train_interpolation(config, tmp_path, progress=False)
    assert result.steps == 5
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.name == "edge-unet" and ckpt.training["loss"] == "l1" and ckpt.training["steps"] == 5
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 5 and summary["blend_psnr_db"] > 10


def test_wall_clock_budget_stops_early(tmp_path):
    config = TrainConfig(
        model_config={"base_channels": 8},
        data=SMALL,
        steps=10_000,
        batch_size=1,
        max_seconds=0.0,
        val_samples=1,
    )
    assert train_interpolation(config, tmp_path, progress=False).steps == 0


def test_unaligned_training_size_is_rejected(tmp_path):
    config = TrainConfig(data=SyntheticConfig(height=36, width=48), steps=1)
    with pytest.raises(ConfigError, match="multiple of 8"):
        train_interpolation(config, tmp_path, progress=False)


def test_invalid_hyperparameters():
    with pytest.raises(ConfigError):
        TrainConfig(steps=0)
    with pytest.raises(ConfigError):
        TrainConfig(lr=5.0)
