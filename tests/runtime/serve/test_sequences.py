"""Live sequences: created by sequence_start, bounded in number, evicted after idling, freed at the end."""

import asyncio

import pytest
from corrwise.errors import InputError
from corrwise.runtime.serve.sequences import SequenceTable


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def table(max_sequences=2, timeout_s=10.0):
    clock = Clock()
    return SequenceTable(max_sequences, timeout_s, clock), clock


def test_start_creates_and_later_requests_find_the_same_sequence():
    sequences, _ = table()
    first = sequences.open("m", 7, True, lambda: "state")
    assert first.state == "state" and len(sequences) == 1
    assert sequences.open("m", 7, False, lambda: "other") is first
    assert (
        sequences.open("m", 7, True, lambda: "other") is first
    )  # a restart keeps the object, the caller resets


def test_a_sequence_must_start_first():
    sequences, _ = table()
    with pytest.raises(InputError, match="sequence_start=true"):
        sequences.open("m", 7, False, lambda: "state")


def test_ids_are_per_model():
    sequences, _ = table()
    a = sequences.open("a", 1, True, lambda: "a")
    b = sequences.open("b", 1, True, lambda: "b")
    assert a is not b and len(sequences) == 2


def test_idle_sequences_expire():
    sequences, clock = table(timeout_s=10.0)
    sequences.open("m", 1, True, lambda: "s")
    clock.now += 10.5
    with pytest.raises(InputError, match="not live"):
        sequences.open("m", 1, False, lambda: "s")
    assert sequences.evicted == 1 and len(sequences) == 0


def test_use_keeps_a_sequence_alive():
    sequences, clock = table(timeout_s=10.0)
    sequence = sequences.open("m", 1, True, lambda: "s")
    for _ in range(5):
        clock.now += 8.0
        sequences.touch(sequence)
        assert sequences.evict_idle() == 0
    assert sequences.open("m", 1, False, lambda: "s") is sequence


def test_the_number_of_live_sequences_is_bounded():
    sequences, clock = table(max_sequences=2, timeout_s=10.0)
    sequences.open("m", 1, True, lambda: "s")
    clock.now += 4.0
    sequences.open("m", 2, True, lambda: "s")
    assert sequences.open("m", 3, True, lambda: "s") is None
    assert sequences.seconds_until_free() == 6.0  # the oldest expires 10 s after its last use
    clock.now += 6.5  # the first one is idle long enough now: evicted to make room
    assert sequences.open("m", 3, True, lambda: "s") is not None
    assert sequences.evicted == 1 and len(sequences) == 2


def test_close_frees_a_place():
    sequences, _ = table(max_sequences=1)
    sequence = sequences.open("m", 1, True, lambda: "s")
    sequences.close(sequence)
    assert sequence.closed and len(sequences) == 0
    assert sequences.open("m", 2, True, lambda: "s") is not None


async def hold_lock_while_idle(sequences, clock):
    sequence = sequences.open("m", 1, True, lambda: "s")
    async with sequence.lock:  # a request in flight
        clock.now += 60.0
        evicted_while_busy = sequences.evict_idle()
    return evicted_while_busy, sequences.evict_idle()


def test_a_sequence_with_a_request_in_flight_is_not_evicted():
    sequences, clock = table(timeout_s=10.0)
    assert asyncio.run(hold_lock_while_idle(sequences, clock)) == (0, 1)
