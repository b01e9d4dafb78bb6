"""Parity verification: run the PyTorch original and an exported artifact on the same frames, judge, report.

The artifact runs through the runtime's own backend (ONNX Runtime or
TensorRT), the original through PyTorch, on frame sizes other than the
export's trace size. Each output pair is judged by the shared tolerance
table (:mod:`corrwise.tolerances`), by the artifact's backend and precision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import corrwise
import numpy as np
import torch
from corrwise.atomic import atomic_output
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, ContractError
from corrwise.export.artifact import artifact_kind, read_contract
from corrwise.export.calibration import fit_window, frame_windows, model_inputs, window_length
from corrwise.models import load_checkpoint
from corrwise.runtime.backends import open_runner
from corrwise.runtime.padding import padded_hw
from corrwise.tolerances import compare, precision_label, tolerance_for

Shape = tuple[int, int, int]  # (N, H, W)


@dataclass(frozen=True)
class ShapeParity:
    """The comparison at one batch shape: largest abs difference and PSNR (dB), output units [-1, 1]."""

    shape: Shape
    max_abs: float
    psnr_db: float
    passed: bool


@dataclass(frozen=True)
class ParityReport:
    """Everything ``corr-export verify`` measured, as written to the report JSON."""

    artifact: str
    checkpoint: str
    backend: str
    precision: str
    tolerance: dict[str, float | None]
    frames: str
    results: tuple[ShapeParity, ...]
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; an infinite PSNR (identical outputs) is written as null."""
        data = asdict(self)
        for row in data["results"]:
            row["shape"] = list(row["shape"])
            row["psnr_db"] = None if math.isinf(row["psnr_db"]) else round(row["psnr_db"], 3)
        return {**data, "corrwise_version": corrwise.__version__}

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON (atomically); return the path."""
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return Path(path)


def default_shapes(contract: IOContract) -> list[Shape]:
    """Two batch shapes, neither the export's trace size (4 x 6 alignments): a batch of two, a larger frame.

    A fixed-size export is checked at its size with batches of one and two.
    """
    if contract.static_hw is not None:
        h, w = contract.static_hw
        return [(1, h, w), (2, h, w)]
    a = contract.align
    return [(2, 5 * a, 7 * a), (1, a * -(-144 // a), a * -(-176 // a))]


def parse_shapes(text: str) -> list[Shape]:
    """``"2x40x56,1x144x176"`` (NxHxW, comma-separated) -> [(2, 40, 56), (1, 144, 176)]; else ConfigError."""
    shapes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ConfigError(f"shape {item!r} is not NxHxW with positive integers, e.g. 1x144x176")
        shapes.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return shapes


def synthetic_windows(length: int, count: int, size: tuple[int, int], seed: int) -> list[list[np.ndarray]]:
    """``count`` windows of ``length`` uint8 (H, W, 3) frames: smooth random textures, up to 3 px motion."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    windows = []
    for _ in range(count):
        freq = rng.uniform(0.02, 0.25, size=(3, 4, 2))  # cycles per pixel, per channel and wave
        phase = rng.uniform(0, 2 * np.pi, size=(3, 4))
        velocity = rng.uniform(-3, 3, size=2)  # px per frame
        window = []
        for k in range(length):
            y, x = yy - velocity[0] * k, xx - velocity[1] * k
            waves = np.sin(
                freq[..., 0, None, None] * y + freq[..., 1, None, None] * x + phase[..., None, None]
            )
            image = 127.5 + 127.5 * waves.mean(axis=1)  # (3, H, W) in [0, 255]
            window.append(np.clip(np.rint(image), 0, 255).astype(np.uint8).transpose(1, 2, 0))
        windows.append(window)
    return windows


