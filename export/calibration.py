"""Real frames for INT8 calibration and parity checks: windows of consecutive frames from a video or a folder.

A *window* is the run of consecutive frames one model call needs: three for
interpolation (the outer two go in, the middle one is the frame to
synthesise), K for prediction (K context frames). Windows are spread evenly
over the source so the calibration sees its whole range of content.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import InputError
from corrwise.runtime.frames import to_tensor
from corrwise.runtime.padding import pad_to_size
from corrwise.runtime.video import probe, read_frames

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def window_length(contract: IOContract) -> int:
    """Consecutive frames one call of the model spans: 3 to interpolate, K to predict from K frames."""
    return 3 if contract.task == "interpolate" else contract.context_frames


def frame_windows(source: str | Path, length: int, count: int) -> list[list[np.ndarray]]:
    """Up to ``count`` windows of ``length`` consecutive uint8 (H, W, 3) frames, spread over ``source``.

    ``source`` is a video file or a folder of images (sorted by name, read as
    one sequence). InputError when it is neither, cannot be decoded, or holds
    fewer than ``length`` frames.
    """
    source = Path(source)
    if source.is_dir():
        if not _image_files(source):
            raise InputError(f"folder {source} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return _windows(_image_frames(source), _image_count(source), length, count, source)
    if not source.is_file():
        raise InputError(
            f"frame source {source} does not exist; pass a video file or a folder of images "
            f"({', '.join(IMAGE_SUFFIXES)})"
        )
    try:
        total = probe(source).frames
    except InputError as err:
        raise InputError(f"{err}; frames come from a video file or a folder of images") from err
    return _windows(read_frames(source), total, length, count, source)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _image_count(folder: Path) -> int:
    return len(_image_files(folder))


def _image_frames(folder: Path) -> Iterator[np.ndarray]:
    """The folder's images in name order, as uint8 (H, W, 3) RGB; frames of another size are an error."""
    size = None
    for path in _image_files(folder):
        frame = next(read_frames(path), None)
        if frame is None:
            raise InputError(f"{path} holds no image")
        if size is not None and frame.shape != size:
            raise InputError(
                f"frames in {folder} must share one size; {path.name} is {frame.shape[1]}x{frame.shape[0]}, "
                f"the first is {size[1]}x{size[0]}"
            )
        size = frame.shape
        yield frame


def _windows(
    frames: Iterator[np.ndarray], total: int, length: int, count: int, source: Path
) -> list[list[np.ndarray]]:
    """Take ``count`` windows at evenly spaced starts (every ``length`` frames when ``total`` is unknown)."""
    stride = max(length, total // count) if total else length
    windows: list[list[np.ndarray]] = []
    current: list[np.ndarray] = []
    for index, frame in enumerate(frames):
        if index % stride < length:
            current.append(frame)
        if len(current) == length:
            windows.append(current)
            current = []
            if len(windows) == count:
                break
    if not windows:
        raise InputError(f"{source} holds fewer than the {length} consecutive frames one model call needs")
    return windows


def fit_window(window: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """Centre-crop (or edge-pad) every frame of a window to ``size`` = (H, W) pixels."""
    h, w = window[0].shape[:2]
    th, tw = min(h, size[0]), min(w, size[1])
    top, left = (h - th) // 2, (w - tw) // 2
    return [pad_to_size(f[top : top + th, left : left + tw], size, axes=(0, 1))[0] for f in window]


def model_inputs(window: list[np.ndarray], contract: IOContract, t: float = 0.5) -> dict[str, np.ndarray]:
    """The graph inputs for one window of same-size uint8 (H, W, 3) frames, batch of one.

    Interpolation feeds the window's first and last frames (and ``t``);
    prediction feeds all of them, oldest first. Frames become float32
    (1, 3, H, W) in [-1, 1], or stay uint8 (1, H, W, 3) for fused graphs.
    """
    frames = [window[0], window[-1]] if contract.task == "interpolate" else window
    inputs = {name: to_tensor(f, contract) for name, f in zip(contract.input_names, frames, strict=True)}
    if contract.timestep_input:
        inputs[contract.timestep_input] = np.full((1, 1, 1, 1), t, np.dtype(contract.time_dtype))
    return inputs
