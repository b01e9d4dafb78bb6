"""Inference backends behind one runner interface."""

from __future__ import annotations

from pathlib import Path

from corrwise.errors import ConfigError
from corrwise.runtime.backends.base import Runner
from corrwise.runtime.backends.onnxruntime_backend import OnnxRuntimeRunner

BACKENDS: dict[str, type[Runner]] = {"onnxruntime": OnnxRuntimeRunner}


def open_runner(path: str | Path, backend: str = "onnxruntime", **options: object) -> Runner:
    """Open ``path`` with the named backend (``"onnxruntime"``); return the open runner."""
    try:
        cls = BACKENDS[backend]
    except KeyError:
        raise ConfigError(f"unknown backend {backend!r}; available: {sorted(BACKENDS)}") from None
    return cls(path, **options).open()


__all__ = ["BACKENDS", "OnnxRuntimeRunner", "Runner", "open_runner"]
