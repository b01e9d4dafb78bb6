"""Dynamic batching: concurrent requests of one model and frame size share a model call.

Each :class:`BatchKey` (model, kind of work, frame height and width) has a
lane: a bounded queue and one asyncio task. The task takes the first waiting
request, waits up to ``max_delay_s`` (counted from that request's arrival)
for more, until the batch holds ``max_batch`` frames, and hands the batch to
the model's own worker thread, so inference never runs on the event loop and
one model runs one batch at a time. Requests that arrive meanwhile queue up
and form the next batch. A full lane refuses new requests at once
(:class:`asyncio.QueueFull`; the server answers 503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

# A lane with nothing to do for this long ends its task (seconds); the next request starts a new one.
LANE_IDLE_S = 10.0


@dataclass(frozen=True)
class BatchKey:
    """Requests with equal keys can share one model call."""

    model: str
    kind: str
    height: int
    width: int


@dataclass(frozen=True)
class BatchPolicy:
    """When a batch is complete.

    Attributes:
        max_batch: most frames in one model call (1: no batching).
        max_delay_s: how long the first request waits for company (seconds).
        max_queue: most requests waiting in one lane; more are refused.
    """

    max_batch: int = 8
    max_delay_s: float = 0.002
    max_queue: int = 64


@dataclass(frozen=True)
class BatchResult:
    """What a request gets back: its own output and the number of frames in its model call."""

    output: Any
    batch_size: int


class BatchRunner(Protocol):
    """A model that runs a batch of prepared items (in a worker thread)."""

    def run_batch(self, key: BatchKey, items: list[Any]) -> list[Any]:
        """One output per item, in order."""


class BatchObserver(Protocol):
    """Receives batch sizes and queue depths (the server's metrics)."""

    def batch_ran(self, model: str, frames: int) -> None: ...

    def queue_changed(self, model: str, depth: int) -> None: ...


@dataclass
class _Pending:
    item: Any
    frames: int
    arrived: float
    future: asyncio.Future


@dataclass
class _Lane:
    runner: BatchRunner
    items: collections.deque = field(default_factory=collections.deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    running: bool = False

    @property
    def frames(self) -> int:
        return sum(p.frames for p in self.items)


class Batcher:
    """Collects requests into batches and runs them off the event loop (see the module doc).

    Create and use it inside the running event loop; :meth:`close` after the last request.
    """

    def __init__(self, policy: BatchPolicy, observer: BatchObserver | None = None) -> None:
        self.policy = policy
        self.observer = observer
        self._lanes: dict[BatchKey, _Lane] = {}
        self._executors: dict[str, ThreadPoolExecutor] = {}

    def submit(self, key: BatchKey, runner: BatchRunner, item: Any, frames: int = 1) -> asyncio.Future:
        """Queue ``item`` (``frames`` frames) for ``runner``; the future resolves to a :class:`BatchResult`.

        Raises asyncio.QueueFull when the lane already holds ``max_queue`` requests.
        """
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(runner)
            lane.task = asyncio.get_running_loop().create_task(self._serve(key, lane))
        if len(lane.items) >= self.policy.max_queue:
            raise asyncio.QueueFull(f"{len(lane.items)} requests already wait for model {key.model!r}")
        loop = asyncio.get_running_loop()
        lane.items.append(_Pending(item, frames, loop.time(), loop.create_future()))
        lane.ready.set()
        self._report_queue(key.model)
        return lane.items[-1].future

    def queue_depth(self, model: str) -> int:
        """Requests of ``model`` waiting for a batch (all lanes)."""
        return sum(len(lane.items) for key, lane in self._lanes.items() if key.model == model)

    async def close(self) -> None:
        """Finish what is queued, stop the lanes, and release the worker threads."""
        while any(lane.items or lane.running for lane in self._lanes.values()):
            await asyncio.sleep(self.policy.max_delay_s or 0.001)
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._lanes.clear()
        for executor in self._executors.values():
            executor.shutdown(wait=True)
        self._executors.clear()

    async def _serve(self, key: BatchKey, lane: _Lane) -> None:
        """The lane's task: form batches and run them until the lane idles out."""
        while True:
            if not lane.items:
                lane.ready.clear()
                try:
                    await asyncio.wait_for(lane.ready.wait(), LANE_IDLE_S)
                except asyncio.TimeoutError:
                    if not lane.items and self._lanes.get(key) is lane:
                        del self._lanes[key]
                        return
                continue
            await self._wait_for_company(lane)
            batch = self._take(lane)
            self._report_queue(key.model)
            await self._run(key, lane, batch)

    async def _wait_for_company(self, lane: _Lane) -> None:
        """Wait until the lane holds a full batch or the first request has waited ``max_delay_s``."""
        loop = asyncio.get_running_loop()
        deadline = lane.items[0].arrived + self.policy.max_delay_s
        while lane.frames < self.policy.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            lane.ready.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(lane.ready.wait(), remaining)

    def _take(self, lane: _Lane) -> list[_Pending]:
        """Pop the oldest requests that fit into one batch (always at least one)."""
        batch = [lane.items.popleft()]
        frames = batch[0].frames
        while lane.items and frames + lane.items[0].frames <= self.policy.max_batch:
            batch.append(lane.items.popleft())
            frames += batch[-1].frames
        return batch

    async def _run(self, key: BatchKey, lane: _Lane, batch: list[_Pending]) -> None:
        """Run one batch on the model's worker thread and resolve its requests' futures."""
        frames = sum(p.frames for p in batch)
        executor = self._executors.get(key.model)
        if executor is None:
            executor = self._executors[key.model] = ThreadPoolExecutor(1, f"infer-{key.model}")
        loop = asyncio.get_running_loop()
        lane.running = True
        try:
            outputs = await loop.run_in_executor(
                executor, lane.runner.run_batch, key, [p.item for p in batch]
            )
            if len(outputs) != len(batch):
                raise RuntimeError(
                    f"model {key.model!r} gave {len(outputs)} outputs for {len(batch)} requests"
                )
        except Exception as err:  # the model failed: every request of the batch gets the error
            _resolve(batch, [None] * len(batch), err, frames)
            return
        finally:
            lane.running = False
        if self.observer is not None:
            self.observer.batch_ran(key.model, frames)
        _resolve(batch, outputs, None, frames)

    def _report_queue(self, model: str) -> None:
        if self.observer is not None:
            self.observer.queue_changed(model, self.queue_depth(model))


def _resolve(batch: list[_Pending], outputs: list[Any], error: Exception | None, frames: int) -> None:
    """Hand each waiting request its output (or the batch's error); skip requests that gave up."""
    for pending, output in zip(batch, outputs, strict=True):
        if pending.future.done():
            continue
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(BatchResult(output, frames))
