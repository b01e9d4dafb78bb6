"""Resumable checkpoints: model, optimiser and progress, written so a kill can never corrupt one.

Layout under the run folder::

    checkpoints/step_00000200/model.safetensors      the model (a corrwise checkpoint: export it as is)
    checkpoints/step_00000200/optimizer.safetensors  the optimiser's tensors (no pickle)
    checkpoints/step_00000200/state.json             step, optimiser hyper-parameters, loss scaler, config
    checkpoints/latest                               the name of the newest complete folder

A checkpoint is first written into a hidden temporary folder, each file
flushed to disk, and only then renamed to ``step_<n>`` (a rename is atomic),
after which ``latest`` is replaced atomically. A kill at any moment leaves at
worst a stray temporary folder, which the next save removes; resuming picks
the newest folder that is complete and readable.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from corrwise.atomic import atomic_output
from corrwise.errors import CheckpointError
from corrwise.models import load_checkpoint, save_checkpoint
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FOLDER = "checkpoints"
LATEST = "latest"
PREFIX = "step_"
FILES = ("model.safetensors", "optimizer.safetensors", "state.json")


@dataclass(frozen=True)
class TrainingState:
    """What :func:`load_training_state` restored: the folder, the next step, and saved extras."""

    folder: Path
    step: int
    extra: dict[str, Any]


def save_training_state(
    run_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    model_name: str,
    optimizer: torch.optim.Optimizer,
    training: dict[str, Any],
    extra: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write the checkpoint of ``step`` (steps done so far) and return its folder.

    ``training`` goes into the model file's metadata; ``extra`` (JSON-able) into state.json.
    """
    root = Path(run_dir) / FOLDER
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(root)
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    tmp.mkdir()
    save_checkpoint(tmp / "model.safetensors", model, model_name, training)
    tensors, hyper = _split_optimizer_state(optimizer.state_dict())
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    _fsync(tmp / "optimizer.safetensors")
    state = {"step": step, "optimizer": hyper, "extra": extra}
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    _fsync(tmp / "state.json")
    if final.exists():
        _discard(final)
    os.replace(tmp, final)
    _fsync(root)
    with atomic_output(root / LATEST) as path:
        path.write_text(final.name + "\n")
    _prune(root, keep)
    return final


def find_resumable(run_dir: str | Path) -> Path | None:
    """The newest complete, readable checkpoint folder of a run, or None when there is none."""
    root = Path(run_dir) / FOLDER
    if not root.is_dir():
        return None
    candidates = sorted((p for p in root.glob(f"{PREFIX}*") if p.is_dir()), reverse=True)
    pointer = root / LATEST
    if pointer.is_file():
        named = root / pointer.read_text().strip()
        candidates = [named, *[c for c in candidates if c != named]] if named.is_dir() else candidates
    for folder in candidates:
        if _readable(folder):
            return folder
    return None


def read_training_state(folder: str | Path) -> TrainingState:
    """The step and extras of a checkpoint folder, without loading any tensor."""
    folder = Path(folder)
    state = _read_state(folder)
    return TrainingState(folder, int(state["step"]), dict(state.get("extra", {})))


def load_training_state(
    folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> TrainingState:
    """Load weights and optimiser state from ``folder`` into the given objects."""
    folder = Path(folder)
    state = _read_state(folder)
    checkpoint = load_checkpoint(folder / "model.safetensors")
    model.load_state_dict(checkpoint.model.state_dict())
    try:
        tensors = load_file(str(folder / "optimizer.safetensors"))
        optimizer.load_state_dict(_join_optimizer_state(tensors, state["optimizer"]))
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        raise CheckpointError(f"{folder}: the optimiser state does not load ({err})") from err
    return TrainingState(folder, int(state["step"]), dict(state.get("extra", {})))


def _split_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors keyed ``state/<param>/<name>`` and the JSON-able rest of an optimiser state dict."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state/{index}/{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimizer_state(tensors: dict[str, torch.Tensor], hyper: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`_split_optimizer_state`."""
    entries: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split("/", 2)
        entries.setdefault(int(index), {})[name] = value
    for index, values in hyper.get("scalars", {}).items():
        entries.setdefault(int(index), {}).update(values)
    groups = [  # JSON turned tuples such as Adam's betas into lists
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in group.items()}
        for group in hyper["param_groups"]
    ]
    return {"state": entries, "param_groups": groups}


def _read_state(folder: Path) -> dict[str, Any]:
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"{folder} is not a complete checkpoint: {missing} missing")
    try:
        state = json.loads((folder / "state.json").read_text())
        int(state["step"])
        state["optimizer"]["param_groups"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{folder}/state.json is unreadable or incomplete ({err})") from err
    return state


def _readable(folder: Path) -> bool:
    try:
        _read_state(folder)
    except CheckpointError:
        return False
    return True


def _prune(root: Path, keep: int) -> None:
    folders = sorted(p for p in root.glob(f"{PREFIX}*") if p.is_dir())
    for old in folders[:-keep]:
        _discard(old)


def _discard(folder: Path) -> None:
    """Delete a checkpoint folder so that it is never visible half-deleted.

    The folder is first renamed (atomically) to a hidden temporary name, which
    a later save sweeps up if a kill interrupts the deletion.
    """
    doomed = folder.with_name(f".{folder.name}.tmp-del-{os.getpid()}")
    if doomed.exists():  # left by an earlier process of the same id that was killed here
        shutil.rmtree(doomed, ignore_errors=True)
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _remove_stale_temporaries(root: Path) -> None:
    for stale in root.glob(f".{PREFIX}*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
