"""ONNX Runtime execution providers: names, per-provider options, and the checks around them.

Pure functions of plain data (no onnxruntime import), so every decision is
tested on a CPU-only machine::

    names = provider_names(["tensorrt", "cuda"])        # full ONNX Runtime names
    providers = session_providers(names, contract, cache_dir, fp16=True)
    ort.InferenceSession(path, options, providers=providers)

The TensorRT execution provider builds an engine per model the first time it
runs; its options keep that engine (and TensorRT's kernel timing cache) in a
cache folder so the next session starts in seconds, and give it an explicit
optimisation profile of frame sizes derived from the model's I/O contract.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from corrwise.contract import IOContract
from corrwise.errors import BackendUnavailable, ConfigError
from corrwise.runtime.backends.tensorrt_sidecar import HW, Profile, default_profile, resolve_hw

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
# Short names the command line and the Python API accept, in ONNX Runtime's names.
SHORT_NAMES = {"cpu": CPU, "cuda": CUDA, "tensorrt": TENSORRT}
GPU_INSTALL_HINT = (
    "pip install 'corrwise[gpu]' (it brings onnxruntime-gpu, which replaces the CPU-only onnxruntime "
    "wheel: pip uninstall onnxruntime first) and run on a machine with an NVIDIA GPU and driver"
)
FALLBACK_HINT = f"fix that setup ({GPU_INSTALL_HINT}), or list 'cpu' after it to accept the fallback"
# Batch sizes (min, opt, max) of the TensorRT execution provider's optimisation profile.
PROFILE_BATCH = (1, 1, 8)


def provider_name(name: str) -> str:
    """ONNX Runtime's name of a provider given by short name (``"cuda"``) or full name.

    Raises:
        ConfigError: neither a known short name nor a full ``...ExecutionProvider`` name.
    """
    key = name.strip()
    if key.lower() in SHORT_NAMES:
        return SHORT_NAMES[key.lower()]
    if key.endswith("ExecutionProvider"):
        return key
    raise ConfigError(
        f"unknown execution provider {name!r}; use one of {sorted(SHORT_NAMES)} or an ONNX Runtime "
        f"name such as {CUDA!r}"
    )


def provider_names(names: Iterable[str]) -> tuple[str, ...]:
    """Full provider names in the order given, duplicates dropped; ConfigError when empty or unknown."""
    full = tuple(dict.fromkeys(provider_name(n) for n in names))
    if not full:
        raise ConfigError(f"name at least one execution provider, e.g. {sorted(SHORT_NAMES)}")
    return full


def short_name(provider: str) -> str:
    """``"cuda"`` for ``"CUDAExecutionProvider"``; other names unchanged."""
    by_full = {full: short for short, full in SHORT_NAMES.items()}
    return by_full.get(provider, provider)


def missing_provider_message(requested: Sequence[str], available: Sequence[str]) -> str | None:
    """Why the requested providers cannot run with this onnxruntime, or None when all are available."""
    missing = [p for p in requested if p not in available]
    if not missing:
        return None
    hint = GPU_INSTALL_HINT if {CUDA, TENSORRT} & set(missing) else "install an onnxruntime build that has it"
    return (
        f"ONNX Runtime execution provider {', '.join(missing)} is not available here; this onnxruntime "
        f"offers {list(available)}. For GPU providers: {hint}; or ask for providers=('cpu',)"
    )


def fallback_problem(requested: Sequence[str], active: Sequence[str]) -> str | None:
    """Why a session does not run on the provider asked for first, or None when it does.

    ONNX Runtime silently falls back to the next provider (in the end the CPU)
    when one fails to initialise, e.g. when CUDA or TensorRT libraries are
    missing; ``active`` is ``session.get_providers()``.
    """
    if active and active[0] == requested[0]:
        return None
    return (
        f"ONNX Runtime was asked for {requested[0]} but runs the model on "
        f"{active[0] if active else 'no provider'} (it falls back silently when a provider fails to "
        "start; its log says why: usually missing CUDA, cuDNN or TensorRT libraries)"
    )


def default_cache_dir() -> Path:
    """The per-user cache of TensorRT engines built by ONNX Runtime: ``$XDG_CACHE_HOME/corrwise/ort-trt``.

    ``~/.cache/corrwise/ort-trt`` when ``XDG_CACHE_HOME`` is not set.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "corrwise" / "ort-trt"


