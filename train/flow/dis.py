"""DIS optical flow (Kroeger et al., ECCV 2016) from OpenCV: fast, CPU only, not differentiable.

Dense Inverse Search matches patches on an image pyramid and densifies the
result with variational refinement. It works on 8-bit grayscale, so colour
images are reduced to BT.601 luma first. Per 256x448 pair on a 2-core CPU,
conversion included: ``ultrafast`` ~1.3 ms, ``fast`` ~2 ms, ``medium`` ~7 ms.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import torch
from corrwise.errors import ConfigError, InputError
from corrwise.extras import import_for
from corrwise.train.flow.base import FlowEstimator

# preset name -> name of OpenCV's constant (looked up once cv2 is imported).
PRESETS: dict[str, str] = {
    "ultrafast": "DISOPTICAL_FLOW_PRESET_ULTRAFAST",
    "fast": "DISOPTICAL_FLOW_PRESET_FAST",
    "medium": "DISOPTICAL_FLOW_PRESET_MEDIUM",
}
LUMA_BT601 = (0.299, 0.587, 0.114)  # R, G, B weights of Y' (ITU-R BT.601)
MIN_SIDE = 12  # OpenCV's DIS refuses images whose height or width is below 12 pixels


def import_cv2() -> ModuleType:
    """OpenCV, or BackendUnavailable naming the ``train`` extra that installs it."""
    return import_for("cv2", "train", "flow='dis'")


def gray_uint8(images: torch.Tensor) -> np.ndarray:
    """8-bit grayscale for DIS.

    Args:
        images: (B, C, H, W) in [-1, 1] with C = 3 (RGB, reduced to BT.601 luma) or C = 1 (used as is).

    Returns:
        (B, H, W) uint8 C-contiguous array in [0, 255], on the CPU.
    """
    channels = images.shape[1]
    if channels == 3:
        weights = images.new_tensor(LUMA_BT601).view(1, 3, 1, 1)
        luma = (images * weights).sum(dim=1)  # (B, H, W) in [-1, 1]
    elif channels == 1:
        luma = images[:, 0]  # (B, H, W)
    else:
        raise InputError(
            f"flow='dis' needs 1-channel (gray) or 3-channel (RGB) images, got {channels} channels"
        )
    levels = ((luma.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return np.ascontiguousarray(levels.cpu().numpy())


class DISFlow(FlowEstimator):
    """OpenCV's DIS optical flow with a named preset.

    Args:
        preset: ``ultrafast``, ``fast`` or ``medium`` (default: the most accurate of
            the three, still ~7 ms per 256x448 pair on a CPU).

    One OpenCV DIS instance is created on first use and reused; instances are not
    thread-safe, so give each thread (or data-loader worker) its own estimator.
    Copies and pickles of the estimator start without an instance and make their own.
    """

    name: ClassVar[str] = "dis"
    differentiable: ClassVar[bool] = False

    def __init__(self, preset: str = "medium") -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ConfigError(f"unknown DIS preset {preset!r}; choose one of {list(PRESETS)}")
        self.preset = preset
        self._engine: Any = None

    def extra_repr(self) -> str:
        return f"preset={self.preset!r}"

    def __getstate__(self) -> dict[str, Any]:
        """Drop the OpenCV instance, which cannot be pickled or shared; the copy makes its own."""
        state = super().__getstate__()
        state["_engine"] = None
        return state

    def engine(self) -> Any:
        """The OpenCV ``DISOpticalFlow`` instance of this estimator, created on first use."""
        if self._engine is None:
            cv2 = import_cv2()
            self._engine = cv2.DISOpticalFlow_create(getattr(cv2, PRESETS[self.preset]))
        return self._engine

    @torch.no_grad()
    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flow A → B.

        Args:
            a, b: (B, C, H, W) in [-1, 1] with C in {1, 3} and H, W >= 12, already checked by
                :meth:`forward`.

        Returns:
            (B, 2, H, W) float32 flow in pixels (x then y) on A's grid, on the inputs' device;
            never requires grad.
        """
        height, width = a.shape[2:]
        if min(height, width) < MIN_SIDE:
            raise InputError(
                f"flow='dis' needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, got {height}x{width}"
            )
        gray_a, gray_b = gray_uint8(a), gray_uint8(b)  # (B, H, W) uint8 each
        engine = self.engine()
        flows = np.stack([engine.calc(x, y, None) for x, y in zip(gray_a, gray_b, strict=True)])
        flow = torch.from_numpy(flows).permute(0, 3, 1, 2)  # (B, 2, H, W) float32 pixels
        return flow.to(device=a.device, dtype=torch.float32).contiguous()
