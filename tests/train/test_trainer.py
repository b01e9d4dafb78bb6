"""The trainer: what a run writes, exact resume, refusals, both tasks, and the corr-wise loss in the loop."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from corrwise.errors import ConfigError
from corrwise.models import build_model, load_checkpoint
from corrwise.train.config import RunConfig
from corrwise.train.criterion import Criterion
from corrwise.train.data import DataConfig, build_dataset
from corrwise.train.tasks import run_model
from corrwise.train.train_state import find_resumable
from corrwise.train.trainer import train
from PIL import Image

TINY_DATA = {"synthetic": {"height": 32, "width": 48, "max_motion": 6}, "length": 64}
TINY_MODEL = {"name": "edge-unet", "options": {"base_channels": 4, "depth": 2}}


def tiny(task: str = "interpolate", **changes) -> RunConfig:
    data = {
        "task": task,
        "model": TINY_MODEL,
        "data": TINY_DATA,
        "steps": 4,
        "batch_size": 2,
        "log_every": 1,
        "sample_every": 2,
        "checkpoint_every": 2,
        "val_batches": 1,
        "optim": {"lr": 3e-3},
    }
    data.update(changes)
    return RunConfig.from_dict(data)


def _weights(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).model.state_dict()


def test_loss_falls_when_fitting_a_fixed_batch():
    config = tiny()
    torch.manual_seed(0)
    dataset = build_dataset("interpolate", config.data)
    batch = {k: torch.stack([dataset[i][k] for i in range(4)]) for k in ("frame0", "frame1", "target")}
    model = build_model("edge-unet", {"base_channels": 8})
    spec = model.export_spec(model.config)
    criterion = Criterion(config.loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss, _, _ = criterion(*run_model(model, spec, "interpolate", batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_a_run_writes_model_checkpoints_logs_samples_and_summary(tmp_path):
    result = train(tiny(), tmp_path, progress=False)
    assert result.steps == 4 and result.resumed_from is None
    assert load_checkpoint(tmp_path / "model.safetensors").training["steps"] == 4
    assert find_resumable(tmp_path).name == "step_00000004"
    rows = list(csv.DictReader((tmp_path / "log.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in rows if r["loss"]] == [1, 2, 3, 4]
    assert {"loss", "lr", "samples_per_s"} <= set(rows[0])
    grid = Image.open(tmp_path / "samples" / "step_00000004.png")
    assert grid.width > 4 * 48  # frame0 | frame1 | prediction | target
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["validation"]["val_baseline_psnr_db"] > 10
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "tensorboard").is_dir()
    rank = json.loads((tmp_path / "ranks" / "rank0.json").read_text())
    assert rank["samples_seen"] == 8 and rank["world_size"] == 1


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    straight = train(tiny(steps=6), tmp_path / "straight", progress=False)
    first = train(tiny(steps=3), tmp_path / "split", progress=False)
    assert first.steps == 3
    second = train(tiny(steps=6), tmp_path / "split", resume=True, progress=False)
    assert second.resumed_from == 3 and second.steps == 6
    a, b = _weights(straight.checkpoint), _weights(second.checkpoint)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    digests = [json.loads((tmp_path / d / "ranks" / "rank0.json").read_text()) for d in ("straight", "split")]
    assert digests[0]["weights_digest"] == digests[1]["weights_digest"]


def test_an_existing_run_is_not_overwritten_by_accident(tmp_path):
    train(tiny(steps=2), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny(steps=2), tmp_path, progress=False)
    assert train(tiny(steps=2), tmp_path, overwrite=True, progress=False).steps == 2


def test_resume_refuses_another_model_or_a_finished_run(tmp_path):
    train(tiny(steps=2), tmp_path, progress=False)
    other = tiny(steps=4, model={"name": "edge-unet", "options": {"base_channels": 8, "depth": 2}})
    with pytest.raises(ConfigError, match="trained as"):
        train(other, tmp_path, resume=True, progress=False)
    with pytest.raises(ConfigError, match="raise steps"):
        train(tiny(steps=2), tmp_path, resume=True, progress=False)


def test_resume_without_a_checkpoint_starts_from_zero(tmp_path):
    assert train(tiny(steps=2), tmp_path, resume=True, progress=False).resumed_from is None


def test_prediction_with_the_corrwise_loss_logs_both_directions(tmp_path):
    config = tiny("predict", loss={"base": "l1", "corrwise": True, "flow": "match"}, steps=2)
    assert config.model.options["task"] == "predict"
    result = train(config, tmp_path, progress=False)
    assert result.steps == 2
    rows = [r for r in csv.DictReader((tmp_path / "log.csv").read_text().splitlines()) if r["loss"]]
    assert float(rows[-1]["loss_pred_to_target"]) > 0 and float(rows[-1]["loss_target_to_pred"]) > 0
    grid = Image.open(tmp_path / "samples" / "step_00000002.png")
    assert grid.width > 4 * 48  # last context | prediction | target | warped prediction
    assert load_checkpoint(result.checkpoint).training["loss"] == "corrwise-l1/match"


def test_a_model_for_the_other_task_is_refused():
    with pytest.raises(ConfigError, match="does the"):
        train(tiny("interpolate", model={"name": "video-predictor-3d", "options": {"ngf": 4}}), ".")


def test_frames_the_model_cannot_take_are_refused(tmp_path):
    config = tiny(data={**TINY_DATA, "synthetic": {"height": 34, "width": 48}})
    with pytest.raises(ConfigError, match="multiples of 4"):
        train(config, tmp_path, progress=False)


def test_wall_clock_budget_stops_early_with_a_checkpoint(tmp_path):
    result = train(tiny(steps=1000, max_seconds=0.0), tmp_path, progress=False)
    assert result.steps == 0
    assert load_checkpoint(result.checkpoint).training["steps"] == 0


def test_data_default_is_the_synthetic_sprites():
    assert [s.kind for s in DataConfig().sources] == ["synthetic"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mixed precision runs on CUDA only; no CUDA device")
def test_mixed_precision_on_cuda_trains_and_resumes(tmp_path):
    config = tiny(device="cuda", amp=True, steps=2)
    first = train(config, tmp_path, progress=False)
    assert first.steps == 2 and math.isfinite(first.final_loss)
    second = train(tiny(device="cuda", amp=True, steps=4), tmp_path, resume=True, progress=False)
    assert second.resumed_from == 2 and math.isfinite(second.final_loss)


def test_asking_for_cuda_without_it_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="no CUDA device"):
        train(tiny(device="cuda"), tmp_path, progress=False)


def test_init_starts_from_the_weights_of_a_checkpoint(tmp_path):
    first = train(tiny(), tmp_path / "first", progress=False)
    frozen = {"lr": 1e-9}  # one step that cannot move the weights
    tuned = train(
        tiny(steps=1, optim=frozen, model={**TINY_MODEL, "init": str(first.checkpoint)}),
        tmp_path / "tuned",
        progress=False,
    )
    fresh = train(tiny(steps=1, optim=frozen), tmp_path / "fresh", progress=False)
    start, after, scratch = (_weights(r.checkpoint) for r in (first, tuned, fresh))
    assert all(torch.allclose(start[k], after[k], atol=1e-6) for k in start)
    assert any(not torch.allclose(start[k], scratch[k]) for k in start)


def test_init_from_another_model_is_refused(tmp_path):
    first = train(tiny(), tmp_path / "first", progress=False)
    other = {"name": "edge-unet", "options": {"base_channels": 8, "depth": 2}, "init": str(first.checkpoint)}
    with pytest.raises(ConfigError, match="same model and options"):
        train(tiny(model=other), tmp_path / "other", progress=False)


def test_cli_init_fine_tunes_and_records_the_source(tmp_path):
    import yaml
    from click.testing import CliRunner
    from corrwise.train.cli import main

    first = train(tiny(), tmp_path / "first", progress=False)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"model": TINY_MODEL, "data": TINY_DATA, "sample_every": 0}))
    out = tmp_path / "tuned"
    args = ["interpolate", "--config", str(config), "--steps", "1", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--init", str(first.checkpoint)])
    assert result.exit_code == 0, result.output
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    assert recorded["model"]["init"] == str(first.checkpoint)
    missing = CliRunner().invoke(main, [*args, "--init", str(tmp_path / "nope.safetensors")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
