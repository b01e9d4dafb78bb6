"""EdgeUNet: a small encoder-decoder that synthesises the frame between two frames.

    frame0, frame1 (B, 3, H, W) in [-1, 1]
        -> concat (B, 6, H, W)
        -> encoder: `depth` stride-2 stages, widths c, 2c, 4c, ...
        -> decoder: nearest x2 upsampling + skip connections
        -> residual (B, 3, H, W) added to the blend (frame0 + frame1) / 2
        -> clamp to [-1, 1]

Predicting a correction to the blend makes the untrained network a frame
blender and lets a short CPU training run improve on it. Only convolutions,
ReLU, nearest resize, concat and clip: every op exports to ONNX and TensorRT.
H and W must be multiples of ``2 ** depth``; the runtime pads to that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError, InputError
from corrwise.models.spec import ExportSpec
from torch import nn


@dataclass(frozen=True)
class EdgeUNetConfig:
    """Size of an EdgeUNet.

    Attributes:
        base_channels: width of the first stage; 16 keeps the network near
            0.44 M parameters (about 1.8 MB in fp32), sized for CPU and edge inference.
        depth: number of stride-2 stages; 3 gives a 1/8-resolution bottleneck,
            enough receptive field for motions of about 10-20 px.
    """

    base_channels: int = 16
    depth: int = 3

    def __post_init__(self) -> None:
        if not 4 <= self.base_channels <= 256:
            raise ConfigError(f"base_channels must be in [4, 256], got {self.base_channels}")
        if not 1 <= self.depth <= 6:
            raise ConfigError(f"depth must be in [1, 6], got {self.depth}")


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.1))


class EdgeUNet(nn.Module):
    """Frame interpolation at t = 0.5 with an edge-sized U-Net (see module docstring)."""

    config_class = EdgeUNetConfig

    def __init__(self, config: EdgeUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or EdgeUNetConfig()
        c, depth = self.config.base_channels, self.config.depth
        widths = [c * 2**i for i in range(depth + 1)]
        self.stem = nn.Sequential(_conv(6, widths[0]), _conv(widths[0], widths[0]))
        self.down = nn.ModuleList(
            nn.Sequential(_conv(widths[i], widths[i + 1], 2), _conv(widths[i + 1], widths[i + 1]))
            for i in range(depth)
        )
        self.up = nn.ModuleList(_conv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], 3, 3, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @staticmethod
    def export_spec(config: EdgeUNetConfig) -> ExportSpec:
        """Graph facts for the exporter: two frames in, one frame out."""
        return ExportSpec(
            task="interpolate",
            input_names=("frame0", "frame1"),
            output_names=("frame",),
            align=2**config.depth,
        )

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
        """Synthesise the middle frame.

        Args:
            frame0, frame1: (B, 3, H, W) in [-1, 1], H and W multiples of 2**depth.

        Returns:
            (B, 3, H, W) in [-1, 1].
        """
        align = 2**self.config.depth
        if frame0.shape[-2] % align or frame0.shape[-1] % align:
            raise InputError(
                f"EdgeUNet needs H and W to be multiples of {align}, got "
                f"{tuple(frame0.shape[-2:])}; pad the frames (the runtime does this)"
            )
        skips = [self.stem(torch.cat([frame0, frame1], dim=1))]  # (B, c, H, W)
        for stage in self.down:
            skips.append(stage(skips[-1]))  # (B, c*2^i, H/2^i, W/2^i)
        x = skips.pop()
        for stage in self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = stage(torch.cat([x, skips.pop()], dim=1))
        residual = self.head(x)  # (B, 3, H, W)
        return torch.clamp(0.5 * (frame0 + frame1) + residual, -1.0, 1.0)
