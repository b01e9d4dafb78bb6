"""Training as users run it, in other processes: SIGKILL then resume; data-parallel under torchrun."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from corrwise.models import build_model, load_checkpoint
from corrwise.train.train_state import find_resumable, load_training_state

SETTINGS = [
    "--set", "model.options={base_channels: 4, depth: 2}",
    "--set", "data.synthetic={height: 32, width: 48}",
    "--set", "data.length=64",
    "--set", "log_every=1",
    "--set", "sample_every=0",
    "--set", "val_batches=1",
    "--batch-size", "2",
    "--quiet",
]  # fmt: skip


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "corrwise.train.cli", *args]


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_resumable_run(tmp_path):
    run = tmp_path / "run"
    command = _cli(
        "interpolate", "--out", str(run), "--steps", "300", "--set", "checkpoint_every=1", *SETTINGS
    )
    rng = random.Random(0)
    newest = None
    for attempt in range(3):
        process = subprocess.Popen([*command, *(["--resume"] if attempt else [])])
        deadline = time.monotonic() + 60
        while find_resumable(run) == newest and time.monotonic() < deadline:  # until this run saves once
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))  # then kill somewhere inside a save or a step
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
        newest = find_resumable(run)
        assert newest is not None, "a killed run must keep a complete checkpoint"
        model = build_model("edge-unet", {"base_channels": 4, "depth": 2})
        state = load_training_state(newest, model, torch.optim.Adam(model.parameters()))
        assert 1 <= state.step < 300
        for folder in (run / "checkpoints").glob("step_*"):  # every visible checkpoint is whole
            load_checkpoint(folder / "model.safetensors")
    finished = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "resuming from" in finished.stderr + finished.stdout
    assert load_checkpoint(run / "model.safetensors").training["steps"] == 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_under_torchrun_see_different_data_and_end_identical(tmp_path):
    run = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        "-m", "corrwise.train.cli", "interpolate", "--out", str(run), "--steps", "6",
        "--device", "cpu", *SETTINGS,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((run / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["samples_seen"] == ranks[1]["samples_seen"] == 12
    assert ranks[0]["samples_digest"] != ranks[1]["samples_digest"]  # each rank its own share
    assert ranks[0]["weights_digest"] == ranks[1]["weights_digest"]  # gradients were averaged
    assert load_checkpoint(Path(run) / "model.safetensors").training["world_size"] == 2
