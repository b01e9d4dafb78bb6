"""ONNX Runtime backend: runs an exported ``.onnx`` file on the CPU, or on a GPU through CUDA or TensorRT.

::

    with OnnxRuntimeRunner("model.onnx", providers=("tensorrt", "cuda"), fp16=True) as runner:
        out = runner.infer({"frame0": x0, "frame1": x1})   # float32 (N, 3, H, W) in [-1, 1]
        print(runner.description)   # onnxruntime (TensorrtExecutionProvider, fp16)

ONNX Runtime falls back to the next provider, in the end the CPU, when one
fails to start; the runner checks which provider really runs and refuses a
silent fallback unless ``"cpu"`` was listed as an accepted one. Provider names
and options live in :mod:`corrwise.runtime.backends.ort_providers`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import BackendUnavailable, InputError
from corrwise.extras import import_for
from corrwise.runtime.backends.base import Runner
from corrwise.runtime.backends.ort_providers import (
    CPU,
    FALLBACK_HINT,
    TENSORRT,
    default_cache_dir,
    fallback_problem,
    provider_names,
    require_available,
    session_providers,
)

log = logging.getLogger(__name__)


class OnnxRuntimeRunner(Runner):
    """Runs an ONNX model with ONNX Runtime.

    Args:
        path: the ``.onnx`` file, exported by ``corr-export onnx`` (it carries the contract).
        providers: execution providers in order of preference, by short name
            (``"cpu"``, ``"cuda"``, ``"tensorrt"``) or ONNX Runtime's full name;
            CPU by default. Listing ``"cpu"`` after a GPU provider accepts a
            fallback to the CPU; otherwise a provider that fails to start raises
            BackendUnavailable.
        threads: intra-op CPU threads; None lets ONNX Runtime use every core.
        cache_dir: where the TensorRT provider keeps its engines and timing
            cache; default :func:`~corrwise.runtime.backends.ort_providers.default_cache_dir`.
        fp16: let the TensorRT provider use float16 kernels (the other
            providers run the graph in the precision it was exported in).
        spinning: let idle intra-op threads spin for work (ONNX Runtime's
            default: lowest latency on an otherwise idle machine). Turn it off
            when other threads share the cores, e.g. a video pipeline's decoder
            and encoder: spinning threads take CPU time from them.
    """

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[str] = ("cpu",),
        threads: int | None = None,
        cache_dir: str | Path | None = None,
        fp16: bool = False,
        spinning: bool = True,
    ) -> None:
        super().__init__(path)
        self.providers = provider_names([providers] if isinstance(providers, str) else providers)
        self.threads = threads
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.fp16 = fp16
        self.spinning = spinning
        self.fallback: str | None = None  # why the session runs on the CPU instead (accepted fallback)
        self._session: Any = None

    @property
    def active_providers(self) -> list[str]:
        """The providers the session really uses (ONNX Runtime may fall back to CPU silently)."""
        return list(self._session.get_providers()) if self._session is not None else []

    def _describe(self) -> str:
        active = self.active_providers
        if not active:
            return self.backend
        details = [active[0]]
        if self.fp16 and active[0] == TENSORRT:
            details.append("fp16")
        if self.threads is not None and active[0] == CPU:
            details.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        if self.fallback:
            details.append(f"fallback from {self.providers[0]}")
        return f"{self.backend} ({', '.join(details)})"

    def _open(self) -> IOContract:
        ort = import_for("onnxruntime", None, "the onnxruntime backend")
        require_available(self.providers, ort.get_available_providers())
        contract = None
        if TENSORRT in self.providers:  # its profile comes from the contract: read it on the CPU first
            contract = self._contract_of(self._create(ort, [(CPU, {})]))
            self._make_cache_dir()
        providers = session_providers(self.providers, contract, self.cache_dir, self.fp16)
        self._session = self._create(ort, providers)
        problem = fallback_problem(self.providers, self.active_providers)
        if problem and CPU not in self.providers[1:]:
            self._session = None
            raise BackendUnavailable(f"{self.path.name}: {problem}; {FALLBACK_HINT}")
        if problem:
            self.fallback = problem
            log.warning("%s: %s", self.path.name, problem)
        return contract or self._contract_of(self._session)

    def _create(self, ort: ModuleType, providers: list[tuple[str, dict[str, str]]]) -> Any:
        """An InferenceSession; InputError for a bad file, BackendUnavailable for a failing provider."""
        options = ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        if not self.spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        names = [name for name, _ in providers]
        try:
            return ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own untyped exceptions
            first_line = str(err).splitlines()[0][:300] if str(err) else ""
            if names != [CPU] and self._loads_on_cpu(ort):
                raise BackendUnavailable(
                    f"ONNX Runtime could not start {', '.join(names)} for {self.path.name} "
                    f"({type(err).__name__}: {first_line}); check the GPU setup, or use providers=('cpu',)"
                ) from err
            raise InputError(
                f"{self.path} is not a loadable ONNX model ({type(err).__name__}: {first_line}); "
                "expected a file written by `corr-export onnx`"
            ) from err

    def _loads_on_cpu(self, ort: ModuleType) -> bool:
        """True when the file opens on the CPU (so a GPU provider's failure is not the file's fault)."""
        try:
            ort.InferenceSession(str(self.path), providers=[CPU])
        except Exception:  # the file itself is broken: the caller reports that
            return False
        return True

    def _contract_of(self, session: Any) -> IOContract:
        metadata = session.get_modelmeta().custom_metadata_map
        return IOContract.from_metadata(metadata, source=str(self.path))

    def _make_cache_dir(self) -> None:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(
                f"cannot create the TensorRT engine cache folder {self.cache_dir} ({err.strerror}); "
                "pass cache_dir= a writable folder"
            ) from err

    def _infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = list(self.contract.output_names)
        outputs = self._session.run(names, {k: np.ascontiguousarray(v) for k, v in inputs.items()})
        return dict(zip(names, outputs, strict=True))

    def _close(self) -> None:
        self._session = None
        self.fallback = None
