"""Inference backends behind one runner interface."""

from __future__ import annotations

import inspect
from pathlib import Path

from corrwise.errors import ConfigError
from corrwise.runtime.backends.auto import choose_backend, open_auto
from corrwise.runtime.backends.base import Runner
from corrwise.runtime.backends.onnxruntime_backend import OnnxRuntimeRunner
from corrwise.runtime.backends.pytorch_backend import PyTorchRunner
from corrwise.runtime.backends.tensorrt_backend import TensorRTRunner

# Each backend module imports its engine (onnxruntime, tensorrt, torch) only when a model is opened.
BACKENDS: dict[str, type[Runner]] = {
    "onnxruntime": OnnxRuntimeRunner,
    "tensorrt": TensorRTRunner,
    "pytorch": PyTorchRunner,
}
AUTO = "auto"


def open_runner(path: str | Path, backend: str = "onnxruntime", **options: object) -> Runner:
    """Open ``path`` with the named backend and return the open runner.

    ``backend`` is ``"onnxruntime"``, ``"tensorrt"``, ``"pytorch"``, or
    ``"auto"``: the best backend that runs the file here (see
    :func:`~corrwise.runtime.backends.auto.open_auto`). ``options`` go to the runner.
    """
    if backend == AUTO:
        return open_auto(path, **options)
    try:
        cls = BACKENDS[backend]
    except KeyError:
        raise ConfigError(f"unknown backend {backend!r}; available: {[*sorted(BACKENDS), AUTO]}") from None
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "path"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"the {backend} backend takes options {sorted(accepted)}, got unknown {unknown}")
    return cls(path, **options).open()


__all__ = [
    "AUTO",
    "BACKENDS",
    "OnnxRuntimeRunner",
    "PyTorchRunner",
    "Runner",
    "TensorRTRunner",
    "choose_backend",
    "open_auto",
    "open_runner",
]
