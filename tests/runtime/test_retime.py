import itertools
import math
from fractions import Fraction

import pytest
from corrwise.errors import ConfigError
from corrwise.runtime.retime import (
    RETIME_DEPTH,
    RetimeStep,
    as_rate,
    bisection_levels,
    halving_parents,
    halving_time,
    output_count,
    output_time,
    plan,
    source_position,
)
from hypothesis import given, settings
from hypothesis import strategies as st

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize(
    "value, rate",
    [
        (24, Fraction(24)),
        ("30000/1001", NTSC),
        ("59.94", Fraction(2997, 50)),
        (59.94, Fraction(2997, 50)),
        (Fraction(60000, 1001), Fraction(60000, 1001)),
        (" 25 ", Fraction(25)),
    ],
)
def test_rates(value, rate):
    assert as_rate(value) == rate


@pytest.mark.parametrize("value", [0, -24, "0/1", "1/0", "fast", float("inf"), float("nan"), None, True])
def test_bad_rates(value):
    with pytest.raises(ConfigError, match="fps"):
        as_rate(value)


def test_24_to_60_over_24_frames():
    steps = list(plan(24, 24, 60))
    assert output_count(24, 24, 60) == len(steps) == 60
    assert [s.k for s in steps] == list(range(60))
    assert [output_time(s.k, 60) for s in steps] == [Fraction(k, 60) for k in range(60)]
    # every output at the time k/60 s = (i + t)/24 s of the input timeline
    assert all(Fraction(s.index) + s.t == Fraction(s.k * 24, 60) for s in steps[:-2])
    assert steps[:6] == [
        (0, 0, Fraction(0)),
        (1, 0, Fraction(2, 5)),
        (2, 0, Fraction(4, 5)),
        (3, 1, Fraction(1, 5)),
        (4, 1, Fraction(3, 5)),
        (5, 2, Fraction(0)),
    ]
    # after the last input (23 at 23/24 s): k = 58 at 0.9667 s and k = 59 repeat it
    assert steps[-2:] == [(58, 23, Fraction(0)), (59, 23, Fraction(0))]
    assert steps[57] == (57, 22, Fraction(4, 5))


def test_48_to_24_drops_every_other_frame():
    steps = list(plan(10, 48, 24))
    assert [(s.index, s.t) for s in steps] == [(i, Fraction(0)) for i in range(0, 10, 2)]
    assert output_count(11, 48, 24) == 6


def test_ntsc_doubling():
    steps = list(plan(5, NTSC, "60000/1001"))
    assert [(s.index, s.t) for s in steps] == [
        (i // 2, Fraction(i % 2, 2)) if i < 9 else (4, Fraction(0)) for i in range(10)
    ]


def test_same_rate_is_identity():
    assert list(plan(7, 25, "25")) == [RetimeStep(i, i, Fraction(0)) for i in range(7)]


def test_no_input_no_output():
    assert list(plan(0, 24, 60)) == [] and output_count(0, 24, 60) == 0


def test_timestamps_never_drift():
    k = 10**6
    assert output_time(k, "60000/1001") == Fraction(1001 * k, 60000)
    i, t = source_position(k, NTSC, Fraction(60000, 1001))
    assert (i, t) == (k // 2, Fraction(0))
    i, t = source_position(k, 24, 60)
    assert (i, t) == (400_000, Fraction(0))
    i, t = source_position(k + 1, 24, 60)
    assert (i, t) == (400_000, Fraction(2, 5))
    step = next(itertools.islice(plan(None, NTSC, 60), k, None))
    assert Fraction(step.index) + step.t == Fraction(k) * NTSC / 60


def test_endless_plan_is_lazy():
    steps = list(itertools.islice(plan(None, 24, 60), 7))
    assert steps == list(plan(24, 24, 60))[:7]
    far = next(itertools.islice(plan(None, 60, 24), 1000, None))
    assert far == (1000, 2500, Fraction(0))


@settings(deadline=None, max_examples=60)
@given(
    n=st.integers(0, 60),
    src=st.fractions(min_value=1, max_value=120, max_denominator=1001),
    dst=st.fractions(min_value=1, max_value=120, max_denominator=1001),
)
def test_plan_over_random_rates(n, src, dst):
    steps = list(plan(n, src, dst))
    assert len(steps) == output_count(n, src, dst) == math.ceil(n * dst / src)
    for step in steps:
        position = Fraction(step.k) * src / dst  # in input frames
        assert 0 <= step.t < 1 and 0 <= step.index < n
        if position <= n - 1:
            assert step.index + step.t == position
        else:  # past the last input: repeat it
            assert (step.index, step.t) == (n - 1, 0)
    if n:
        assert steps[-1].k / dst < Fraction(n) / src <= (steps[-1].k + 1) / dst
    endless = list(itertools.islice(plan(None, src, dst), len(steps)))
    assert [s.k for s in endless] == [s.k for s in steps]
    assert all(e == s for e, s in zip(endless, steps, strict=True) if Fraction(s.k) * src / dst <= n - 1)


@pytest.mark.parametrize(
    "t, rounded",
    [
        (Fraction(0), Fraction(0)),
        (Fraction(1, 20), Fraction(0)),
        (Fraction(1, 16), Fraction(1, 8)),  # halves round up
        (Fraction(2, 5), Fraction(3, 8)),
        (Fraction(4, 5), Fraction(6, 8)),
        (Fraction(1, 3), Fraction(3, 8)),
        (Fraction(19, 20), Fraction(1)),
    ],
)
def test_halving_time(t, rounded):
    assert RETIME_DEPTH == 3
    assert halving_time(t) == rounded
    assert halving_time(t, 1) == Fraction(math.floor(t * 2 + Fraction(1, 2)), 2)


def test_halving_parents():
    assert halving_parents(Fraction(1, 2)) == (0, 1)
    assert halving_parents(Fraction(3, 8)) == (Fraction(1, 4), Fraction(1, 2))
    with pytest.raises(ConfigError, match="dyadic"):
        halving_parents(Fraction(1, 3))


def test_bisection_levels():
    assert bisection_levels([Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)]) == [
        [Fraction(1, 2)],
        [Fraction(1, 4), Fraction(3, 4)],
    ]
    assert bisection_levels([Fraction(3, 8)]) == [[Fraction(1, 2)], [Fraction(1, 4)], [Fraction(3, 8)]]
    assert bisection_levels([Fraction(0), Fraction(1)]) == []
    eighths = [Fraction(k, 8) for k in range(1, 8)]
    assert [len(level) for level in bisection_levels(eighths)] == [1, 2, 4]
