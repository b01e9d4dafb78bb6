"""Pix2PixHDGlobal: the global generator of pix2pixHD (Wang et al., 2018), fed with video frames.

    frames, concatenated on channels                       (B, C_in, H, W)
        C_in = 6 (interpolate) or 3K (predict)
    -> ReflectionPad(3) + Conv 7x7 + InstanceNorm + ReLU   (B, ngf, H, W)
    -> n_downsampling x [Conv 3x3 stride 2 + InstanceNorm + ReLU], doubling channels
                                                           (B, ngf*2^n, H/2^n, W/2^n)
    -> n_blocks residual blocks: x + [ReflectionPad(1), Conv 3x3, InstanceNorm, ReLU,
                                      ReflectionPad(1), Conv 3x3, InstanceNorm]
    -> n_downsampling x [ConvTranspose 3x3 stride 2 + InstanceNorm + ReLU], halving channels
                                                           (B, ngf, H, W)
    -> ReflectionPad(3) + Conv 7x7 + tanh                  (B, 3, H, W) in [-1, 1]

As in the paper: InstanceNorm without affine parameters, ConvTranspose2d with
kernel 3, stride 2, padding 1 and output padding 1 for upsampling. On inputs
aligned to ``2 ** n_downsampling`` each transposed convolution gives exactly
twice its input size, and it exports to a plain ONNX ConvTranspose that
TensorRT parses, so the paper's layer is kept (no nearest-resize substitute).
The frame is synthesised directly (no residual on a blend or on the last frame).

How time enters (``timestep=True``): not as a constant input plane. Every
convolution here is followed by an InstanceNorm, and with reflection padding
a convolution answers a constant plane t with a per-channel constant, which
the InstanceNorm subtracts exactly: the output would not depend on t at all.
Instead every InstanceNorm becomes conditional on t (conditional instance
normalisation, Dumoulin et al., 2017), with a scale and shift linear in t:

    IN(x) * (1 + t * time_scale) + t * time_shift,   time_scale, time_shift: (1, C, 1, 1)

Both start at zero, so an untrained time-conditioned generator computes what
the paper's generator computes, and training learns how t bends each layer.

Alignment: H and W must be multiples of ``2 ** n_downsampling``. Minimum size:
the residual blocks reflection-pad the bottleneck by one pixel, which needs at
least 2x2 there, so H and W must also be at least ``2 * 2 ** n_downsampling``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from corrwise.errors import ConfigError, InputError
from corrwise.models.inputs import (
    DEFAULT_CONTEXT_FRAMES,
    TIMESTEP_NAME,
    check_task_options,
    frame_names,
    input_channels,
    split_inputs,
)
from corrwise.models.spec import ExportSpec
from torch import nn

NAME = "Pix2PixHDGlobal"


@dataclass(frozen=True)
class Pix2PixHDConfig:
    """Size and task of a pix2pixHD global generator.

    Attributes:
        ngf: width of the first layer; 64 is the paper's (about 182 M
            parameters with the other defaults, since the bottleneck has 1024 channels).
        n_downsampling: stride-2 stages; the paper's 4 gives a 1/16 bottleneck
            and an alignment of 16 pixels.
        n_blocks: residual blocks at the bottleneck; the paper's global generator uses 9.
        task: ``"interpolate"`` (two frames -> the frame between) or
            ``"predict"`` (``context_frames`` past frames -> the next frame).
        context_frames: predict only: number of past frames in.
        timestep: interpolate only: take a time input t in (0, 1) that
            conditions every InstanceNorm, and synthesise the frame at t.
    """

    ngf: int = 64
    n_downsampling: int = 4
    n_blocks: int = 9
    task: str = "interpolate"
    context_frames: int = DEFAULT_CONTEXT_FRAMES
    timestep: bool = False

    def __post_init__(self) -> None:
        checks = [("ngf", self.ngf, 4, 256), ("n_downsampling", self.n_downsampling, 1, 6)]
        checks.append(("n_blocks", self.n_blocks, 0, 32))
        for name, value, low, high in checks:
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(
                    f"Pix2PixHDConfig: {name} must be an integer in [{low}, {high}], got {value!r}"
                )
        check_task_options("Pix2PixHDConfig", self.task, self.context_frames, self.timestep)


class TimeInstanceNorm(nn.Module):
    """InstanceNorm without affine parameters, optionally conditioned on the time t.

    (B, C, h, w) and t (B, 1, 1, 1) in (0, 1) or None -> (B, C, h, w):
    ``IN(x)`` without a time input, ``IN(x) * (1 + t * time_scale) + t * time_shift`` with one.
    """

    def __init__(self, channels: int, timestep: bool) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.time_scale = nn.Parameter(torch.zeros(1, channels, 1, 1)) if timestep else None
        self.time_shift = nn.Parameter(torch.zeros(1, channels, 1, 1)) if timestep else None

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        y = self.norm(x)
        if self.time_scale is None or self.time_shift is None or t is None:
            return y
        return y * (1.0 + t * self.time_scale) + t * self.time_shift  # (B, C, h, w)


class ConvNormReLU(nn.Module):
    """``layer`` (a convolution, with its padding) + TimeInstanceNorm + ReLU."""

    def __init__(self, layer: nn.Module, channels: int, timestep: bool) -> None:
        super().__init__()
        self.layer = layer
        self.norm = TimeInstanceNorm(channels, timestep)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        return torch.relu(self.norm(self.layer(x), t))


class ResnetBlock(nn.Module):
    """x + [pad, conv, norm, ReLU, pad, conv, norm](x): (B, C, h, w) -> (B, C, h, w), h and w >= 2."""

    def __init__(self, channels: int, timestep: bool) -> None:
        super().__init__()
        self.conv1 = ConvNormReLU(
            nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3)), channels, timestep
        )
        self.conv2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3))
        self.norm2 = TimeInstanceNorm(channels, timestep)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.norm2(self.conv2(self.conv1(x, t)), t)


class Pix2PixHDGlobal(nn.Module):
    """Frame interpolation or next-frame prediction with pix2pixHD's global generator (module docstring).

    ``forward(*inputs)`` takes the frames positionally, oldest first, then the
    timestep when the config has one.
    """

    config_class = Pix2PixHDConfig

    def __init__(self, config: Pix2PixHDConfig | None = None) -> None:
        super().__init__()
        self.config = config or Pix2PixHDConfig()
        cfg, ts = self.config, self.config.timestep
        widths = [cfg.ngf * 2**i for i in range(cfg.n_downsampling + 1)]
        c_in = input_channels(cfg.task, cfg.context_frames, timestep=False)  # time enters the norms
        stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(c_in, widths[0], 7))
        self.stem = ConvNormReLU(stem, widths[0], ts)
        self.down = nn.ModuleList(
            ConvNormReLU(nn.Conv2d(widths[i], widths[i + 1], 3, 2, 1), widths[i + 1], ts)
            for i in range(cfg.n_downsampling)
        )
        self.blocks = nn.ModuleList(ResnetBlock(widths[-1], ts) for _ in range(cfg.n_blocks))
        self.up = nn.ModuleList(
            ConvNormReLU(
                nn.ConvTranspose2d(widths[i + 1], widths[i], 3, 2, 1, output_padding=1), widths[i], ts
            )
            for i in reversed(range(cfg.n_downsampling))
        )
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(widths[0], 3, 7), nn.Tanh())

    @staticmethod
    def export_spec(config: Pix2PixHDConfig) -> ExportSpec:
        """Graph facts for the exporter: the frames (and the timestep) in, one frame out."""
        align = 2**config.n_downsampling
        return ExportSpec(
            task=config.task,
            input_names=frame_names(config.task, config.context_frames),
            output_names=("frame",),
            align=align,
            timestep_input=TIMESTEP_NAME if config.timestep else None,
            min_size=2 * align,
        )

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Synthesise the frame between two frames (at 0.5 or at t), or the frame after the context.

        Args:
            inputs: interpolate: ``frame0, frame1``; with ``timestep=True``:
                ``frame0, frame1, timestep``; predict: ``frame0 ... frame{K-1}``,
                oldest first. Frames (B, 3, H, W) in [-1, 1], H and W multiples
                of 2**n_downsampling and at least twice that; timestep (B, 1, 1, 1) in (0, 1).

        Returns:
            (B, 3, H, W) in [-1, 1].
        """
        spec = self.export_spec(self.config)
        frames, t = split_inputs(NAME, inputs, spec.input_names, self.config.timestep, spec.align)
        if frames[0].shape[-2] < spec.min_size or frames[0].shape[-1] < spec.min_size:
            raise InputError(
                f"{NAME} needs H and W >= {spec.min_size} (two pixels at its 1/{spec.align} bottleneck), "
                f"got {tuple(frames[0].shape[-2:])}; pad the frames or use a smaller n_downsampling"
            )
        x = self.stem(torch.cat(frames, dim=1), t)  # (B, ngf, H, W)
        for stage in self.down:
            x = stage(x, t)  # (B, ngf*2^i, H/2^i, W/2^i)
        for block in self.blocks:
            x = block(x, t)  # (B, ngf*2^n, H/2^n, W/2^n)
        for stage in self.up:
            x = stage(x, t)  # (B, ngf*2^i, H/2^i, W/2^i)
        return self.head(x)  # (B, 3, H, W)
