"""How a batch of each task meets a model: its inputs, its target, and the simple baseline."""

from __future__ import annotations

import torch
from corrwise.errors import ConfigError
from corrwise.models import ExportSpec
from corrwise.train import baselines


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Every tensor of a batch on ``device``."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
    }


def run_model(
    model: torch.nn.Module, spec: ExportSpec, task: str, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(prediction, target), each (B, 3, H, W) in [-1, 1].

    predict: batch ``context`` (B, K, 3, H, W) oldest first, ``future`` (B, N, 3, H, W);
    the target is the first future frame. interpolate: ``frame0``, ``frame1``,
    ``target`` (B, 3, H, W) and ``timestep`` (B,) in (0, 1).
    """
    if task == "predict":
        context = batch["context"]
        if context.shape[1] != len(spec.input_names):
            raise ConfigError(
                f"the model takes {len(spec.input_names)} context frames but the data gives "
                f"{context.shape[1]}; set data.context: {len(spec.input_names)}"
            )
        return model(*context.unbind(1)), batch["future"][:, 0]
    frame0, frame1, target = batch["frame0"], batch["frame1"], batch["target"]
    timestep = batch.get("timestep")
    if spec.timestep_input is not None:
        t = torch.full((frame0.shape[0],), 0.5, device=frame0.device) if timestep is None else timestep
        return model(frame0, frame1, t.to(frame0.dtype).view(-1, 1, 1, 1)), target
    if timestep is not None and not torch.allclose(timestep, torch.full_like(timestep, 0.5)):
        raise ConfigError(
            "the data gives timesteps other than 0.5 but the model only synthesises the midpoint: "
            "set data.random_t: false, or use a model with a time input (model option timestep: true)"
        )
    return model(frame0, frame1), target


def baseline(task: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The trivial answer the model must beat: copy the last frame, or blend the two frames at t."""
    if task == "predict":
        return baselines.copy_last(batch["context"].unbind(1))
    t = batch.get("timestep")
    return baselines.blend(batch["frame0"], batch["frame1"], 0.5 if t is None else t)


def grid_inputs(task: str, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The input columns of a sample grid: the last context frame, or both end frames."""
    if task == "predict":
        return {"last context": batch["context"][:, -1]}
    return {"frame0": batch["frame0"], "frame1": batch["frame1"]}
