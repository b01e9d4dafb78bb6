"""Atomic file output: write under a temporary name, then rename over the final name.

A crash, a kill or an exception at any moment leaves either the previous file
or the complete new one under the final name, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from corrwise.errors import InputError


class AtomicFile:
    """A hidden temporary file beside ``path`` that becomes ``path`` on :meth:`commit`.

    ``suffix`` keeps the extension that writers such as video muxers look at.
    """

    def __init__(self, path: str | Path, suffix: str = ".tmp") -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=suffix, dir=self.path.parent)
            os.close(fd)
        except OSError as err:
            raise InputError(f"cannot write {self.path}: {err.strerror}") from err
        self.tmp = Path(name)

    def commit(self) -> Path:
        """Flush the temporary file to disk, give it the usual permissions, rename it to ``path``."""
        with open(self.tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Remove the temporary file; ``path`` is left as it was."""
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


@contextlib.contextmanager
def atomic_output(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it to ``path`` if the block succeeds."""
    target = AtomicFile(path, suffix)
    try:
        yield target.tmp
        target.commit()
    finally:
        target.discard()
