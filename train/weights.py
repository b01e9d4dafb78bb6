"""Pretrained weights from local files only: the torch hub cache and tensors-only state dicts.

corrwise never downloads. VGG19 (perceptual loss) and RAFT (flow) read their
weights through these two functions, so both accept the same formats and
fail with the same kind of error.
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
