"""ordered_map: results in order, calls really concurrent, bounded read-ahead, errors and early close."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from corrwise.errors import ConfigError
from corrwise.runtime.ordered import ordered_map


def test_results_keep_the_order_of_the_items():
    def slow_for_small(x: int) -> int:
        time.sleep(0.002 * (10 - x))  # early items finish last
        return x * x

    assert list(ordered_map(slow_for_small, range(10), 3)) == [x * x for x in range(10)]


def test_calls_run_at_once_on_worker_threads():
    barrier = threading.Barrier(2, timeout=10)  # broken (raises) unless two calls wait together
    names = set()

    def meet(x: int) -> int:
        names.add(threading.current_thread().name)
        barrier.wait()
        return x

    assert list(ordered_map(meet, range(4), 2)) == [0, 1, 2, 3]
    assert len(names) == 2 and all(name.startswith("corrwise-infer") for name in names)


def test_one_worker_runs_in_the_calling_thread():
    threads = list(ordered_map(lambda _: threading.current_thread(), range(3), 1))
    assert threads == [threading.current_thread()] * 3


def test_items_are_read_lazily_and_a_bounded_way_ahead():
    pulled = []

    def endless():
        for i in itertools.count():
            pulled.append(i)
            yield i

    out = ordered_map(lambda x: x, endless(), 2)
    assert next(out) == 0 and len(pulled) == 3  # workers + 1 in flight
    assert list(itertools.islice(out, 5)) == [1, 2, 3, 4, 5] and len(pulled) == 8
    out.close()


def test_an_error_is_raised_in_order_and_later_calls_are_dropped():
    done = []

    def fail_on_two(x: int) -> int:
        if x == 2:
            raise ValueError("item 2 is bad")
        done.append(x)
        return x

    out = ordered_map(fail_on_two, range(100), 2)
    assert [next(out), next(out)] == [0, 1]
    with pytest.raises(ValueError, match="item 2 is bad"):
        next(out)
    assert max(done) <= 5  # at most workers + 1 items were ever submitted past the failure


def test_closing_early_waits_for_running_calls():
    running = threading.Event()
    finished = []

    def slow(x: int) -> int:
        running.set()
        time.sleep(0.05)
        finished.append(x)
        return x

    out = ordered_map(slow, range(100), 2)
    assert next(out) == 0
    out.close()
    settled = list(finished)
    time.sleep(0.1)
    assert finished == settled and len(finished) <= 4  # nothing ran on after close() returned


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
        list(ordered_map(lambda x: x, range(3), workers))
