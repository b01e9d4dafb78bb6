"""VideoPredictor3D: the video-prediction generator with a 3-D convolutional encoder and a 2-D decoder.

    frame0 ... frame{K-1} (B, 3, H, W) in [-1, 1], oldest first
        -> stack on a time axis                                  (B, 3, K, H, W)
        -> encoder (Conv3d 3x3x3 + BatchNorm3d + ReLU blocks):
               stem at full resolution                           (B, c, K, H, W)
               n_down stages, stride (1, 2, 2)                   (B, c*2^i, K, H/2^i, W/2^i)
        -> time collapse at every level: Conv3d with temporal kernel K and no
           temporal padding (+ BatchNorm3d + ReLU), then drop the time axis
               bottleneck: kernel (K, 3, 3); skips: kernel (K, 1, 1)
                                                                 (B, c*2^i, H/2^i, W/2^i)
        -> decoder, n_down stages: nearest x2 upsampling, concat the collapsed
           skip of that resolution, Conv2d 3x3 + BatchNorm2d + ReLU
        -> Conv2d 3x3 to RGB + tanh                              (B, 3, H, W) in [-1, 1]

The time axis is never strided or padded away before the collapse, so every
level of the decoder sees all K frames in their order (motion, not only
appearance). The frame is synthesised directly (no residual on the last frame).
Ops: Conv (3-D and 2-D), BatchNormalization (or folded into Conv), Relu,
Resize nearest, Concat, Squeeze/Unsqueeze, Tanh: all in TensorRT's ONNX parser.
H and W must be multiples of ``2 ** n_down``; the runtime pads to that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.models.inputs import DEFAULT_CONTEXT_FRAMES, check_context_frames, frame_names, split_inputs
from corrwise.models.spec import ExportSpec
from torch import nn


@dataclass(frozen=True)
class VideoPredictor3DConfig:
    """Size of a VideoPredictor3D.

    Attributes:
        ngf: width of the first encoder level; later levels double it. 32 gives
            about 3.6 M parameters at n_down=3, K=3 (14 MB in fp32).
        context_frames: K, the number of past frames in; also the temporal
            kernel of the collapse convolutions.
        n_down: spatial stride-2 stages; 3 gives a 1/8-resolution bottleneck
            and an alignment of 8 pixels.
    """

    ngf: int = 32
    context_frames: int = DEFAULT_CONTEXT_FRAMES
    n_down: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.ngf, int) or not 4 <= self.ngf <= 256:
            raise ConfigError(f"VideoPredictor3DConfig: ngf must be an integer in [4, 256], got {self.ngf!r}")
        if not isinstance(self.n_down, int) or not 1 <= self.n_down <= 6:
            raise ConfigError(
                f"VideoPredictor3DConfig: n_down must be an integer in [1, 6], got {self.n_down!r}"
            )
        check_context_frames("VideoPredictor3DConfig", self.context_frames)


def _block3d(c_in: int, c_out: int, kernel: tuple[int, int, int], stride: int, pad: int) -> nn.Sequential:
    """Conv3d + BatchNorm3d + ReLU; ``stride`` and ``pad`` are spatial (time: stride 1, pad k // 2)."""
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel, (1, stride, stride), (kernel[0] // 2, pad, pad), bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(),
    )


def _collapse(c: int, frames: int, spatial: int) -> nn.Sequential:
    """Conv3d over all ``frames`` at once (temporal kernel K, no temporal padding): T = K -> T = 1."""
    return nn.Sequential(
        nn.Conv3d(c, c, (frames, spatial, spatial), 1, (0, spatial // 2, spatial // 2), bias=False),
        nn.BatchNorm3d(c),
        nn.ReLU(),
    )


def _block2d(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class VideoPredictor3D(nn.Module):
    """Next-frame prediction from K past frames: 3-D conv encoder, 2-D U-Net decoder (module docstring)."""

    config_class = VideoPredictor3DConfig

    def __init__(self, config: VideoPredictor3DConfig | None = None) -> None:
        super().__init__()
        self.config = config or VideoPredictor3DConfig()
        k, n = self.config.context_frames, self.config.n_down
        widths = [self.config.ngf * 2**i for i in range(n + 1)]
        self.encoder = nn.ModuleList(
            [_block3d(3, widths[0], (3, 3, 3), 1, 1)]
            + [_block3d(widths[i], widths[i + 1], (3, 3, 3), 2, 1) for i in range(n)]
        )
        # Skips collapse time point-wise; the bottleneck also mixes 3x3 neighbours.
        self.collapse = nn.ModuleList(_collapse(widths[i], k, 3 if i == n else 1) for i in range(n + 1))
        self.decoder = nn.ModuleList(
            _block2d(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(n))
        )
        self.head = nn.Conv2d(widths[0], 3, 3, 1, 1)

    @staticmethod
    def export_spec(config: VideoPredictor3DConfig) -> ExportSpec:
        """Graph facts for the exporter: K frames in, the next frame out."""
        return ExportSpec(
            task="predict",
            input_names=frame_names("predict", config.context_frames),
            output_names=("frame",),
            align=2**config.n_down,
        )

    def forward(self, *frames: torch.Tensor) -> torch.Tensor:
        """Predict the frame after ``frames``.

        Args:
            frames: K tensors ``frame0 ... frame{K-1}``, oldest first, each
                (B, 3, H, W) in [-1, 1] with H and W multiples of 2**n_down.

        Returns:
            (B, 3, H, W) in [-1, 1].
        """
        spec = self.export_spec(self.config)
        checked, _ = split_inputs("VideoPredictor3D", frames, spec.input_names, False, spec.align)
        x = torch.stack(checked, dim=2)  # (B, 3, K, H, W)
        skips = []
        for stage, collapse in zip(self.encoder, self.collapse, strict=True):
            x = stage(x)  # (B, c*2^i, K, H/2^i, W/2^i)
            skips.append(collapse(x).squeeze(2))  # (B, c*2^i, H/2^i, W/2^i)
        x = skips.pop()  # the collapsed bottleneck (B, c*2^n, H/2^n, W/2^n)
        for stage in self.decoder:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = stage(torch.cat([x, skips.pop()], dim=1))  # (B, c*2^i, H/2^i, W/2^i)
        return torch.tanh(self.head(x))  # (B, 3, H, W)
