"""Checkpoints: safetensors weights with the model name and JSON config in the header.

One ``.safetensors`` file holds everything needed to rebuild the model:

- tensors: the model's ``state_dict`` (no pickle anywhere),
- metadata ``corrwise.model``: the registry name,
- metadata ``corrwise.config``: the resolved model config (JSON),
- metadata ``corrwise.training``: training facts such as the loss and step (JSON).

Files are written to a temporary name in the same folder and renamed, so a
crash never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corrwise
from corrwise.atomic import atomic_output
from corrwise.errors import CheckpointError
from corrwise.models.registry import build_model
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

KEY_MODEL = "corrwise.model"
KEY_CONFIG = "corrwise.config"
KEY_TRAINING = "corrwise.training"
KEY_VERSION = "corrwise.version"


@dataclass(frozen=True)
class Checkpoint:
    """A model rebuilt from a checkpoint, with what the file says about it."""

    model: nn.Module
    name: str
    config: dict[str, Any]
    training: dict[str, Any]


def save_checkpoint(
    path: str | Path, model: nn.Module, name: str, training: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (registered as ``name``) to ``path`` atomically; return the path."""
    path = Path(path)
    config = dataclasses.asdict(model.config)
    metadata = {
        KEY_MODEL: name,
        KEY_CONFIG: json.dumps(config, sort_keys=True),
        KEY_TRAINING: json.dumps(training or {}, sort_keys=True),
        KEY_VERSION: corrwise.__version__,
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The header metadata of a corrwise checkpoint; CheckpointError if not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (expected a .safetensors file)")
    try:
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            if not 2 <= header_len <= 100_000_000:
                raise ValueError(f"implausible header length {header_len}")
            header = json.loads(f.read(header_len))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{path} is not a safetensors checkpoint ({err}); expected a file written by "
            "corr-train or corrwise.models.save_checkpoint"
        ) from err
    metadata = header.get("__metadata__") or {}
    if KEY_MODEL not in metadata or KEY_CONFIG not in metadata:
        raise CheckpointError(
            f"{path} is a safetensors file but not a corrwise checkpoint: its header lacks "
            f"{KEY_MODEL!r} and {KEY_CONFIG!r}"
        )
    return metadata


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model stored at ``path`` (eval mode, on the CPU)."""
    metadata = read_metadata(path)
    try:
        config = json.loads(metadata[KEY_CONFIG])
        training = json.loads(metadata.get(KEY_TRAINING, "{}"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: config metadata is not valid JSON ({err})") from err
    model = build_model(metadata[KEY_MODEL], config)
    try:
        state = load_file(str(path))
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError) as err:
        raise CheckpointError(f"{path}: the weights do not load ({err})") from err
    return Checkpoint(model.eval(), metadata[KEY_MODEL], config, training)


def reconfigure_checkpoint(src: str | Path, dst: str | Path, options: dict[str, Any]) -> Path:
    """Write ``src``'s weights to ``dst`` with its model config updated by ``options``.

    For options that add no parameters: ones without parameters of their own,
    such as EdgeFlow's candidate selection (``select_window``,
    ``select_temperature``), and ones that remove a part, such as
    ``refine_channels: 0`` (its weights are dropped, as a start for
    fine-tuning without it). Every parameter of the reconfigured model must be
    in ``src`` with the same shape, otherwise CheckpointError. Unknown or invalid
    options are ConfigError. The training metadata is kept, with the changed
    options recorded under ``reconfigured`` and the dropped weights under
    ``dropped_weights``.
    """
    ckpt = load_checkpoint(src)
    model = build_model(ckpt.name, {**ckpt.config, **options})
    theirs, ours = ckpt.model.state_dict(), model.state_dict()
    missing = [k for k in ours if k not in theirs or theirs[k].shape != ours[k].shape]
    if missing:
        raise CheckpointError(
            f"{src}: options {sorted(options)} add or reshape parameters ({', '.join(missing[:4])}"
            f"{', ...' if len(missing) > 4 else ''}), so its weights do not carry over; "
            "train with them instead"
        )
    dropped = sorted(k for k in theirs if k not in ours)
    model.load_state_dict({k: theirs[k] for k in ours}, strict=True)
    training = {**ckpt.training, "reconfigured": {**ckpt.training.get("reconfigured", {}), **options}}
    if dropped:
        training["dropped_weights"] = sorted({*ckpt.training.get("dropped_weights", []), *dropped})
    return save_checkpoint(dst, model, ckpt.name, training)
