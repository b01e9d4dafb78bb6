"""The perceptual term of the toy experiment: VGG19 when its weights are on disk, else a stand-in.

No weights are ever downloaded. When torchvision's ``vgg19-dcbb9e9d.pth`` is
not in the torch hub cache, the experiment uses a clearly labelled weight-free
stand-in: L1 between the features of a small convolutional network with
fixed, seeded random weights (three stages of 3x3 conv + ReLU + 2x2 average
pool, 16/32/64 channels). Random convolutional features are a known weak
perceptual distance; the figure and the metrics JSON name which one ran.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from corrwise.errors import CheckpointError
from corrwise.train.losses.vgg import VGGLoss
from torch import nn

VGG_LABEL = "VGG19 (ImageNet weights)"
STAND_IN_LABEL = "weight-free stand-in: random conv features (no VGG19 weights on disk)"
STAND_IN_SEED = 1234
STAND_IN_WIDTHS = (16, 32, 64)


class RandomFeatureLoss(nn.Module):
    """L1 between multi-scale features of a frozen, seeded random conv net; 0-d tensor.

    Inputs (B, 3, H, W) in [-1, 1] with H, W >= 8; every stage's L1 counts equally.
    """

    def __init__(self, seed: int = STAND_IN_SEED) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.stages = nn.ModuleList()
        channels = 3
        for width in STAND_IN_WIDTHS:
            conv = nn.Conv2d(channels, width, 3, padding=1)
            with torch.no_grad():
                bound = (6 / (9 * channels)) ** 0.5  # He-uniform: unit-variance activations
                conv.weight.copy_((torch.rand(conv.weight.shape, generator=generator) * 2 - 1) * bound)
                conv.bias.zero_()
            self.stages.append(conv)
            channels = width
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, 3, H, W) in [-1, 1]. Returns: 0-d tensor, the mean over stages of feature L1."""
        terms = []
        for index, conv in enumerate(self.stages):
            x, y = F.relu(conv(x)), F.relu(conv(y))  # (B, C_i, H / 2^i, W / 2^i)
            terms.append(F.l1_loss(x, y))
            if index + 1 < len(self.stages):
                x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        return torch.stack(terms).mean()


def perceptual_loss() -> tuple[nn.Module, str]:
    """(loss module, label): VGGLoss from the hub cache when present, else :class:`RandomFeatureLoss`."""
    try:
        return VGGLoss(), VGG_LABEL
    except CheckpointError:
        return RandomFeatureLoss(), STAND_IN_LABEL
