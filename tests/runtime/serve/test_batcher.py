"""Dynamic batching: which requests share a model call, bounded queues, errors, draining."""

import asyncio
import threading

import pytest
from corrwise.errors import InputError
from corrwise.runtime.serve.batcher import Batcher, BatchKey, BatchPolicy

KEY = BatchKey("m", "interpolate", 4, 4)
OTHER = BatchKey("m", "interpolate", 8, 8)


class Recorder:
    """A fake model: records each batch's items and answers item * 10; may wait at a gate first."""

    def __init__(
        self, gate: threading.Event | None = None, fail: Exception | None = None, short: bool = False
    ):
        self.batches = []
        self.gate = gate
        self.fail = fail
        self.short = short
        self.started = threading.Event()
        self.threads = set()

    def run_batch(self, key, items):
        self.started.set()
        self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait(30)
        self.batches.append((key, list(items)))
        if self.fail is not None:
            raise self.fail
        return [item * 10 for item in items][: -1 if self.short else None]


class Observer:
    def __init__(self):
        self.sizes = []
        self.depths = []

    def batch_ran(self, model, frames):
        self.sizes.append((model, frames))

    def queue_changed(self, model, depth):
        self.depths.append(depth)


async def run_all(batcher, runner, items, key=KEY, frames=None):
    futures = [
        batcher.submit(key, runner, item, 1 if frames is None else frames[i]) for i, item in enumerate(items)
    ]
    results = await asyncio.gather(*futures)
    await batcher.close()
    return results


def test_requests_that_arrive_together_share_one_call():
    runner, observer = Recorder(), Observer()
    batcher_results = asyncio.run(run_all(Batcher(BatchPolicy(4, 10.0, 16), observer), runner, [1, 2, 3, 4]))
    assert [r.output for r in batcher_results] == [10, 20, 30, 40]
    assert [r.batch_size for r in batcher_results] == [4, 4, 4, 4]
    assert runner.batches == [(KEY, [1, 2, 3, 4])]
    assert observer.sizes == [("m", 4)]
    assert observer.depths[:4] == [1, 2, 3, 4] and observer.depths[-1] == 0


def test_batches_hold_at_most_max_batch_frames():
    runner = Recorder()
    asyncio.run(run_all(Batcher(BatchPolicy(4, 0.01, 16)), runner, list(range(6))))
    assert [items for _, items in runner.batches] == [[0, 1, 2, 3], [4, 5]]


def test_requests_count_their_frames():
    runner = Recorder()
    results = asyncio.run(run_all(Batcher(BatchPolicy(4, 0.01, 16)), runner, [1, 2, 3], frames=[3, 2, 2]))
    assert [items for _, items in runner.batches] == [[1], [2, 3]]
    assert [r.batch_size for r in results] == [3, 4, 4]


def test_max_batch_one_turns_batching_off():
    runner = Recorder()
    results = asyncio.run(run_all(Batcher(BatchPolicy(1, 10.0, 16)), runner, [1, 2, 3]))
    assert [items for _, items in runner.batches] == [[1], [2], [3]]
    assert {r.batch_size for r in results} == {1}


async def different_keys(runner):
    batcher = Batcher(BatchPolicy(4, 0.01, 16))
    futures = [
        batcher.submit(KEY, runner, 1),
        batcher.submit(OTHER, runner, 2),
        batcher.submit(KEY, runner, 3),
    ]
    await asyncio.gather(*futures)
    await batcher.close()


def test_different_keys_never_share_a_call_but_share_the_model_thread():
    runner = Recorder()
    asyncio.run(different_keys(runner))
    assert sorted((key.height, items) for key, items in runner.batches) == [(4, [1, 3]), (8, [2])]
    assert len(runner.threads) == 1 and next(iter(runner.threads)).startswith("infer-m")


async def fill_the_queue(runner, gate):
    batcher = Batcher(BatchPolicy(1, 0.0, 2))
    first = batcher.submit(KEY, runner, 1)
    while not runner.started.is_set():  # the first request now runs, holding the model
        await asyncio.sleep(0.001)
    queued = [batcher.submit(KEY, runner, 2), batcher.submit(KEY, runner, 3)]
    depth = batcher.queue_depth("m")
    with pytest.raises(asyncio.QueueFull):
        batcher.submit(KEY, runner, 4)
    gate.set()
    results = await asyncio.gather(first, *queued)
    await batcher.close()
    return depth, [r.output for r in results]


def test_a_full_queue_refuses_at_once():
    gate = threading.Event()
    assert asyncio.run(fill_the_queue(Recorder(gate), gate)) == (2, [10, 20, 30])


async def gather_errors(runners):
    batcher = Batcher(BatchPolicy(4, 0.01, 16))
    futures = [batcher.submit(KEY, runner, i) for i, runner in enumerate(runners)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    await batcher.close()
    return results


def test_a_failing_batch_fails_each_of_its_requests():
    runner = Recorder(fail=InputError("frames too large"))
    results = asyncio.run(gather_errors([runner] * 3))
    assert len(runner.batches) == 1
    assert all(isinstance(r, InputError) and "too large" in str(r) for r in results)


def test_a_model_that_loses_outputs_is_a_server_fault_not_a_hang():
    runner = Recorder(short=True)
    assert all(isinstance(r, RuntimeError) for r in asyncio.run(gather_errors([runner] * 2)))


async def close_while_busy(runner, gate):
    batcher = Batcher(BatchPolicy(2, 0.0, 16))
    futures = [batcher.submit(KEY, runner, i) for i in range(5)]
    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0.01)
    still_open = not closing.done()
    gate.set()
    await closing
    return still_open, [f.result().output for f in futures]


def test_close_finishes_what_is_queued():
    gate = threading.Event()
    assert asyncio.run(close_while_busy(Recorder(gate), gate)) == (True, [0, 10, 20, 30, 40])
