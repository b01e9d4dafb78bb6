"""What every command-line tool shares: user errors become one line on stderr and exit code 2."""

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
