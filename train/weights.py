"""Pretrained weights from local files only: the torch hub cache and tensors-only state dicts.

corrwise never downloads. VGG19 (perceptual loss), RAFT (flow) and LPIPS
(evaluation) find and read their weights through these functions, so all
accept the same formats and fail with the same kind of error.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from corrwise.errors import CheckpointError
from corrwise.extras import import_for

PTH_LOAD_ERRORS = (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError)


def hub_checkpoint_dir() -> Path:
    """The torch hub cache folder for weights: ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def locate_weights(given: str | Path | None, name: str, what: str, source: str) -> Path:
    """The weights file to load: ``given``, or ``<hub>/checkpoints/<name>`` when None.

    Args:
        given: a path the user passed, or None for the hub cache.
        name: the file name in the hub cache (torchvision's, e.g. ``vgg19-dcbb9e9d.pth``).
        what: what the weights are for, e.g. ``"VGG19 weights"``.
        source: where to get the file (a URL or a project), for the message.

    Raises:
        CheckpointError: the file does not exist; the message names it, says where
            to put it and where to get it.
    """
    if given is None:
        path = hub_checkpoint_dir() / name
        if not path.is_file():
            raise CheckpointError(
                f"{what}: {name} not found in the torch hub cache folder {path.parent}; corrwise never "
                f"downloads: fetch {source} yourself and save it as {path}, or pass its path"
            )
        return path
    path = Path(given).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"{what} file {path} does not exist; pass the path of {name} ({source}), or leave it unset "
            f"to use {hub_checkpoint_dir() / name}"
        )
    return path


def read_state_dict(path: Path, what: str) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or of a tensors-only ``.pth`` file (no pickled code runs).

    Args:
        path: the file.
        what: what the weights are for, used in error messages (e.g. ``"VGG19 weights"``).

    Raises:
        CheckpointError: the file is unreadable, corrupt, or holds something other than tensors.
    """
    if path.suffix == ".safetensors":
        load_file = import_for("safetensors.torch", "train", f"loading {what}").load_file
        safetensor_error = import_for("safetensors", "train", f"loading {what}").SafetensorError
        try:
            state = load_file(str(path), device="cpu")
        except (safetensor_error, OSError) as err:
            raise CheckpointError(f"cannot read {what} from {path}: {err}") from err
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except PTH_LOAD_ERRORS as err:
            message = f"cannot read {what} from {path} as a tensors-only state dict: {err}"
            raise CheckpointError(message) from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"{path} holds a {type(state).__name__}, expected a state dict (a mapping of names to tensors)"
        )
    return dict(state)
