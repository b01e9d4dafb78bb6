"""Training logs: a CSV file always, TensorBoard event files when ``tensorboard`` is installed."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np


class RunLog:
    """Append rows of scalars to ``<run>/log.csv`` and ``<run>/tensorboard/``.

    The CSV header is the union of the keys seen in the first row; a resumed
    run appends to the same file (rows past the resume step are kept: the
    ``step`` column tells them apart). Scalars are written as they come, flushed
    every row, so a killed run keeps its log up to the last row.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "log.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fields: list[str] | None = None
        if self.path.is_file() and self.path.stat().st_size:
            with open(self.path, newline="") as f:
                self._fields = next(csv.reader(f), None)
        self._writer = _tensorboard_writer(Path(run_dir) / "tensorboard") if tensorboard else None

    @property
    def tensorboard(self) -> bool:
        """Whether TensorBoard event files are being written."""
        return self._writer is not None

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Log ``values`` at ``step`` (keys become CSV columns and TensorBoard tags)."""
        row = {"step": step, **{k: _finite(v) for k, v in values.items()}}
        if self._fields is None:
            self._fields = list(row)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self._fields)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self._fields, extrasaction="ignore").writerow(row)
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def image(self, tag: str, step: int, image: np.ndarray) -> None:
        """An (H, W, 3) uint8 picture for TensorBoard (no-op without it)."""
        if self._writer is not None:
            self._writer.add_image(tag, image, step, dataformats="HWC")
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _finite(value: Any) -> Any:
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def _tensorboard_writer(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: the CSV log is always written
        return None
    return SummaryWriter(str(folder))