def verify(
    artifact: str | Path,
    checkpoint: str | Path,
    frames: str | Path | None = None,
    shapes: Sequence[Shape] | None = None,
    backend: str | None = None,
    tick: Callable[[], None] | None = None,
    **backend_options: object,
) -> ParityReport:
    """Compare ``artifact`` with the PyTorch model in ``checkpoint`` on real or synthetic frames.

    Args:
        artifact: an ONNX model or TensorRT engine exported from ``checkpoint``.
        checkpoint: the corrwise checkpoint (.safetensors) it was exported from.
        frames: a video or a folder of frames; None draws synthetic textures.
        shapes: (N, H, W) batch shapes to check; default :func:`default_shapes`.
            H and W are padded up to the alignment like the runtime does.
        backend: runtime backend; default ``onnxruntime`` for .onnx files and
            ``tensorrt`` for engines.
        tick: called once per shape checked (for a progress bar).
        backend_options: passed to the backend, e.g. ``providers=[...]``.

    Returns:
        The report; ``passed`` is False when any shape is outside the tolerance.
    """
    contract = read_contract(artifact)
    backend = backend or ("tensorrt" if artifact_kind(artifact) == "tensorrt" else "onnxruntime")
    precision = precision_label(contract.precision, contract.fused_io)
    tolerance = tolerance_for(backend, precision)
    ckpt = load_checkpoint(checkpoint)
    _check_origin(contract, ckpt.name, ckpt.config, artifact, checkpoint)
    results = []
    with open_runner(artifact, backend, **backend_options) as runner:
        for index, shape in enumerate(shapes or default_shapes(contract)):
            inputs = _batch(contract, shape, frames, seed=index)
            out = runner.infer(inputs)[contract.output_names[0]]
            with torch.no_grad():
                ref = ckpt.model(*(_as_torch(inputs[n], contract) for n in _forward_names(contract))).numpy()
            result = compare(_reference(ref, contract), _as_float(out, contract), backend, precision)
            results.append(ShapeParity(shape, result.max_abs, result.psnr_db, result.passed))
            if tick is not None:
                tick()
    return ParityReport(
        artifact=str(artifact),
        checkpoint=str(checkpoint),
        backend=backend,
        precision=precision,
        tolerance=asdict(tolerance),
        frames=str(frames) if frames is not None else "synthetic",
        results=tuple(results),
        passed=all(r.passed for r in results),
    )


def _check_origin(contract: IOContract, name: str, config: dict, artifact: object, ckpt: object) -> None:
    """ContractError when the artifact was not exported from this kind of model."""
    if contract.model_name != name or dict(contract.model_config) != dict(config):
        raise ContractError(
            f"{artifact} was exported from {contract.model_name} {dict(contract.model_config)}, but {ckpt} "
            f"holds {name} {config}; verify an artifact against the checkpoint it came from"
        )


def _batch(contract: IOContract, shape: Shape, frames: str | Path | None, seed: int) -> dict[str, np.ndarray]:
    """Graph inputs for ``shape`` = (N, H, W): N windows, padded to what the graph takes."""
    n, h, w = shape
    size = padded_hw((h, w), contract)  # aligned, at least the graph's minimum size, or its static size
    if frames is None:
        windows = synthetic_windows(window_length(contract), n, (h, w), seed)
    else:
        windows = frame_windows(frames, window_length(contract), n)
        windows = (windows * n)[:n]  # a short source repeats its windows
    rng = np.random.default_rng(seed)
    per_item = [
        model_inputs(fit_window(fit_window(wd, (h, w)), size), contract, t=float(rng.uniform(0.1, 0.9)))
        for wd in windows
    ]
    return {k: np.concatenate([item[k] for item in per_item]) for k in per_item[0]}


def _forward_names(contract: IOContract) -> list[str]:
    return [*contract.input_names, *([contract.timestep_input] if contract.timestep_input else [])]


def _as_torch(x: np.ndarray, contract: IOContract) -> torch.Tensor:
    """A graph input as the float PyTorch model takes it: uint8 NHWC frames become (N, 3, H, W) in [-1, 1]."""
    if x.dtype == np.uint8:
        x = x.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _as_float(out: np.ndarray, contract: IOContract) -> np.ndarray:
    """The artifact output as float (N, 3, H, W) in [-1, 1]."""
    if contract.fused_io:
        return out.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return out.astype(np.float32)


def _reference(ref: np.ndarray, contract: IOContract) -> np.ndarray:
    """The PyTorch output, rounded to uint8 levels like a fused graph rounds its output."""
    if contract.fused_io:
        return np.clip(np.rint((ref + 1.0) * 127.5), 0, 255) / np.float32(127.5) - np.float32(1.0)
    return ref
