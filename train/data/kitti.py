"""KITTI raw: one frame sequence per camera folder ``<drive>/<camera>/data/*.png``."""

from __future__ import annotations

from pathlib import Path

from corrwise.errors import ConfigError, InputError
from corrwise.train.data.images import FolderSequence

CAMERAS = ("image_00", "image_01", "image_02", "image_03")  # grey left/right, colour left/right


def open_kitti(root: str | Path, camera: str = "image_03") -> list[FolderSequence]:
    """Every ``.../<camera>/data`` folder under ``root`` (searched recursively), one sequence each.

    The official raw layout is ``<date>/<date>_drive_<nnnn>_sync/<camera>/data/<nnnnnnnnnn>.png``;
    ``root`` may be the download folder, a date folder or a single drive. ``image_02`` and
    ``image_03`` are the colour cameras; the grey ``image_00``/``image_01`` frames are
    replicated to RGB. Sequences are named ``<root name>/.../<camera>`` and sorted by name.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"KITTI root {root} does not exist or is not a directory")
    if camera not in CAMERAS:
        raise ConfigError(f"unknown KITTI camera {camera!r}; expected one of {', '.join(CAMERAS)}")
    folders = sorted(p for p in root.glob(f"**/{camera}/data") if p.is_dir())
    if (root / "data").is_dir() and root.name == camera:
        folders.insert(0, root / "data")  # root is the camera folder itself
    if not folders:
        raise InputError(
            f"no KITTI '{camera}/data' folders under {root}; expected "
            f"<date>/<drive>_sync/{camera}/data/*.png (is the camera right? choose from {', '.join(CAMERAS)})"
        )
    return [FolderSequence(folder, name=str(folder.parent.relative_to(root.parent))) for folder in folders]
