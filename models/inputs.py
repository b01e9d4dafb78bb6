"""Frame inputs shared by the model zoo: task options, input names, input checks, the time plane.

Every generator takes its frames as separate positional tensors, oldest first,
each (B, 3, H, W) in [-1, 1]; an interpolator with a time input takes one more
tensor, the timestep (B, 1, 1, 1) in (0, 1). The helpers here turn a task
(``"interpolate"`` or ``"predict"``) into input names and channel counts, and
check what arrives with errors that say what was expected.
"""

from __future__ import annotations

import torch
from corrwise.errors import ConfigError, InputError

TASKS = ("interpolate", "predict")
MAX_CONTEXT_FRAMES = 16
DEFAULT_CONTEXT_FRAMES = 3
TIMESTEP_NAME = "timestep"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_context_frames(owner: str, context_frames: object) -> None:
    """Raise ConfigError unless ``context_frames`` is an int in [1, MAX_CONTEXT_FRAMES]."""
    if not _is_int(context_frames) or not 1 <= context_frames <= MAX_CONTEXT_FRAMES:
        raise ConfigError(
            f"{owner}: context_frames must be an integer in [1, {MAX_CONTEXT_FRAMES}] (past frames "
            f"given to a predictor), got {context_frames!r}"
        )


def check_task_options(owner: str, task: object, context_frames: object, timestep: object) -> None:
    """Validate the task fields of a config; raise ConfigError naming the bad combination.

    ``context_frames`` belongs to ``task="predict"`` and ``timestep`` to
    ``task="interpolate"``; setting either for the other task is an error
    rather than silently ignored.
    """
    if task not in TASKS:
        raise ConfigError(f"{owner}: task must be one of {TASKS}, got {task!r}")
    check_context_frames(owner, context_frames)
    if not isinstance(timestep, bool):
        raise ConfigError(f"{owner}: timestep must be true or false, got {timestep!r}")
    if task == "predict" and timestep:
        raise ConfigError(
            f"{owner}: timestep=True needs task='interpolate'; a predictor always outputs the next "
            "frame (set timestep=False or task='interpolate')"
        )
    if task == "interpolate" and context_frames != DEFAULT_CONTEXT_FRAMES:
        raise ConfigError(
            f"{owner}: context_frames={context_frames} applies to task='predict' only; an "
            "interpolator always takes two frames (leave context_frames at its default or "
            "set task='predict')"
        )


def frame_names(task: str, context_frames: int) -> tuple[str, ...]:
    """Graph input names of the frames, oldest first: ``frame0``, ``frame1``, ..."""
    count = 2 if task == "interpolate" else context_frames
    return tuple(f"frame{i}" for i in range(count))


def input_channels(task: str, context_frames: int, timestep: bool) -> int:
    """Channels of the concatenated network input: 3 per frame, plus 1 for the time plane."""
    return 3 * len(frame_names(task, context_frames)) + int(timestep)


def split_inputs(
    owner: str, inputs: tuple[torch.Tensor, ...], names: tuple[str, ...], timestep: bool, align: int
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Check forward() arguments and split them into frames and the optional timestep.

    Args:
        owner: the model's name, for messages.
        inputs: the positional arguments: one (B, 3, H, W) tensor per name in
            ``names``, then the (B, 1, 1, 1) timestep when ``timestep`` is True.
        names: frame names, oldest first.
        timestep: whether a time input follows the frames.
        align: H and W must be multiples of this (pixels).

    Returns:
        The frames and the timestep (None without a time input).
    """
    expected = [*names, TIMESTEP_NAME] if timestep else list(names)
    if len(inputs) != len(expected):
        raise InputError(f"{owner} takes {len(expected)} inputs ({', '.join(expected)}), got {len(inputs)}")
    frames = list(inputs[: len(names)])
    check_frames(owner, frames, names, align)
    if not timestep:
        return frames, None
    t = inputs[-1]
    batch = frames[0].shape[0]
    dtype = frames[0].dtype
    if not isinstance(t, torch.Tensor) or t.dtype != dtype or tuple(t.shape) != (batch, 1, 1, 1):
        got = f"{t.dtype} of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
        raise InputError(
            f"{owner}: {TIMESTEP_NAME} must be a {dtype} tensor (the frames' dtype) of shape "
            f"({batch}, 1, 1, 1) with values in (0, 1), got {got}"
        )
    return frames, t


def check_frames(owner: str, frames: list[torch.Tensor], names: tuple[str, ...], align: int) -> None:
    """Raise InputError unless all frames are (B, 3, H, W) of one shape with H, W multiples of ``align``."""
    first = frames[0]
    for name, frame in zip(names, frames, strict=True):
        if not isinstance(frame, torch.Tensor) or frame.ndim != 4 or frame.shape[1] != 3:
            got = tuple(frame.shape) if isinstance(frame, torch.Tensor) else type(frame).__name__
            raise InputError(f"{owner}: {name} must be a (B, 3, H, W) tensor in [-1, 1], got {got}")
        if frame.shape != first.shape:
            raise InputError(
                f"{owner}: all frames must have one shape; {names[0]} is {tuple(first.shape)}, "
                f"{name} is {tuple(frame.shape)}"
            )
    if first.shape[-2] % align or first.shape[-1] % align:
        raise InputError(
            f"{owner} needs H and W to be multiples of {align}, got {tuple(first.shape[-2:])}; "
            "pad the frames (the runtime does this)"
        )


def time_plane(timestep: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A constant plane of t per sample: (B, 1, 1, 1) -> (B, 1, H, W), H and W taken from ``like``."""
    return timestep.expand(-1, 1, like.shape[-2], like.shape[-1])  # (B, 1, H, W)
