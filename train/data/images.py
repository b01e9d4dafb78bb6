"""Frame sequences stored as image files: an explicit list of files, or a folder of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from corrwise.errors import InputError
from corrwise.extras import import_for
from corrwise.train.data.sequence import FrameSequence, check_frame

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sort key that orders digit runs by value: ``im2.png`` < ``im10.png``."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def _file_key(path: Path) -> tuple[str | int, ...]:
    return natural_key(path.name)


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header, without decoding the pixels."""
    image_module = import_for("PIL.Image", "train", "reading image frames")
    try:
        with image_module.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{path} is not a readable image ({err}); replace or remove the file") from err
    return height, width


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 (H, W, 3) RGB (grey, palette and alpha images are converted)."""
    image_module = import_for("PIL.Image", "train", "reading image frames")
    try:
        with image_module.open(path) as image:
            rgb = image.convert("RGB")  # decodes fully; truncated files fail here
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{path} is corrupt or not a readable image ({err}); replace or remove it") from err
    return np.array(rgb, dtype=np.uint8)  # a writable copy (asarray would be read-only)


class ImageFiles(FrameSequence):
    """Frames from an explicit, ordered list of image files.

    All headers are read on construction, so an unreadable file or a frame of a
    different size is reported before training starts; pixels are decoded on
    each :meth:`frame` call (nothing is cached, so the object pickles small).

    Args:
        paths: the frame files, in display order (at least one).
        name: identifier for messages; defaults to the common folder.
    """

    def __init__(self, paths: Sequence[str | Path], name: str | None = None) -> None:
        self.paths = tuple(Path(p) for p in paths)
        if not self.paths:
            raise InputError(f"sequence {name!r} has no frame files")
        self.name = name if name is not None else str(self.paths[0].parent)
        self._size = image_size(self.paths[0])
        for path in self.paths[1:]:
            size = image_size(path)
            if size != self._size:
                raise InputError(
                    f"{path} is {size[1]}x{size[0]}, but {self.paths[0].name} in the same sequence is "
                    f"{self._size[1]}x{self._size[0]}; every frame of one sequence must have the same size"
                )

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def frame(self, index: int) -> np.ndarray:
        path = self.paths[self._check_index(index)]
        return check_frame(read_image(path), self._size, str(path))


class FolderSequence(ImageFiles):
    """Every image (.png, .jpg, .jpeg, .bmp) directly inside ``folder``, in natural file-name order.

    Args:
        folder: the directory; other files in it are ignored, sub-folders are not searched.
        name: identifier for messages; defaults to the folder path.
    """

    def __init__(self, folder: str | Path, name: str | None = None) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"frame folder {folder} does not exist or is not a directory")
        files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise InputError(
                f"frame folder {folder} contains no images (expected files ending in "
                f"{', '.join(IMAGE_SUFFIXES)})"
            )
        files.sort(key=_file_key)
        super().__init__(files, name=name if name is not None else str(folder))
