"""The one runner interface every inference backend implements.

A runner opens an exported artifact, reads its I/O contract, and maps named
input arrays to named output arrays::

    with open_runner("model.onnx") as runner:
        outputs = runner.infer({"frame0": x0, "frame1": x1})

Input checks live here, once, for every backend; each backend implements only
``_open``, ``_infer`` and ``_close``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import CorrwiseError, InputError


class Runner(ABC):
    """Base class of inference backends (ONNX Runtime, TensorRT, PyTorch)."""

    backend: str = "abstract"
    # Whether _infer may run on several threads at once (e.g. Interpolator(workers=2));
    # calls of a backend that says no are serialised by infer().
    concurrent: bool = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._contract: IOContract | None = None
        self.selection = ""  # set by backend="auto": why this backend was chosen
        self._serial = threading.Lock()  # held around _infer when the backend is not concurrent

    @property
    def contract(self) -> IOContract:
        """The artifact's I/O contract (available once open)."""
        if self._contract is None:
            raise CorrwiseError(f"{type(self).__name__} for {self.path} is not open; call open() first")
        return self._contract

    @property
    def is_open(self) -> bool:
        return self._contract is not None

    @property
    def description(self) -> str:
        """What really runs the model, in words, e.g. ``"onnxruntime (CPUExecutionProvider, 2 threads)"``.

        ``backend="auto"`` appends why it chose this backend (:attr:`selection`).
        """
        text = self._describe()
        return f"{text}; {self.selection}" if self.selection else text

    def _describe(self) -> str:
        """The backend's own part of :attr:`description`; backends add their device and settings."""
        return self.backend

    def open(self) -> Runner:
        """Load the artifact and read its contract; return self. Opening twice is a no-op."""
        if not self.is_open:
            if not self.path.is_file():
                raise InputError(f"model file {self.path} does not exist")
            self._contract = self._open()
        return self

    def close(self) -> None:
        """Release the backend's resources; the runner can be opened again."""
        if self.is_open:
            self._close()
            self._contract = None

    def __enter__(self) -> Runner:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on arrays that follow the contract.

        Args:
            inputs: one array per contract input name, each (N, C, H, W) (or
                NHWC for fused graphs) of the contract dtype, all the same shape,
                H and W multiples of the contract's ``align``.

        Returns:
            One array per contract output name.

        Safe to call from several threads: backends that are not :attr:`concurrent`
        run one call at a time.
        """
        self._check_inputs(inputs)
        if self.concurrent:
            return self._infer(inputs)
        with self._serial:
            return self._infer(inputs)

    def _check_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        c = self.contract
        expected = set(c.input_names) | ({c.timestep_input} if c.timestep_input else set())
        if set(inputs) != expected:
            raise InputError(f"model {self.path.name} takes inputs {sorted(expected)}, got {sorted(inputs)}")
        frames = [inputs[name] for name in c.input_names]
        first = frames[0]
        for name, array in zip(c.input_names, frames, strict=True):
            if not isinstance(array, np.ndarray) or array.dtype != np.dtype(c.dtype) or array.ndim != 4:
                got = (
                    f"{array.dtype} array of shape {array.shape}"
                    if isinstance(array, np.ndarray)
                    else type(array).__name__
                )
                raise InputError(f"input {name!r} must be a 4-D {c.dtype} array ({c.layout}), got {got}")
            if array.shape != first.shape:
                raise InputError(
                    f"all frame inputs must have one shape; {c.input_names[0]!r} is {first.shape}, "
                    f"{name!r} is {array.shape}"
                )
        h, w = first.shape[c.hw_axes[0]], first.shape[c.hw_axes[1]]
        if c.static_hw is not None and (h, w) != tuple(c.static_hw):
            raise InputError(
                f"model {self.path.name} was exported for {c.static_hw[0]}x{c.static_hw[1]} frames only, "
                f"got {h}x{w}; pad first (Interpolator does) or export without --static"
            )
        if h % c.align or w % c.align:
            raise InputError(f"height and width must be multiples of {c.align}, got {h}x{w}; pad first")

    @abstractmethod
    def _open(self) -> IOContract:
        """Load the artifact; return its contract (raise ContractError if it has none)."""

    @abstractmethod
    def _infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run checked inputs through the model."""

    @abstractmethod
    def _close(self) -> None:
        """Free the loaded artifact."""
