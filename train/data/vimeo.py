"""Vimeo-90K in its official layouts: triplets (im1..im3) and septuplets (im1..im7).

``<root>/sequences/<a>/<b>/im<k>.png`` with list files ``tri_trainlist.txt`` /
``tri_testlist.txt`` (triplets) or ``sep_trainlist.txt`` / ``sep_testlist.txt``
(septuplets) beside ``sequences``, one ``<a>/<b>`` id per line.
"""

from __future__ import annotations

from pathlib import Path

from corrwise.errors import ConfigError, InputError
from corrwise.train.data.images import ImageFiles

LAYOUTS = {"triplet": ("tri", 3), "septuplet": ("sep", 7)}  # list-file prefix, frames per sequence
SPLITS = ("train", "test")


def vimeo_list_file(root: str | Path, layout: str, split: str, list_file: str | Path | None = None) -> Path:
    """The list file to read: ``list_file`` if given (relative paths are looked up under ``root``
    when they do not exist as given), else the official ``<tri|sep>_<split>list.txt`` in ``root``."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown Vimeo-90K layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    if split not in SPLITS:
        raise ConfigError(f"unknown Vimeo-90K split {split!r}; expected one of {list(SPLITS)}")
    if list_file is None:
        return Path(root) / f"{LAYOUTS[layout][0]}_{split}list.txt"
    path = Path(list_file)
    return path if path.is_absolute() or path.exists() else Path(root) / path


def read_list(path: Path) -> list[str]:
    """Sequence ids (``00001/0266``) of a list file; blank lines are ignored."""
    if not path.is_file():
        raise InputError(f"Vimeo-90K list file {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read Vimeo-90K list file {path} ({err})") from err
    ids = [line.strip().strip("/") for line in lines if line.strip()]
    if not ids:
        raise InputError(f"Vimeo-90K list file {path} lists no sequences")
    return ids


def open_vimeo(
    root: str | Path,
    layout: str = "triplet",
    list_file: str | Path | None = None,
    split: str = "test",
) -> list[ImageFiles]:
    """The sequences of a Vimeo-90K split, each named by its id (``00001/0266``).

    Args:
        root: folder holding ``sequences/`` and the list files.
        layout: ``"triplet"`` (im1..im3, 448x256) or ``"septuplet"`` (im1..im7).
        list_file: a custom list of ids; default: the official list of ``split``.
        split: ``"train"`` or ``"test"`` (used only when ``list_file`` is None).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"Vimeo-90K root {root} does not exist or is not a directory")
    listing = vimeo_list_file(root, layout, split, list_file)
    count = LAYOUTS[layout][1]
    sequences = []
    for seq_id in read_list(listing):
        folder = root / "sequences" / seq_id
        paths = [folder / f"im{k}.png" for k in range(1, count + 1)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            what = "folder is missing" if not folder.is_dir() else f"lacks {', '.join(missing)}"
            raise InputError(
                f"sequence {seq_id} listed in {listing} is incomplete: {folder} {what} "
                f"(a {layout} has im1..im{count}.png)"
            )
        sequences.append(ImageFiles(paths, name=seq_id))
    return sequences
