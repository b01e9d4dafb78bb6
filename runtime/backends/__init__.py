"""Inference backends behind one runner interface."""

from __future__ import annotations

from pathlib import Path

from corrwise.errors import ConfigError
from corrwise.runtime.backends.base import Runner
from corrwise.runtime.backends.onnxruntime_backend import OnnxRuntimeRunner
from corrwise.runtime.backends.tensorrt_backend import TensorRTRunner

# Each backend module imports its engine (onnxruntime, tensorrt) only when a model is opened.
BACKENDS: dict[str, type[Runner]] = {"onnxruntime": OnnxRuntimeRunner, "tensorrt": TensorRTRunner}


def open_runner(path: str | Path, backend: str = "onnxruntime", **options: object) -> Runner:
    """Open ``path`` with the named backend (``"onnxruntime"`` or ``"tensorrt"``); return the open runner."""
    try:
        cls = BACKENDS[backend]
    except KeyError:
        raise ConfigError(f"unknown backend {backend!r}; available: {sorted(BACKENDS)}") from None
    return cls(path, **options).open()


__all__ = ["BACKENDS", "OnnxRuntimeRunner", "Runner", "TensorRTRunner", "open_runner"]
