"""RAFT optical flow (Teed & Deng, ECCV 2020) from torchvision: the paper's flow network, differentiable.

The paper ran RAFT-large with the "things" weights (trained on FlyingChairs +
FlyingThings3D) for 5 refinement iterations, feeding it images in [0, 255] that
the original code rescales to [-1, 1]. torchvision's RAFT takes [-1, 1]
directly (its ``OpticalFlow`` weight transforms normalise with mean 0.5, std
0.5), which is corrwise's image range, so images go in unchanged.

torchvision is imported only when a ``RAFTFlow`` is built, and weights are never
downloaded: they load from an explicit path or from the torch hub cache, where
``torchvision.models.optical_flow.raft_*(weights=...)`` would have put them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import torch
import torch.nn.functional as F
from corrwise.errors import BackendUnavailable, CheckpointError, ConfigError, InputError
from corrwise.train.flow.base import FlowEstimator, check_image_pair
from corrwise.train.weights import locate_weights, read_state_dict
from torch import nn

# size -> torchvision's file name of the C_T_V2 weights (FlyingChairs + FlyingThings3D, the paper's "things").
WEIGHT_FILES: dict[str, str] = {
    "small": "raft_small_C_T_V2-01064c6d.pth",
    "large": "raft_large_C_T_V2-1bb1363a.pth",
}
WEIGHTS_URL = "https://download.pytorch.org/models/{file}"
ALIGN = 8  # RAFT works at 1/8 resolution: H and W must be multiples of 8
MIN_SIDE = 128  # torchvision's correlation pyramid needs 1/8-scale feature maps of at least 16x16
# What a torchvision built for another torch raises on import (its C++ ops fail to load).
BROKEN_IMPORT_ERRORS = (RuntimeError, OSError)


def import_optical_flow() -> ModuleType:
    """``torchvision.models.optical_flow``, or BackendUnavailable saying how to get a working torchvision."""
    alternatives = "or use flow='match' or flow='dis', which need nothing extra"
    try:
        importlib.import_module("torchvision")
        return importlib.import_module("torchvision.models.optical_flow")
    except ImportError as err:
        raise BackendUnavailable(
            f"flow='raft' needs torchvision, which is not installed: install the release matching "
            f"torch {torch.__version__} ({matching_torchvision_command()}), {alternatives}"
        ) from err
    except BROKEN_IMPORT_ERRORS as err:
        raise BackendUnavailable(
            f"flow='raft' needs torchvision built for the installed torch {torch.__version__}, but importing "
            f"it failed ({type(err).__name__}: {err}); install the matching release "
            f"({matching_torchvision_command()}), {alternatives}"
        ) from err


def matching_torchvision_command() -> str:
    """How to install the torchvision that fits this torch: a CPU-only torch needs the CPU build."""
    if "+cpu" in torch.__version__:
        return "pip install torchvision --index-url https://download.pytorch.org/whl/cpu"
    return "pip install torchvision"


def weights_path(size: str, weights: str | Path | None) -> Path:
    """The weights file to load: ``weights`` itself, or torchvision's C_T_V2 file in the hub cache.

    Raises:
        CheckpointError: the file does not exist; the message names the file, the folder and
            the URL to fetch it from (nothing is downloaded here).
    """
    file = WEIGHT_FILES[size]
    return locate_weights(weights, file, f"RAFT-{size} weights", WEIGHTS_URL.format(file=file))


def build_raft(optical_flow: ModuleType, size: str, path: Path) -> nn.Module:
    """torchvision's ``raft_<size>`` with the weights in ``path``, in eval mode with frozen parameters."""
    net = getattr(optical_flow, f"raft_{size}")(weights=None)
    try:
        net.load_state_dict(read_state_dict(path, f"RAFT-{size} weights"))
    except RuntimeError as err:
        first_line = str(err).splitlines()[0]
        raise CheckpointError(
            f"{path} does not hold weights of torchvision's raft_{size} ({first_line}); "
            f"pass the matching file, e.g. {WEIGHT_FILES[size]!r}, or the matching size"
        ) from err
    return net.eval().requires_grad_(False)


