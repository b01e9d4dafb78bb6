"""Shared fixtures: one checkpoint with non-trivial weights, exported once per session."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from corrwise.contract import IOContract
from corrwise.export import onnx_from_checkpoint
from corrwise.models import build_model, save_checkpoint
from corrwise.runtime import OnnxRuntimeRunner, Runner, VideoWriter
from corrwise.runtime.backends.cuda_device import tensorrt_unavailable_reason

TENSORRT_UNAVAILABLE = tensorrt_unavailable_reason()
# Real-TensorRT tests run wherever tensorrt imports and a CUDA device exists.
requires_tensorrt = pytest.mark.skipif(
    TENSORRT_UNAVAILABLE is not None, reason=f"needs tensorrt and a CUDA device: {TENSORRT_UNAVAILABLE}"
)


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An edge-unet checkpoint whose head is random, so outputs differ from the plain blend."""
    torch.manual_seed(0)
    model = build_model("edge-unet", {"base_channels": 8})
    torch.nn.init.normal_(model.head.weight, std=0.05)
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    return save_checkpoint(path, model, "edge-unet", {"loss": "l1", "steps": 0})


@pytest.fixture(scope="session")
def predict_checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A predict edge-unet (3 context frames) with a random head, so it does more than copy the last frame."""
    torch.manual_seed(1)
    model = build_model("edge-unet", {"task": "predict", "base_channels": 8})
    torch.nn.init.normal_(model.head.weight, std=0.05)
    path = tmp_path_factory.mktemp("predict") / "predict.safetensors"
    return save_checkpoint(path, model, "edge-unet", {"loss": "l1", "steps": 0})


@pytest.fixture(scope="session")
def predict_onnx_path(predict_checkpoint_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_from_checkpoint(predict_checkpoint_path, tmp_path_factory.mktemp("predict") / "predict.onnx")


@pytest.fixture(scope="session")
def onnx_path(checkpoint_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_from_checkpoint(checkpoint_path, tmp_path_factory.mktemp("onnx") / "model.onnx")


def moving_frames(n: int, h: int = 48, w: int = 64) -> list[np.ndarray]:
    """``n`` uint8 (h, w, 3) frames of a horizontal ramp moving 2 px per frame."""
    x = np.arange(w)[None, :, None]
    return [np.broadcast_to(((x * 4 + 8 * i) % 256).astype(np.uint8), (h, w, 3)).copy() for i in range(n)]


def write_clip(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(24)) -> Path:
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return path


@pytest.fixture
def make_clip() -> Callable[[Path, int], Path]:
    """Write an H.264 clip of ``n`` moving frames at 24 fps; return its path."""
    return lambda path, n: write_clip(path, moving_frames(n))


def make_contract(**changes: object) -> IOContract:
    """An interpolation contract (edge-unet, align 8, float NCHW in [-1, 1]) with ``changes`` applied."""
    base = IOContract(
        task="interpolate",
        context_frames=2,
        input_names=("frame0", "frame1"),
        output_names=("frame",),
        align=8,
        model_name="edge-unet",
        model_config={"base_channels": 8},
        training_loss="l1",
    )
    return dataclasses.replace(base, **changes)


def fused_contract(**changes: object) -> IOContract:
    """:func:`make_contract` for a graph with fused uint8 NHWC I/O."""
    fused = {"layout": "NHWC", "dtype": "uint8", "value_range": (0.0, 255.0), "fused_io": True}
    return make_contract(**{**fused, **changes})


class CountingRunner(Runner):
    """ONNX Runtime underneath; records the batch size of every model call."""

    backend = "counting"

    def __init__(self, path):
        super().__init__(path)
        self.inner = OnnxRuntimeRunner(path, threads=1)
        self.batches = []

    def _open(self):
        return self.inner.open().contract

    def _infer(self, inputs):
        self.batches.append(next(iter(inputs.values())).shape[0])
        return self.inner.infer(inputs)

    def _close(self):
        self.inner.close()
