"""Run configs: YAML files, --set overrides, unknown keys, and the round trip through to_dict."""

from __future__ import annotations

from pathlib import Path

import pytest
from corrwise.errors import ConfigError
from corrwise.train.config import RunConfig, load_run_config


def test_yaml_and_overrides_fill_the_dataclasses(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "model: {name: edge-unet, options: {base_channels: 8}}\n"
        "loss: {base: l1, corrwise: true, flow: dis}\n"
        "optim: {lr: 1.0e-3, schedule: cosine, betas: [0.5, 0.9]}\n"
        "steps: 50\n"
    )
    config = load_run_config(path, ["optim.lr=3e-4", "batch_size=2", "data.crop=[32, 48]"], task="predict")
    assert config.task == "predict" and config.steps == 50 and config.batch_size == 2
    assert config.optim.lr == 3e-4 and config.optim.betas == (0.5, 0.9)
    assert config.loss.corrwise and config.loss.label == "corrwise-l1/dis"
    assert config.model.options == {"base_channels": 8, "task": "predict"}  # the task reaches the model
    assert tuple(config.data.crop) == (32, 48)


def test_to_dict_round_trips():
    config = load_run_config(None, ["optim.schedule=step", "loss.corrwise=true"], task="interpolate")
    assert RunConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrate=1"], "unknown key"),
        (["colour=red"], "unknown key"),
        (["task=segment"], "task must be one of"),
        (["steps"], "key.sub=value"),
        (["steps=0"], "steps"),
        (["optim=3"], "mapping"),
        (["model.name=nope"], "unknown model"),
    ],
)
def test_bad_configs_say_what_is_wrong(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(None, overrides)


def test_unreadable_or_invalid_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_run_config(tmp_path / "missing.yaml")


def test_the_example_configs_build():
    """Every file in configs/ is a valid run config (data paths are only opened when training starts)."""
    folder = Path(__file__).resolve().parents[2] / "configs"
    paths = sorted(folder.glob("*.yaml"))
    assert len(paths) >= 4
    for path in paths:
        config = load_run_config(path)
        assert config.task in ("predict", "interpolate"), path
        assert config.model.options.get("task", config.task) == config.task, path
