"""Frames of the training video: one training target beside the output as training goes on."""

from __future__ import annotations

import torch
from corrwise.train.toy.experiment import LossRun
from corrwise.train.toy.outputs import labelled_row
from corrwise.train.toy.scene import Scene

VIDEO_SCALE = 2  # nearest-neighbour enlargement of the frames


def training_frames(run: LossRun, scene: Scene, label: str) -> list:
    """One PIL RGB image per snapshot of ``run``: a sample target, then the output after that step."""
    sample = scene.render(torch.tensor([0.0], device=scene.background.device))[0].cpu()
    frames = []
    for image, step in zip(run.snapshots, run.snapshot_steps, strict=True):
        frames.append(
            labelled_row(
                [sample, image],
                ["one target (car at the centre)", f"{label} output"],
                ["the car's position is random", f"step {step}"],
                f"Training with {label}",
                scale=VIDEO_SCALE,
            )
        )
    return frames