def profile_for(
    contract: IOContract, min_hw: HW | None = None, opt_hw: HW | None = None, max_hw: HW | None = None
) -> Profile:
    """The TensorRT optimisation profile of every graph input, from the contract.

    Frame sizes (H, W) in pixels default to those of ``corr-export trt``:
    min 64x64, opt 256x448, max 1088x1920, each rounded up to the contract's
    alignment (all three equal to ``contract.static_hw`` for a fixed-size
    export); batch 1 / 1 / 8. Frames are (N, 3, H, W) for NCHW graphs and
    (N, H, W, 3) for fused uint8 ones; the timestep input is (N, 1, 1, 1).
    """
    low, opt, high = resolve_hw(contract, min_hw, opt_hw, max_hw)
    return default_profile(contract, low, opt, high, batch=PROFILE_BATCH)


def profile_strings(profile: Profile) -> dict[str, str]:
    """``trt_profile_min_shapes`` / ``_opt_`` / ``_max_`` as ONNX Runtime wants them.

    Each is ``"name:1x3x64x64,other:1x1x1x1"``: every dynamic input with its
    full shape (ONNX Runtime needs all of them once any is given).
    """
    return {
        f"trt_profile_{which}_shapes": ",".join(
            f"{entry.name}:{'x'.join(str(d) for d in getattr(entry, which))}" for entry in profile
        )
        for which in ("min", "opt", "max")
    }


def tensorrt_options(contract: IOContract, cache_dir: Path, fp16: bool = False) -> dict[str, str]:
    """Options of ONNX Runtime's TensorRT execution provider (names as in its documentation).

    Args:
        contract: the model's I/O contract (input names, layout, alignment, static size).
        cache_dir: folder for the built engines and the timing cache; an engine
            is rebuilt when the model, the profile or the TensorRT version changes.
        fp16: let TensorRT use float16 kernels.

    INT8 kernels are enabled for INT8 (Q/DQ) graphs, which carry their own
    scales (``corr-export int8 --target tensorrt``): no calibration table.
    """
    return {
        "device_id": "0",
        "trt_fp16_enable": _flag(fp16),
        "trt_int8_enable": _flag(contract.precision == "int8"),  # explicit Q/DQ graphs need it
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache_dir),
        **profile_strings(profile_for(contract)),
    }


def cuda_options() -> dict[str, str]:
    """Options of the CUDA execution provider: GPU 0, cuDNN picks convolution algorithms heuristically.

    ``HEURISTIC`` avoids the exhaustive benchmark of every algorithm that the
    default runs for each new input shape (seconds per shape with dynamic frame sizes).
    """
    return {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC"}


def session_providers(
    names: Sequence[str], contract: IOContract | None, cache_dir: Path, fp16: bool = False
) -> list[tuple[str, dict[str, str]]]:
    """``providers=`` for ``InferenceSession``: each full name with its options, in order.

    ``contract`` is needed (for the profile) only when TensorRT is among ``names``.
    """
    providers = []
    for name in names:
        if name == TENSORRT:
            if contract is None:
                raise ConfigError(
                    "the TensorRT execution provider needs the model's contract for its profile"
                )
            providers.append((name, tensorrt_options(contract, cache_dir, fp16)))
        elif name == CUDA:
            providers.append((name, cuda_options()))
        else:
            providers.append((name, {}))
    return providers


def require_available(requested: Sequence[str], available: Sequence[str]) -> None:
    """Raise BackendUnavailable (which provider, what is there, what to install) unless all are available."""
    message = missing_provider_message(requested, available)
    if message:
        raise BackendUnavailable(message)


def _flag(value: bool) -> str:
    return "True" if value else "False"
