"""ONNX Runtime backend: runs an exported ``.onnx`` file on the CPU (or a GPU provider)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import InputError
from corrwise.extras import import_for
from corrwise.runtime.backends.base import Runner


class OnnxRuntimeRunner(Runner):
    """Runs an ONNX model with ONNX Runtime.

    Args:
        path: the ``.onnx`` file, exported by ``corr-export onnx`` (it carries the contract).
        providers: execution providers in order of preference; CPU by default.
        threads: intra-op threads; None lets ONNX Runtime use every core.
    """

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int | None = None,
    ) -> None:
        super().__init__(path)
        self.providers = tuple(providers)
        self.threads = threads
        self._session: Any = None

    @property
    def active_providers(self) -> list[str]:
        """The providers the session really uses (ONNX Runtime may fall back to CPU silently)."""
        return list(self._session.get_providers()) if self._session is not None else []

    def _open(self) -> IOContract:
        ort = import_for("onnxruntime", None, "the onnxruntime backend")
        options = ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=list(self.providers))
        except Exception as err:  # onnxruntime raises its own untyped exceptions for bad files
            raise InputError(
                f"{self.path} is not a loadable ONNX model ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:200]}); expected a file written by `corr-export onnx`"
            ) from err
        metadata = self._session.get_modelmeta().custom_metadata_map
        return IOContract.from_metadata(metadata, source=str(self.path))

    def _infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = list(self.contract.output_names)
        outputs = self._session.run(names, {k: np.ascontiguousarray(v) for k, v in inputs.items()})
        return dict(zip(names, outputs, strict=True))

    def _close(self) -> None:
        self._session = None
