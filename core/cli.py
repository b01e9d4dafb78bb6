"""What every command-line tool shares: user errors become one line on stderr and exit code 2; HxW sizes."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click
from corrwise.errors import CorrwiseError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a CorrwiseError raised in the block into ``error: ...`` on stderr and exit code 2."""
    try:
        yield
    except CorrwiseError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)


class SizeType(click.ParamType):
    """A frame size ``HxW`` in pixels, e.g. ``256x448``, as (H, W)."""

    name = "HxW"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value  # type: ignore[return-value]
        parts = str(value).strip().lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            self.fail(f"{value!r} is not HxW in pixels, e.g. 256x448", param, ctx)
        return int(parts[0]), int(parts[1])


SIZE = SizeType()
