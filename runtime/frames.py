"""Frames in and out of models: checks and conversions between uint8 images and tensors."""

from __future__ import annotations

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import ContractError, InputError


def check_frame(frame: object, name: str = "frame") -> np.ndarray:
    """Return ``frame`` if it is a uint8 (H, W, 3) RGB array, else raise InputError."""
    if not isinstance(frame, np.ndarray):
        raise InputError(f"{name} must be a numpy uint8 array of shape (H, W, 3), got {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(
            f"{name} must be a uint8 array of shape (H, W, 3) (RGB), got {frame.dtype} of shape "
            f"{frame.shape}; convert grayscale or RGBA to RGB and scale to 0-255 first"
        )
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise InputError(f"{name} must be at least 2x2 pixels, got {frame.shape[0]}x{frame.shape[1]}")
    return frame


def as_rgb8(frame: object, name: str = "frame") -> np.ndarray:
    """The uint8 (H, W, 3) RGB frame for what users commonly hold, else InputError.

    Accepted: uint8 (H, W, 3) RGB (returned as it is), grayscale (H, W) or
    (H, W, 1) (replicated into three channels) and RGBA (H, W, 4) (alpha
    dropped). Other element types are refused with a hint on how to convert:
    the runtime does not guess the bit depth of uint16 data or the range of
    float data. Channel order is taken to be RGB (OpenCV frames are BGR:
    ``frame[..., ::-1]``). Converted frames are new contiguous arrays.
    """
    if not isinstance(frame, np.ndarray):
        raise InputError(f"{name} must be a numpy uint8 array of shape (H, W, 3), got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise InputError(f"{name} must be uint8 (0-255), got {frame.dtype}; {_conversion_hint(frame.dtype)}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        frame = np.repeat(frame.reshape(frame.shape[0], frame.shape[1], 1), 3, axis=2)  # (H, W, 3)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = np.ascontiguousarray(frame[..., :3])  # (H, W, 3), alpha dropped
    return check_frame(frame, name)


def _conversion_hint(dtype: np.dtype) -> str:
    """How to turn an array of ``dtype`` into uint8 frames (one sentence for an error message)."""
    if dtype == np.uint16:
        return (
            "scale it down first: (x >> 2).astype(np.uint8) for 10-bit, (x >> 4) for 12-bit, "
            "(x >> 8) for 16-bit data, or decode the video with corr-run, which converts"
        )
    if np.issubdtype(dtype, np.floating):
        return "for values in [0, 1] use np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)"
    return "convert it to uint8 in 0-255 first"


def check_same_size(frames: list[np.ndarray], names: list[str]) -> None:
    """Raise InputError unless all frames share height and width."""
    first = frames[0].shape
    for frame, name in zip(frames[1:], names[1:], strict=True):
        if frame.shape != first:
            raise InputError(
                f"frames must have the same size: {names[0]} is {first[1]}x{first[0]}, "
                f"{name} is {frame.shape[1]}x{frame.shape[0]} (WxH)"
            )


def to_tensor(frame: np.ndarray, contract: IOContract) -> np.ndarray:
    """uint8 (H, W, 3) in [0, 255] -> a batch of one the graph takes.

    Float graphs take (1, 3, H, W) in the contract's value range and dtype;
    graphs with fused uint8 I/O take the frame itself as (1, H, W, 3).
    """
    if contract.fused_io:
        return frame[None]  # (1, H, W, 3) uint8
    low, high = contract.value_range
    h, w = frame.shape[:2]
    # One pass from the interleaved uint8 frame into a planar float buffer: no
    # intermediate float copy of the interleaved frame (10x faster at 720p).
    x = np.empty((1, 3, h, w), np.float32)  # (1, 3, H, W)
    np.multiply(frame.transpose(2, 0, 1), np.float32((high - low) / 255.0), out=x[0], dtype=np.float32)
    x += np.float32(low)
    return x.astype(contract.dtype, copy=False)


def to_frame(y: np.ndarray, contract: IOContract) -> np.ndarray:
    """A graph output batch of one -> uint8 (H, W, 3).

    Float graphs give (1, 3, H, W) in the contract's value range, rounded and
    clipped here; fused uint8 graphs give (1, H, W, 3) already.
    """
    if contract.fused_io:
        return np.ascontiguousarray(y[0])  # (H, W, 3) uint8
    low, high = contract.value_range
    x = (y[0].astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(1, 2, 0)  # (H, W, 3)


def check_frame_io(contract: IOContract, source: str = "the model") -> None:
    """Raise ContractError unless frames can go in and out of the graph as this module converts them.

    The runtime runs float NCHW graphs and graphs with fused uint8 NHWC I/O.
    """
    if (contract.layout, contract.fused_io) not in (("NCHW", False), ("NHWC", True)):
        raise ContractError(
            f"{source} has layout {contract.layout} with fused_io={contract.fused_io}; this runtime runs "
            "float NCHW graphs and fused uint8 NHWC graphs (corr-export onnx --io float|uint8)"
        )
