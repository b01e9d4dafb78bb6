"""Frame-rate conversion maths: which input frames, and which time between them, make each output frame.

Timestamps are exact rationals (:class:`fractions.Fraction`), so a long video
never drifts: output frame k sits at k / dst_fps seconds and input frame i at
i / src_fps seconds, for every k and i. ``n`` input frames cover
[0, n / src_fps) and give ``ceil(n * dst_fps / src_fps)`` output frames.
Output frame k lies between inputs i = floor(k * src_fps / dst_fps) and i + 1,
at the fraction t = k * src_fps / dst_fps - i of the way (t = 0 is input i
itself). Outputs after the last input repeat it.

Models without a time input synthesise midpoints only; they reach other times
by recursive halving, and a retime with them rounds t to the nearest multiple
of 1 / 2 ** RETIME_DEPTH (at most RETIME_DEPTH model calls per pair of inputs).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import NamedTuple

from corrwise.errors import ConfigError

# Halving depth for models without a time input: t is rounded to a multiple of
# 1/8, at most 1/16 of a frame interval from the exact time (under a millisecond
# at 60 fps output), for at most 3 model calls per pair of input frames.
RETIME_DEPTH = 3

Rate = Fraction | int | float | str


class RetimeStep(NamedTuple):
    """Where output frame ``k`` comes from: input ``index`` and the time ``t`` in [0, 1) after it."""

    k: int
    index: int
    t: Fraction


def as_rate(value: object, name: str = "fps") -> Fraction:
    """A frame rate (frames/s) as an exact Fraction > 0.

    Accepts a Fraction, an int, a float (taken as its shortest decimal form,
    59.94 -> 2997/50) or a string such as ``"60"``, ``"59.94"`` or
    ``"30000/1001"``. ConfigError for anything else, zero, negative or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, (Fraction, int, float, str)):
        raise ConfigError(f"{name} must be a frame rate such as 60 or '30000/1001', got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite frame rate > 0, got {value}")
    try:
        rate = Fraction(repr(value) if isinstance(value, float) else value)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(
            f"{name} must be a frame rate such as 60, 59.94 or '30000/1001', got {value!r}"
        ) from None
    if rate <= 0:
        raise ConfigError(f"{name} must be > 0 frames per second, got {value!r}")
    return rate


def output_count(n_in: int, src_fps: Rate, dst_fps: Rate) -> int:
    """Number of output frames for ``n_in`` input frames: ceil(n_in * dst_fps / src_fps)."""
    if isinstance(n_in, bool) or not isinstance(n_in, int) or n_in < 0:
        raise ConfigError(f"the number of input frames must be an integer >= 0, got {n_in!r}")
    return math.ceil(n_in * as_rate(dst_fps, "dst_fps") / as_rate(src_fps, "src_fps"))


def output_time(k: int, dst_fps: Rate) -> Fraction:
    """Timestamp of output frame ``k`` in seconds: k / dst_fps."""
    return k / as_rate(dst_fps, "dst_fps")


def source_position(k: int, src_fps: Rate, dst_fps: Rate) -> tuple[int, Fraction]:
    """(i, t) for output frame ``k``: it lies between inputs i and i + 1, at t in [0, 1) after i."""
    position = k * as_rate(src_fps, "src_fps") / as_rate(dst_fps, "dst_fps")  # in input frames
    index = math.floor(position)
    return index, position - index


def plan(n_in: int | None, src_fps: Rate, dst_fps: Rate) -> Iterator[RetimeStep]:
    """The output frames in order, each as (k, i, t).

    With ``n_in`` known, yields exactly :func:`output_count` steps, and the
    outputs after the last input come as (k, n_in - 1, 0): a repeat of it.
    With ``n_in=None`` the plan is endless (for streams of unknown length):
    a consumer stops when input i does not exist, and repeats input i when it
    exists but i + 1 does not.
    """
    src, dst = as_rate(src_fps, "src_fps"), as_rate(dst_fps, "dst_fps")
    ratio = src / dst  # input frames per output frame: p / q
    p, q = ratio.numerator, ratio.denominator
    steps = itertools.count() if n_in is None else range(output_count(n_in, src, dst))
    for k in steps:
        index, rest = divmod(k * p, q)  # output k sits at input position k * p / q
        if n_in is not None and index >= n_in - 1:
            index, rest = n_in - 1, 0
        yield RetimeStep(k, index, Fraction(rest, q))


def halving_time(t: Fraction, depth: int = RETIME_DEPTH) -> Fraction:
    """``t`` in [0, 1] rounded to the nearest multiple of 1 / 2**depth (halves round up).

    The times recursive halving reaches in ``depth`` steps; a result of 0 or 1
    means the input frame itself.
    """
    steps = 2**depth
    return Fraction(math.floor(Fraction(t) * steps + Fraction(1, 2)), steps)


def halving_parents(t: Fraction) -> tuple[Fraction, Fraction]:
    """The two times whose midpoint is the dyadic time ``t`` = m / 2**d (m odd) in (0, 1).

    They are (m - 1) / 2**d and (m + 1) / 2**d, both reached in fewer halvings.
    """
    step = Fraction(1, t.denominator)
    if not 0 < t < 1 or t.denominator & (t.denominator - 1):
        raise ConfigError(f"halving reaches dyadic times m / 2**d in (0, 1) only, got {t}")
    return t - step, t + step


def bisection_levels(times: Iterable[Fraction]) -> list[list[Fraction]]:
    """The midpoints to synthesise, level by level, to reach every dyadic time in ``times``.

    Level d holds the needed times with denominator 2**d, each the midpoint of
    two times already known (0, 1 or an earlier level), so a level can run as
    one batch. Times equal to 0 or 1 need nothing. Each list is sorted.
    """
    needed: set[Fraction] = set()
    todo = [Fraction(t) for t in times if 0 < t < 1]
    while todo:
        t = todo.pop()
        if t not in needed:
            needed.add(t)
            todo.extend(p for p in halving_parents(t) if 0 < p < 1)
    depth = max((t.denominator.bit_length() - 1 for t in needed), default=0)
    return [sorted(t for t in needed if t.denominator == 2**d) for d in range(1, depth + 1)]
