"""TensorRT backend: runs a serialized engine from ``corr-export trt`` on an NVIDIA GPU.

The engine file holds no corrwise contract and only runs where it was built,
so the runner first reads the JSON sidecar ``<engine>.json``
(:mod:`corrwise.runtime.backends.tensorrt_sidecar`), compares its engine key
with this machine and refuses a mismatch, then deserialises the engine::

    with TensorRTRunner("model.engine") as runner:
        out = runner.infer({"frame0": x0, "frame1": x1})   # float32 (N, 3, H, W) in [-1, 1]

Device buffers are allocated once and reused; they grow (never shrink) when a
larger input arrives. With ``cuda_graph=True`` the TensorRT launch is captured
into a CUDA graph after the first run at a shape and replayed while the shape
stays the same (a graph bakes in the shapes, the buffer addresses and the
execution context's state, so a shape change drops it and the new shape is
captured after its first run). Host<->device copies stay outside the graph.

tensorrt and cuda-python (``pip install 'corrwise[gpu]'``) are imported in
:meth:`TensorRTRunner._open`, never at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import ContractError, CorrwiseError, InputError
from corrwise.runtime.backends.base import Runner
from corrwise.runtime.backends.cuda_device import (
    cuda_check,
    error_name,
    is_success,
    load_tensorrt,
    machine_info,
    require_cuda_device,
)
from corrwise.runtime.backends.tensorrt_sidecar import (
    REBUILD_HINT,
    EngineKey,
    Shape,
    key_mismatch,
    profile_violation,
    read_sidecar,
)

PURPOSE = "the tensorrt backend"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorInfo:
    """One engine I/O tensor: its name, direction and element type."""

    name: str
    is_input: bool
    dtype: np.dtype


@dataclass
class DeviceBuffer:
    """A device allocation: its address and capacity in bytes."""

    ptr: int
    nbytes: int


def engine_io_problem(contract: IOContract, tensors: Iterable[TensorInfo]) -> str | None:
    """Why an engine's I/O tensors do not match the sidecar's contract, or None when they do.

    The engine's inputs must be exactly the contract's frame inputs (and its
    timestep input); every contract output must be an engine output; frame
    inputs and outputs must have the contract's dtype (the timestep is cast).
    """
    tensors = list(tensors)
    inputs = {t.name: t for t in tensors if t.is_input}
    outputs = {t.name: t for t in tensors if not t.is_input}
    expected = set(contract.input_names) | ({contract.timestep_input} if contract.timestep_input else set())
    if set(inputs) != expected:
        return f"the engine's inputs are {sorted(inputs)}, the contract expects {sorted(expected)}"
    missing = [name for name in contract.output_names if name not in outputs]
    if missing:
        return f"the engine has no output {missing[0]!r} (its outputs: {sorted(outputs)})"
    for name in (*contract.input_names, *contract.output_names):
        tensor = inputs.get(name) or outputs[name]
        if tensor.dtype != np.dtype(contract.dtype):
            return f"tensor {name!r} is {tensor.dtype} in the engine, the contract says {contract.dtype}"
    return None


def buffers_to_grow(capacities: Mapping[str, int], required: Mapping[str, int]) -> dict[str, int]:
    """The buffers to (re)allocate: name -> bytes, for each one absent or smaller than required.

    Args:
        capacities: name -> bytes currently allocated.
        required: name -> bytes the next run needs.
    """
    return {name: size for name, size in required.items() if capacities.get(name, -1) < size}


def tensor_nbytes(shape: Shape, dtype: np.dtype) -> int:
    """Bytes of a dense tensor of ``shape`` and ``dtype`` (raises ContractError on a dynamic dim)."""
    if any(d < 0 for d in shape):
        raise ContractError(f"TensorRT left an output shape undetermined: {shape}")
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


class TensorRTRunner(Runner):
    """Runs a TensorRT engine built by ``corr-export trt`` (the sidecar carries its contract).

    Args:
        path: the ``.engine`` file; ``<path>.json`` must lie beside it.
        cuda_graph: capture the TensorRT launch into a CUDA graph and replay it
            while the input shapes stay the same (lower launch overhead for
            small frames). Engines that cannot be captured fall back to plain
            launches with a warning.
    """

    backend = "tensorrt"
    concurrent = False  # one execution context, one set of device buffers and one stream

    def __init__(self, path: str | Path, cuda_graph: bool = False) -> None:
        super().__init__(path)
        self.cuda_graph = cuda_graph
        self._key: EngineKey | None = None
        self._cudart: ModuleType | None = None
        self._logger: Any = None
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._io: dict[str, TensorInfo] = {}
        self._buffers: dict[str, DeviceBuffer] = {}
        self._shapes: dict[str, Shape] | None = None
        self._out_shapes: dict[str, Shape] = {}
        self._graph: Any = None
        self._graph_exec: Any = None
        self._graph_failure: str | None = None

    @property
    def engine_key(self) -> EngineKey:
        """What the open engine was built for (from its sidecar)."""
        if self._key is None:
            raise CorrwiseError(f"TensorRTRunner for {self.path} is not open; call open() first")
        return self._key

    @property
    def graph_active(self) -> bool:
        """True when the next run at the current shapes replays a captured CUDA graph."""
        return self._graph_exec is not None

    # ------------------------------------------------------------------ open / close

    def _open(self) -> IOContract:
        contract, key = read_sidecar(self.path)
        trt = load_tensorrt(PURPOSE)
        cudart = require_cuda_device(PURPOSE)
        problem = key_mismatch(key, machine_info(PURPOSE))
        if problem:
            raise ContractError(f"{self.path}: {problem}")
        self._cudart = cudart
        try:
            self._load_engine(trt, contract)
            self._stream = cuda_check(cudart.cudaStreamCreate(), "cudaStreamCreate")
        except BaseException:
            self._release()
            raise
        self._key = key
        return contract

    def _load_engine(self, trt: ModuleType, contract: IOContract) -> None:
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise InputError(
                f"TensorRT {trt.__version__} could not deserialise {self.path} (see its messages above): "
                f"expected an engine written by `corr-export trt`; {REBUILD_HINT}"
            )
        self._io = self._engine_io(trt)
        problem = engine_io_problem(contract, self._io.values())
        if problem:
            raise ContractError(f"{self.path} does not match its sidecar: {problem}; {REBUILD_HINT}")
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise CorrwiseError(
                f"TensorRT could not create an execution context for {self.path} (out of GPU memory?); "
                "free GPU memory or build the engine with a smaller --max-shape"
            )

    def _engine_io(self, trt: ModuleType) -> dict[str, TensorInfo]:
        io = {}
        for index in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(index)
            is_input = self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            trt_dtype = self._engine.get_tensor_dtype(name)
            try:
                dtype = np.dtype(trt.nptype(trt_dtype))
            except TypeError as err:
                raise ContractError(
                    f"{self.path}: tensor {name!r} has TensorRT type {trt_dtype}, which numpy cannot hold"
                ) from err
            io[name] = TensorInfo(name, is_input, dtype)
        return io

    def _close(self) -> None:
        self._release()

    def _release(self) -> None:
        """Free graphs, buffers, stream, context, engine and runtime (in that order); never raises."""
        cudart = self._cudart
        if cudart is not None and self._stream is not None:
            self._warn_on_error(cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        self._drop_graph()
        for buffer in self._buffers.values():
            self._warn_on_error(cudart.cudaFree(buffer.ptr), "cudaFree")
        self._buffers = {}
        if cudart is not None and self._stream is not None:
            self._warn_on_error(cudart.cudaStreamDestroy(self._stream), "cudaStreamDestroy")
        self._stream = None
        self._context = None
        self._engine = None
        self._runtime = None
        self._logger = None
        self._cudart = None
        self._key = None
        self._io = {}
        self._shapes = None
        self._out_shapes = {}

    @staticmethod
    def _warn_on_error(result: Any, what: str) -> None:
        err = result[0] if isinstance(result, tuple) else result
        if not is_success(err):
            log.warning("releasing TensorRT resources: %s failed with %s", what, error_name(err))

    # ------------------------------------------------------------------ inference

    def _infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        shapes = {name: tuple(int(d) for d in array.shape) for name, array in inputs.items()}
        problem = profile_violation(self.engine_key.profile, shapes)
        if problem:
            raise InputError(f"{self.path.name}: {problem}")
        if shapes != self._shapes:
            self._set_shapes(shapes)
        hosts = [np.ascontiguousarray(array, dtype=self._io[name].dtype) for name, array in inputs.items()]
        for name, host in zip(inputs, hosts, strict=True):
            self._copy(self._buffers[name].ptr, host.ctypes.data, host.nbytes, "HostToDevice")
        replayed = self._execute()
        outputs = {
            name: np.empty(self._out_shapes[name], dtype=self._io[name].dtype)
            for name in self.contract.output_names
        }
        for name, out in outputs.items():
            self._copy(out.ctypes.data, self._buffers[name].ptr, out.nbytes, "DeviceToHost")
        cuda_check(self._cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        if self.cuda_graph and not replayed and self._graph_failure is None:
            self._capture_graph()
        return outputs

    def _set_shapes(self, shapes: Mapping[str, Shape]) -> None:
        """Set the input shapes, read the output shapes, grow buffers, bind addresses."""
        self._drop_graph()  # a graph bakes in the shapes it was captured with
        self._shapes = None  # until every step below succeeds
        for name, shape in shapes.items():
            if not self._context.set_input_shape(name, shape):
                raise InputError(
                    f"TensorRT refused shape {shape} for input {name!r} of {self.path.name} "
                    f"(profile: {self.engine_key.profile}); rebuild the engine with a profile that covers it"
                )
        out_shapes = {
            name: tuple(int(d) for d in self._context.get_tensor_shape(name))
            for name, info in self._io.items()
            if not info.is_input
        }
        required = {name: tensor_nbytes(shapes[name], self._io[name].dtype) for name in shapes}
        required |= {name: tensor_nbytes(shape, self._io[name].dtype) for name, shape in out_shapes.items()}
        for name, size in buffers_to_grow({n: b.nbytes for n, b in self._buffers.items()}, required).items():
            self._allocate(name, size)
        for name, buffer in self._buffers.items():
            if not self._context.set_tensor_address(name, buffer.ptr):
                raise CorrwiseError(f"TensorRT refused the device address of tensor {name!r}")
        self._shapes = dict(shapes)
        self._out_shapes = out_shapes

    def _allocate(self, name: str, nbytes: int) -> None:
        old = self._buffers.pop(name, None)
        if old is not None:
            cuda_check(self._cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
            cuda_check(self._cudart.cudaFree(old.ptr), "cudaFree")
        ptr = cuda_check(self._cudart.cudaMalloc(max(nbytes, 1)), f"cudaMalloc({nbytes} bytes for {name!r})")
        self._buffers[name] = DeviceBuffer(int(ptr), nbytes)

    def _copy(self, dst: int, src: int, nbytes: int, direction: str) -> None:
        if nbytes == 0:
            return
        kind = getattr(self._cudart.cudaMemcpyKind, f"cudaMemcpy{direction}")
        result = self._cudart.cudaMemcpyAsync(dst, src, nbytes, kind, self._stream)
        cuda_check(result, f"cudaMemcpyAsync ({direction}, {nbytes} bytes)")

    def _execute(self) -> bool:
        """Launch the engine on the stream; replay the CUDA graph when one is captured. True if replayed."""
        if self._graph_exec is not None:
            cuda_check(self._cudart.cudaGraphLaunch(self._graph_exec, self._stream), "cudaGraphLaunch")
            return True
        if not self._context.execute_async_v3(int(self._stream)):
            raise CorrwiseError(
                f"TensorRT failed to run {self.path.name} (execute_async_v3 returned False; "
                "see the TensorRT messages above)"
            )
        return False

    # ------------------------------------------------------------------ CUDA graphs

    def _capture_graph(self) -> None:
        """Capture one TensorRT launch at the current shapes (after a plain run has flushed its setup)."""
        cudart = self._cudart
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        cuda_check(cudart.cudaStreamBeginCapture(self._stream, mode), "cudaStreamBeginCapture")
        launched = self._context.execute_async_v3(int(self._stream))
        err, graph = cudart.cudaStreamEndCapture(self._stream)
        if not launched or not is_success(err):
            self._give_up_graphs(f"capture failed ({'launch refused' if not launched else error_name(err)})")
            if is_success(err):
                self._warn_on_error(cudart.cudaGraphDestroy(graph), "cudaGraphDestroy")
            return
        instantiate = getattr(cudart, "cudaGraphInstantiateWithFlags", None) or cudart.cudaGraphInstantiate
        err, graph_exec = instantiate(graph, 0)
        if not is_success(err):
            self._warn_on_error(cudart.cudaGraphDestroy(graph), "cudaGraphDestroy")
            self._give_up_graphs(f"instantiation failed ({error_name(err)})")
            return
        self._graph, self._graph_exec = graph, graph_exec

    def _give_up_graphs(self, why: str) -> None:
        self._graph_failure = why
        self._cudart.cudaGetLastError()  # clear the error the failed capture left behind
        log.warning("CUDA graph for %s: %s; running without graphs", self.path.name, why)

    def _drop_graph(self) -> None:
        if self._graph_exec is not None:
            self._warn_on_error(self._cudart.cudaGraphExecDestroy(self._graph_exec), "cudaGraphExecDestroy")
        if self._graph is not None:
            self._warn_on_error(self._cudart.cudaGraphDestroy(self._graph), "cudaGraphDestroy")
        self._graph = None
        self._graph_exec = None
