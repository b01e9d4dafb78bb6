"""Fused uint8 I/O: pre- and post-processing inside the graph, so runtimes skip that work in numpy."""

from __future__ import annotations

import torch
from torch import nn


class FusedUint8IO(nn.Module):
    """Wraps a float model so the graph takes and returns uint8 NHWC frames.

    In:  frames uint8 (B, H, W, 3) in [0, 255], then the timestep float32
         (B, 1, 1, 1) in (0, 1) when the model has one.
    Out: uint8 (B, H, W, 3), rounded half to even and clipped, exactly what
         the runtime's numpy post-processing of the float model computes.

    Around the wrapped model, which sees float (B, 3, H, W) in [-1, 1]:
    x / 127.5 - 1 on the way in, (y + 1) * 127.5 on the way out.
    """

    def __init__(self, model: nn.Module, frames: int) -> None:
        super().__init__()
        self.model = model
        self.frames = frames

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """uint8 frames (and the float timestep) in, the uint8 frame out; see the class docstring."""
        nchw = [x.permute(0, 3, 1, 2).contiguous() for x in inputs[: self.frames]]  # (B, 3, H, W) uint8
        frames = [x.to(torch.float32) / 127.5 - 1.0 for x in nchw]
        y = self.model(*frames, *inputs[self.frames :])  # (B, 3, H, W) in [-1, 1]
        y = torch.clamp(torch.round((y + 1.0) * 127.5), 0.0, 255.0)
        return y.to(torch.uint8).permute(0, 2, 3, 1).contiguous()  # (B, H, W, 3)
