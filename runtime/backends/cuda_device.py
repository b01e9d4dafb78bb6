"""The CUDA device this process runs on, through cuda-python, imported lazily.

Both ``corr-export trt`` (to record what an engine is built for) and the
TensorRT runner (to refuse an engine built elsewhere) need the same facts:
the GPU's name and compute capability and the TensorRT version. Nothing here
imports tensorrt or cuda-python at module level, so the module imports on a
CPU-only box; the functions raise BackendUnavailable, naming the extra to
install, when a dependency or the device is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from corrwise.errors import BackendUnavailable, CorrwiseError
from corrwise.extras import import_for
from corrwise.runtime.backends.tensorrt_sidecar import MachineInfo

GPU_EXTRA = "gpu"
INSTALL_HINT = f"pip install 'corrwise[{GPU_EXTRA}]'"
# cuda-python >= 12.6 ships the bindings as cuda.bindings.runtime; older releases as cuda.cudart.
CUDART_MODULES = ("cuda.bindings.runtime", "cuda.cudart")


def load_cudart(purpose: str) -> ModuleType:
    """The CUDA runtime bindings of cuda-python (``cuda.bindings.runtime``, else ``cuda.cudart``).

    Raises:
        BackendUnavailable: cuda-python is not installed.
    """
    errors = []
    for name in CUDART_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as err:
            errors.append(f"{name}: {err}")
    raise BackendUnavailable(
        f"{purpose} needs cuda-python (module {' or '.join(CUDART_MODULES)}), which is not installed "
        f"({'; '.join(errors)}): {INSTALL_HINT}"
    )


def load_tensorrt(purpose: str) -> ModuleType:
    """``import tensorrt``, or BackendUnavailable naming the ``gpu`` extra."""
    return import_for("tensorrt", GPU_EXTRA, purpose)


def error_name(err: Any) -> str:
    """A CUDA error's name (``cudaErrorNoDevice``), whatever the enum type of the bindings."""
    return str(getattr(err, "name", err))


def is_success(err: Any) -> bool:
    """True for ``cudaSuccess`` (value 0) in any version of the bindings (enum or plain int)."""
    return int(getattr(err, "value", err)) == 0


def cuda_check(result: Sequence[Any], what: str) -> Any:
    """Unwrap a cuda-python call's ``(err, *values)``; raise CorrwiseError unless err is success.

    Returns None for ``(err,)``, the value for ``(err, value)``, else the tuple of values.
    """
    err, *values = result
    if not is_success(err):
        raise CorrwiseError(f"CUDA call {what} failed with {error_name(err)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def decode_device_name(raw: bytes | str) -> str:
    """The device name from ``cudaDeviceProp.name`` (a NUL-padded char array) as clean text."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes | bytearray) else str(raw)
    return text.split("\x00", 1)[0].strip()


def device_count(cudart: ModuleType) -> tuple[int, str]:
    """(number of CUDA devices, why none) — ``"..."`` explains a zero count, e.g. no driver."""
    err, count = cudart.cudaGetDeviceCount()
    if not is_success(err):
        return 0, f"cudaGetDeviceCount failed with {error_name(err)} (no NVIDIA driver or no GPU)"
    return int(count), "" if count else "the NVIDIA driver reports no CUDA device"


def require_cuda_device(purpose: str) -> ModuleType:
    """The cudart module, after checking that at least one CUDA device is usable.

    Raises:
        BackendUnavailable: cuda-python is missing, or there is no usable GPU.
    """
    cudart = load_cudart(purpose)
    count, why = device_count(cudart)
    if count < 1:
        raise BackendUnavailable(
            f"{purpose} needs an NVIDIA GPU with a working driver, and this machine has none: {why}. "
            "Run it on a machine with a CUDA device (and the gpu extra: "
            f"{INSTALL_HINT}), or use the onnxruntime backend on the CPU"
        )
    return cudart


def current_device(cudart: ModuleType) -> int:
    """The CUDA device index this thread uses (0 unless changed)."""
    return int(cuda_check(cudart.cudaGetDevice(), "cudaGetDevice"))


def machine_info(purpose: str = "the tensorrt backend") -> MachineInfo:
    """The current GPU's name and compute capability, and the installed TensorRT version.

    Raises:
        BackendUnavailable: tensorrt or cuda-python is missing, or there is no GPU.
    """
    trt = load_tensorrt(purpose)
    cudart = require_cuda_device(purpose)
    props = cuda_check(cudart.cudaGetDeviceProperties(current_device(cudart)), "cudaGetDeviceProperties")
    return MachineInfo(
        gpu_name=decode_device_name(props.name),
        compute_capability=f"{int(props.major)}.{int(props.minor)}",
        tensorrt_version=str(trt.__version__),
    )


def tensorrt_unavailable_reason() -> str | None:
    """Why TensorRT cannot run here (tensorrt or cuda-python missing, no GPU), or None when it can.

    For tests and diagnostics, e.g. ``pytest.mark.skipif(reason is not None, ...)``.
    """
    try:
        load_tensorrt("TensorRT")
        require_cuda_device("TensorRT")
    except BackendUnavailable as err:
        return str(err)
    return None
