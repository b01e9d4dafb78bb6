"""EdgeUNet: a small encoder-decoder that interpolates between two frames or predicts the next one.

    interpolate:        frame0, frame1 (B, 3, H, W) in [-1, 1]      -> concat (B, 6, H, W)
    interpolate + time: frame0, frame1, timestep (B, 1, 1, 1) in (0, 1)
                        -> concat with a constant plane of t       -> (B, 7, H, W)
    predict:            frame0 ... frame{K-1}, oldest first         -> concat (B, 3K, H, W)
        -> encoder: `depth` stride-2 stages, widths c, 2c, 4c, ...
        -> decoder: nearest x2 upsampling + skip connections
        -> residual (B, 3, H, W) added to a base frame:
               interpolate:        (frame0 + frame1) / 2
               interpolate + time: (1 - t) * frame0 + t * frame1
               predict:            the last frame, frame{K-1}
        -> clamp to [-1, 1]

Predicting a correction to a base frame makes the untrained network (its head
is zero) a frame blender or a copy-last predictor, and lets a short CPU
training run improve on it. Only convolutions, LeakyReLU, nearest resize,
concat, arithmetic and clip: every op exports to ONNX and TensorRT.
H and W must be multiples of ``2 ** depth``; the runtime pads to that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.models.inputs import (
    DEFAULT_CONTEXT_FRAMES,
    TIMESTEP_NAME,
    check_task_options,
    frame_names,
    input_channels,
    split_inputs,
    time_plane,
)
from corrwise.models.spec import ExportSpec
from torch import nn


@dataclass(frozen=True)
class EdgeUNetConfig:
    """Size and task of an EdgeUNet.

    Attributes:
        base_channels: width of the first stage; 16 keeps the network near
            0.44 M parameters (about 1.8 MB in fp32), sized for CPU and edge inference.
        depth: number of stride-2 stages; 3 gives a 1/8-resolution bottleneck,
            enough receptive field for motions of about 10-20 px.
        task: ``"interpolate"`` (two frames -> the frame between; the default,
            so configs written before this field build the same network) or
            ``"predict"`` (``context_frames`` past frames -> the next frame).
        context_frames: predict only: number of past frames in; 3 gives the
            network acceleration as well as velocity. Leave at 3 to interpolate.
        timestep: interpolate only: take a time input t in (0, 1) and
            synthesise the frame at t instead of the midpoint.
    """

    base_channels: int = 16
    depth: int = 3
    task: str = "interpolate"
    context_frames: int = DEFAULT_CONTEXT_FRAMES
    timestep: bool = False

    def __post_init__(self) -> None:
        if not 4 <= self.base_channels <= 256:
            raise ConfigError(f"base_channels must be in [4, 256], got {self.base_channels}")
        if not 1 <= self.depth <= 6:
            raise ConfigError(f"depth must be in [1, 6], got {self.depth}")
        check_task_options("EdgeUNetConfig", self.task, self.context_frames, self.timestep)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.1))


class EdgeUNet(nn.Module):
    """Frame interpolation (at t = 0.5 or at a time input) or next-frame prediction with an edge-sized U-Net.

    See the module docstring for the data flow. ``forward(*inputs)`` takes the
    frames positionally, oldest first, then the timestep when the config has one.
    """

    config_class = EdgeUNetConfig

    def __init__(self, config: EdgeUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or EdgeUNetConfig()
        cfg = self.config
        c, depth = cfg.base_channels, cfg.depth
        widths = [c * 2**i for i in range(depth + 1)]
        c_in = input_channels(cfg.task, cfg.context_frames, cfg.timestep)
        self.stem = nn.Sequential(_conv(c_in, widths[0]), _conv(widths[0], widths[0]))
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
        """Graph facts for the exporter: the frames (and the timestep) in, one frame out."""
        return ExportSpec(
            task=config.task,
            input_names=frame_names(config.task, config.context_frames),
            output_names=("frame",),
            align=2**config.depth,
            timestep_input=TIMESTEP_NAME if config.timestep else None,
        )

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Synthesise the frame between two frames, or the frame after the context frames.

        Args:
            inputs: interpolate: ``frame0, frame1``; with ``timestep=True``:
                ``frame0, frame1, timestep``; predict: ``frame0 ... frame{K-1}``,
                oldest first. Frames (B, 3, H, W) in [-1, 1] with H and W
                multiples of 2**depth; timestep (B, 1, 1, 1) in (0, 1).

        Returns:
            (B, 3, H, W) in [-1, 1].
        """
        spec = self.export_spec(self.config)
        frames, t = split_inputs("EdgeUNet", inputs, spec.input_names, self.config.timestep, spec.align)
        x = torch.cat(frames if t is None else [*frames, time_plane(t, frames[0])], dim=1)  # (B, C_in, H, W)
        return torch.clamp(self._base(frames, t) + self._residual(x), -1.0, 1.0)

    def _base(self, frames: list[torch.Tensor], t: torch.Tensor | None) -> torch.Tensor:
        """The frame the residual corrects: the last frame, the midpoint blend, or the blend at t."""
        if self.config.task == "predict":
            return frames[-1]
        if t is None:
            return 0.5 * (frames[0] + frames[1])
        return (1.0 - t) * frames[0] + t * frames[1]  # (B, 3, H, W)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        """U-Net body: (B, C_in, H, W) -> (B, 3, H, W)."""
        skips = [self.stem(x)]  # (B, c, H, W)
        for stage in self.down:
            skips.append(stage(skips[-1]))  # (B, c*2^i, H/2^i, W/2^i)
        x = skips.pop()
        for stage in self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = stage(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)  # (B, 3, H, W)
