"""The models a server serves: every exported artifact in one folder, by name, version "1".

``MODEL_DIR/interp.onnx`` is served as model ``interp``. A Triton model
repository works too (``corr-export triton`` / ``corr-export all`` write one):
``MODEL_DIR/interp/<version>/model.onnx`` is served as ``interp``, from its
highest numbered version folder. ONNX files run on the
configured backend; TensorRT engines (``.engine``, ``.plan``, ``.trt``) on
TensorRT and ``.pt2`` programs on PyTorch (or all on ``auto``). Each
artifact's I/O contract says whether it interpolates or predicts, and the
matching runtime class (:class:`Interpolator`, :class:`Predictor`) runs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from corrwise.errors import ConfigError, InputError
from corrwise.runtime.backends import open_runner
from corrwise.runtime.backends.auto import ENGINE_SUFFIXES, SUFFIXES
from corrwise.runtime.interpolator import Interpolator
from corrwise.runtime.predictor import Predictor
from corrwise.runtime.serve.config import ServeConfig
from corrwise.runtime.serve.interpolation import InterpolationModel
from corrwise.runtime.serve.prediction import PredictionModel
from corrwise.runtime.serve.served import FrameLimits, ServedModel

MODEL_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
THREADED_BACKENDS = ("onnxruntime", "pytorch", "auto")


class ModelRepository:
    """Served models by name (see the module doc)."""

    def __init__(self, models: Mapping[str, ServedModel]) -> None:
        self._models = dict(models)

    @classmethod
    def load(cls, folder: str | Path, config: ServeConfig) -> ModelRepository:
        """Open every artifact in ``folder`` (see :func:`artifacts` for the errors)."""
        paths = artifacts(folder)
        models: dict[str, ServedModel] = {}
        try:
            for name, path in paths.items():
                models[name] = open_model(path, config, name)
        except BaseException:
            for model in models.values():
                model.close()
            raise
        return cls(models)

    def find(self, name: str, version: str | None = None) -> ServedModel | None:
        """The model called ``name`` (and of ``version``, when given), or None."""
        model = self._models.get(name)
        if model is None or (version is not None and version != model.version):
            return None
        return model

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def close(self) -> None:
        """Release every model."""
        for model in self._models.values():
            model.close()


def artifacts(folder: str | Path) -> dict[str, Path]:
    """The artifacts in ``folder`` by model name: files by stem, Triton entries by folder name.

    InputError for a missing folder or one without artifacts; ConfigError for
    names that are no valid model name or that clash.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"model folder {folder} does not exist or is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    entries = [(p.stem, p) for p in files] + triton_entries(folder)
    if not entries:
        raise InputError(
            f"no models in {folder}: expected exported artifacts ({', '.join(SUFFIXES)}), "
            "e.g. from `corr-export onnx CKPT -o MODEL_DIR/name.onnx`, or a Triton model repository "
            "(NAME/1/model.onnx, from `corr-export triton`)"
        )
    named: dict[str, Path] = {}
    for name, path in entries:
        if not MODEL_NAME.fullmatch(name):
            raise ConfigError(
                f"{path.name}: a model name ({name!r}) must be letters, digits, '_', '-' or '.'; rename it"
            )
        if name in named:
            raise ConfigError(
                f"{named[name].name} and {path.name} would both be served as model {name!r}; "
                "rename one of them"
            )
        named[name] = path
    return named


def triton_entries(folder: Path) -> list[tuple[str, Path]]:
    """(name, model file) of each Triton repository entry in ``folder``: NAME/<highest version>/model.*."""
    entries = []
    for entry in sorted(p for p in folder.iterdir() if p.is_dir()):
        versions = [v for v in entry.iterdir() if v.is_dir() and v.name.isdigit()]
        if not versions:
            continue
        latest = max(versions, key=lambda v: int(v.name))
        models = sorted(p for p in latest.glob("model.*") if p.suffix.lower() in SUFFIXES)
        if models:
            entries.append((entry.name, models[0]))
    return entries


def open_model(path: Path, config: ServeConfig, name: str | None = None) -> ServedModel:
    """Open one artifact and wrap it as an interpolation or a prediction model, by its contract's task.

    The model is served as ``name`` (default: the file stem).
    """
    name = name or path.stem
    backend = backend_for(path, config.backend)
    options = {"threads": config.threads} if config.threads and backend in THREADED_BACKENDS else {}
    runner = open_runner(path, backend, **options)
    limits = FrameLimits(config.max_batch, config.max_side)
    if runner.contract.task == "predict":
        return PredictionModel(name, Predictor(runner, cut_threshold=config.cut_threshold), limits)
    engine = Interpolator(runner, scene_cut=config.scene_cut, cut_threshold=config.cut_threshold)
    return InterpolationModel(name, engine, limits)


def backend_for(path: Path, backend: str) -> str:
    """The backend for ``path``: ``backend`` for ONNX files (all files with ``auto``), else by suffix."""
    suffix = path.suffix.lower()
    if backend == "auto" or suffix == ".onnx":
        return backend
    return "tensorrt" if suffix in ENGINE_SUFFIXES else "pytorch"
