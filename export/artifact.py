"""What kind of artifact a file is, and its I/O contract, without running it."""

from __future__ import annotations

from pathlib import Path

import onnx
from corrwise.contract import IOContract
from corrwise.errors import InputError
from corrwise.runtime.backends.auto import ENGINE_SUFFIXES


def artifact_kind(path: str | Path) -> str:
    """``"onnx"`` for .onnx files, ``"tensorrt"`` for engines (.engine, .plan, .trt); InputError otherwise."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if path.suffix.lower() in ENGINE_SUFFIXES:
        return "tensorrt"
    raise InputError(
        f"{path} is neither an ONNX model (.onnx) nor a TensorRT engine ({', '.join(ENGINE_SUFFIXES)})"
    )


def read_contract(path: str | Path) -> IOContract:
    """The I/O contract of an exported ONNX model (its metadata) or TensorRT engine (its sidecar JSON)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    if artifact_kind(path) == "tensorrt":
        from corrwise.runtime.backends.tensorrt_sidecar import read_sidecar

        return read_sidecar(path)[0]
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError and others for non-ONNX bytes
        raise InputError(f"{path} is not a readable ONNX model ({type(err).__name__}: {err})") from err
    return IOContract.from_metadata({p.key: p.value for p in model.metadata_props}, source=str(path))