def padding(height: int, width: int) -> tuple[int, int, int, int]:
    """Centred padding (left, right, top, bottom) up to multiples of 8 and at least 128 pixels."""
    pads: list[int] = []
    for side in (width, height):
        total = max(-(-side // ALIGN) * ALIGN, MIN_SIDE) - side
        pads += [total // 2, total - total // 2]
    return pads[0], pads[1], pads[2], pads[3]


def three_channels(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float32 for RAFT from (B, 3, H, W) RGB or (B, 1, H, W) gray (repeated), in [-1, 1]."""
    channels = images.shape[1]
    if channels == 1:
        images = images.expand(-1, 3, -1, -1)  # (B, 3, H, W)
    elif channels != 3:
        raise InputError(
            f"flow='raft' needs 3-channel (RGB) or 1-channel (gray) images, got {channels} channels"
        )
    return images.float()


class RAFTFlow(FlowEstimator):
    """torchvision's RAFT, frozen, run for a fixed number of refinement iterations.

    Args:
        size: ``large`` (default: the paper's network, 5.3 M parameters) or ``small`` (1 M, ~4x
            cheaper on a CPU).
        weights: path of a ``.pth`` (loaded tensors-only) or ``.safetensors`` state dict of
            torchvision's ``raft_<size>``; ``None`` loads torchvision's C_T_V2 file from the torch
            hub cache (``torch.hub.get_dir()/checkpoints``).
        iters: refinement iterations (default 5, as in the paper).

    Raises:
        BackendUnavailable: torchvision is missing or does not fit the installed torch.
        CheckpointError: the weights are missing, unreadable, or of the other size.
        ConfigError: unknown ``size`` or ``iters`` below 1.

    Gradients flow through the network into the images (``differentiable``), never into
    its parameters. The network moves to the inputs' device on first use there.
    """

    name: ClassVar[str] = "raft"
    differentiable: ClassVar[bool] = True

    def __init__(self, size: str = "large", weights: str | Path | None = None, iters: int = 5) -> None:
        super().__init__()
        if size not in WEIGHT_FILES:
            raise ConfigError(f"unknown RAFT size {size!r}; choose one of {list(WEIGHT_FILES)}")
        if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
            raise ConfigError(f"RAFT iters must be an integer >= 1, got {iters!r}")
        optical_flow = import_optical_flow()
        self.size = size
        self.iters = iters
        self.weights = weights_path(size, weights)
        self.net = build_raft(optical_flow, size, self.weights)

    def extra_repr(self) -> str:
        return f"size={self.size!r}, iters={self.iters}, weights='{self.weights}'"

    def train(self, mode: bool = True) -> RAFTFlow:
        """Set this module's mode; the RAFT network itself always stays in eval mode."""
        super().train(mode)
        self.net.eval()
        return self

    def follow(self, device: torch.device) -> None:
        """Move the network to ``device`` unless it is already there."""
        if next(self.net.parameters()).device != device:
            self.net.to(device)

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flow A → B: the last of ``iters`` RAFT refinements.

        Args:
            a, b: (B, C, H, W) in [-1, 1] with C in {1, 3}, already checked by :meth:`forward`.
                Any H, W: the images are replicate-padded (centred) to multiples of 8 and at
                least 128x128, and the flow is cropped back.

        Returns:
            (B, 2, H, W) float32 flow in pixels (x then y) on A's grid, on the inputs' device,
            differentiable with respect to ``a`` and ``b``.
        """
        height, width = a.shape[2:]
        pads = padding(height, width)
        left, top = pads[0], pads[2]
        self.follow(a.device)
        padded_a = F.pad(three_channels(a), pads, mode="replicate")  # (B, 3, H', W')
        padded_b = F.pad(three_channels(b), pads, mode="replicate")  # (B, 3, H', W')
        flows = self.net(padded_a, padded_b, num_flow_updates=self.iters)
        flow = flows[-1][:, :, top : top + height, left : left + width]  # (B, 2, H, W) pixels
        return flow.float()

    def pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both directions in one batched run: (flow A → B, flow B → A), each (B, 2, H, W) in pixels."""
        check_image_pair(a, b)
        both = self.estimate(torch.cat((a, b)), torch.cat((b, a)))  # (2B, 2, H, W)
        return both[: a.shape[0]], both[a.shape[0] :]
