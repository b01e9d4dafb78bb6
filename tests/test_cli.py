"""The command-line tools: help texts, a full train -> export -> run chain, and error exits."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from corrwise.export.cli import main as export_main
from corrwise.runtime.cli import main as run_main
from corrwise.train.cli import main as train_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "cli, sub",
    [(train_main, "interpolate"), (train_main, "predict"), (export_main, "onnx"), (run_main, "interpolate")]
    + [(export_main, c) for c in ("int8", "trt", "triton", "verify", "all", "torch")],
)
def test_help_explains_every_option(cli, sub):
    result = CliRunner().invoke(cli, [sub, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    command = cli.commands[sub]
    assert command.help
    undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert undocumented == []


def test_train_export_run_chain(tmp_path, make_clip):
    runner = CliRunner()
    result = runner.invoke(
        train_main,
        [
            "interpolate",
            "--out",
            str(tmp_path / "run"),
            "--steps",
            "3",
            "--batch-size",
            "2",
            "--set",
            "data.synthetic={height: 32, width: 48}",
            "--set",
            "model.options={base_channels: 8}",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "held-out PSNR" in result.output
    ckpt = tmp_path / "run" / "model.safetensors"
    result = runner.invoke(export_main, ["onnx", str(ckpt), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    src = make_clip(tmp_path / "in.mp4", 4)
    result = runner.invoke(
        run_main, ["interpolate", str(src), str(tmp_path / "out.mp4"), "-m", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 0, result.output
    assert "4 frames at 24 fps -> 7 frames at 48 fps" in result.output


def test_errors_exit_2_with_a_message(tmp_path):
    result = CliRunner().invoke(
        export_main, ["onnx", str(tmp_path / "none.safetensors"), "-o", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    result = CliRunner().invoke(train_main, ["interpolate", "--set", "steps"])
    assert result.exit_code == 2 and "key.sub=value" in result.output
    result = CliRunner().invoke(train_main, ["predict", "--set", "optim.lrate=1"])
    assert result.exit_code == 2 and "unknown key" in result.output


def test_sample_clip_is_found():
    result = CliRunner().invoke(run_main, ["sample", "carphone"])
    assert result.exit_code == 0 and Path(result.output.strip()).is_file()


@pytest.mark.slow
def test_non_editable_install_maps_the_stage_folders(tmp_path):
    """`pip install .` (not editable) installs corrwise.* from the stage folders, with working scripts."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    wheel = next(wheel_dir.glob("corrwise-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    assert sorted(
        p.name for p in (target / "corrwise").iterdir() if p.is_dir() and p.name != "__pycache__"
    ) == ["export", "models", "runtime", "train"]
    assert not (target / "runtime").exists() and not (target / "models").exists()
    env = {"PYTHONPATH": str(target), "PATH": sysconfig.get_path("scripts")}
    for script in ("corr-export", "corr-run", "corr-train"):
        proc = subprocess.run(
            [sys.executable, str(target / "bin" / script), "--help"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "Usage:" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-c", "import corrwise.runtime as r; print(r.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip().startswith(str(target)), proc.stdout + proc.stderr
