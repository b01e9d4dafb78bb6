"""``backend="auto"``: pick the fastest backend that really runs a model file on this machine.

The file's suffix says which backends can run it; what is installed and
which ONNX Runtime providers exist decide the order::

    .engine .plan .trt  ->  tensorrt
    .onnx               ->  onnxruntime on TensorRT, then on CUDA, then on the CPU (those available)
    .pt2                ->  pytorch on CUDA when torch sees a GPU, else on the CPU

:func:`open_auto` tries the candidates in that order and keeps the first that
opens and runs on the provider it asked for (a runner that ONNX Runtime
silently moved to the CPU counts as failed); why it chose it, and why it
skipped the others, is logged and kept in ``runner.description``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from pathlib import Path
from typing import Any

from corrwise.errors import BackendUnavailable, ConfigError, InputError
from corrwise.runtime.backends.base import Runner
from corrwise.runtime.backends.onnxruntime_backend import OnnxRuntimeRunner
from corrwise.runtime.backends.ort_providers import CPU, CUDA, TENSORRT
from corrwise.runtime.backends.pytorch_backend import PyTorchRunner
from corrwise.runtime.backends.tensorrt_backend import TensorRTRunner

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
SUFFIXES = (".onnx", ".pt2", *ENGINE_SUFFIXES)
RUNNERS: dict[str, type[Runner]] = {
    "onnxruntime": OnnxRuntimeRunner,
    "tensorrt": TensorRTRunner,
    "pytorch": PyTorchRunner,
}
Candidate = tuple[str, dict[str, Any]]
log = logging.getLogger(__name__)


def choose_backend(path: str | Path) -> list[Candidate]:
    """The backends that may run ``path``, best first: (backend name, runner options) pairs.

    Raises:
        InputError: the suffix is not one of :data:`SUFFIXES`.
    """
    return candidates(path)[0]


def candidates(path: str | Path) -> tuple[list[Candidate], list[str]]:
    """:func:`choose_backend`'s list, and why the backends left out of it were left out."""
    suffix = Path(path).suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        return [("tensorrt", {})], []
    if suffix == ".onnx":
        return _onnx_candidates(_available_providers())
    if suffix == ".pt2":
        return _pt2_candidates()
    raise InputError(
        f"cannot tell which backend runs {Path(path).name!r} from its suffix {suffix or '(none)'!r}; "
        f"expected one of {', '.join(SUFFIXES)} (ONNX model, PyTorch program, TensorRT engine), "
        "or name the backend explicitly"
    )


def _available_providers() -> list[str]:
    try:
        return list(importlib.import_module("onnxruntime").get_available_providers())
    except ImportError:
        return []


def _onnx_candidates(available: list[str]) -> tuple[list[Candidate], list[str]]:
    """ONNX Runtime on TensorRT (with CUDA for what TensorRT leaves), CUDA, CPU: those ``available``."""
    chosen: list[Candidate] = []
    skipped = []
    if TENSORRT in available:
        chosen.append(
            ("onnxruntime", {"providers": ("tensorrt", "cuda") if CUDA in available else ("tensorrt",)})
        )
    else:
        skipped.append(f"onnxruntime/{TENSORRT}: not in this onnxruntime build")
    if CUDA in available:
        chosen.append(("onnxruntime", {"providers": ("cuda",)}))
    else:
        skipped.append(f"onnxruntime/{CUDA}: not in this onnxruntime build")
    if CPU in available or not available:  # no onnxruntime at all: opening says what to install
        chosen.append(("onnxruntime", {"providers": ("cpu",)}))
    return chosen, skipped


def _pt2_candidates() -> tuple[list[Candidate], list[str]]:
    """PyTorch on CUDA when torch is installed and sees a GPU, then on the CPU."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return [("pytorch", {"device": "cpu"})], []  # opening says what to install
    if torch.cuda.is_available():
        return [("pytorch", {"device": "cuda"}), ("pytorch", {"device": "cpu"})], []
    return [("pytorch", {"device": "cpu"})], ["pytorch/cuda: torch sees no CUDA device"]


def open_auto(path: str | Path, **options: Any) -> Runner:
    """Open ``path`` with the first candidate of :func:`choose_backend` that really runs here.

    Args:
        path: an ``.onnx``, ``.pt2`` or TensorRT engine file.
        **options: runner options; each candidate gets those its runner takes
            (e.g. ``threads`` for ONNX Runtime and PyTorch, ``fp16`` and
            ``cache_dir`` for ONNX Runtime, ``cuda_graph`` for TensorRT) and they
            override the candidate's own (``providers=("cpu",)`` pins ONNX Runtime to the CPU).

    Returns:
        The open runner; ``runner.description`` says what runs and why it was chosen.

    Raises:
        InputError, ContractError: the file itself is unusable (no other candidate is tried).
        BackendUnavailable: no candidate runs here; the message lists why each failed.
        ConfigError: an option no candidate takes.
    """
    path = Path(path)
    chosen, skipped = candidates(path)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    failures = list(skipped)
    for label, runner in _runners(path, chosen, options):
        try:
            runner.open()
        except BackendUnavailable as err:
            failures.append(f"{label}: {err}")
            log.info("auto backend for %s: skipped %s: %s", path.name, label, err)
            continue
        runner.selection = _selection(label, failures)
        log.info("auto backend for %s: %s", path.name, runner.description)
        return runner
    raise BackendUnavailable(f"no backend can run {path.name} here: " + "; ".join(failures))


def _runners(path: Path, chosen: list[Candidate], options: dict[str, Any]) -> list[tuple[str, Runner]]:
    """A (label, unopened runner) per distinct candidate, with the user's options merged in.

    Raises:
        ConfigError: an option that none of the candidates' runners takes.
    """
    unused = set(options)
    distinct: list[Candidate] = []
    for backend, own in chosen:
        accepted = set(inspect.signature(RUNNERS[backend].__init__).parameters) - {"self", "path"}
        unused -= accepted
        merged = {**own, **{k: v for k, v in options.items() if k in accepted}}
        if (backend, merged) not in distinct:
            distinct.append((backend, merged))
    if unused:
        names = sorted({backend for backend, _ in chosen})
        raise ConfigError(
            f"option(s) {sorted(unused)} apply to none of the backends that can run {path.name}: {names}"
        )
    return [(_label(backend, merged), RUNNERS[backend](path, **merged)) for backend, merged in distinct]


def _label(backend: str, options: dict[str, Any]) -> str:
    if "providers" in options:
        return f"{backend}/{'+'.join(options['providers'])}"
    if "device" in options:
        return f"{backend}/{options['device']}"
    return backend


def _selection(label: str, failures: list[str]) -> str:
    text = f"chosen by backend='auto' ({label})"
    return f"{text}; skipped: {' | '.join(failures)}" if failures else text
