"""The inference service behind the HTTP routes: models, batching, sequences and metrics, without HTTP.

:meth:`InferenceService.infer` takes a parsed request for a model and gives
its outputs, a :class:`Rejection` when the server is too busy to take it now
(a full queue: 503, no room for another sequence: 429), or raises InputError
when the request does not fit the model (400).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from corrwise.errors import InputError
from corrwise.runtime.serve.batcher import Batcher, BatchPolicy, BatchResult
from corrwise.runtime.serve.config import ServeConfig
from corrwise.runtime.serve.metrics import ServeMetrics
from corrwise.runtime.serve.prediction import PredictionModel
from corrwise.runtime.serve.protocol import InferRequest
from corrwise.runtime.serve.repository import ModelRepository
from corrwise.runtime.serve.sequences import LiveSequence, SequenceTable
from corrwise.runtime.serve.served import Job, ServedModel

# How often idle sequences are swept out, at most (seconds); shorter timeouts sweep at half the timeout.
SWEEP_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Rejection:
    """A request the server cannot take now: HTTP status, message, and when to retry (seconds)."""

    status: int
    message: str
    retry_after_s: int


class InferenceService:
    """Runs requests on the repository's models (see the module doc).

    :meth:`start` and :meth:`stop` run inside the server's event loop (its lifespan).
    """

    def __init__(self, repository: ModelRepository, config: ServeConfig, metrics: ServeMetrics) -> None:
        self.repository = repository
        self.config = config
        self.metrics = metrics
        self.sequences = SequenceTable(config.max_sequences, config.sequence_timeout_s)
        self.batcher: Batcher | None = None
        self.ready = False
        self._sweeper: asyncio.Task | None = None
        self._evicted_reported = 0

    async def start(self) -> None:
        """Start batching and the sweeping of idle sequences; the server is ready after this."""
        policy = BatchPolicy(self.config.max_batch, self.config.max_delay_s, self.config.max_queue)
        self.batcher = Batcher(policy, self.metrics)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        self.ready = True

    async def stop(self) -> None:
        """Stop taking requests, finish the queued ones, release the models."""
        self.ready = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.batcher is not None:
            await self.batcher.close()
        self.repository.close()

    async def infer(self, model: ServedModel, request: InferRequest) -> BatchResult | Rejection:
        """The outputs for ``request`` (uint8 (N, H, W, 3) frames in a BatchResult), or a Rejection."""
        job = model.prepare(request)
        if job.sequence is None:
            return await self._submit(model, job)
        if not isinstance(model, PredictionModel):
            raise InputError(f"model {model.name!r} keeps no sequences; send the request without sequence_id")
        sequence = self.sequences.open(model.name, job.sequence.id, job.sequence.start, model.new_stream)
        if sequence is None:
            wait = int(self.sequences.seconds_until_free())
            message = (
                f"the server holds its limit of {self.config.max_sequences} live sequences; end finished "
                f"sequences with sequence_end=true, or retry in {wait} s when an idle one expires"
            )
            return Rejection(429, message, wait)
        try:
            return await self._step(model, job, sequence)
        finally:
            self._report_sequences()

    async def _step(
        self, model: PredictionModel, job: Job, sequence: LiveSequence
    ) -> BatchResult | Rejection:
        """One request of a sequence, after the sequence's earlier requests (its lock keeps the order)."""
        async with sequence.lock:
            if sequence.closed:
                raise InputError(
                    f"sequence {sequence.id!r} ended or expired while this request waited; "
                    "start it again with sequence_start=true"
                )
            if job.sequence.start:
                sequence.state.reset()
            result: BatchResult | Rejection | None = None
            try:
                result = await self._submit(model, model.bind(job, sequence.state))
            finally:
                self.sequences.touch(sequence)
                if job.sequence.end and not isinstance(result, Rejection):
                    self.sequences.close(sequence)
            return result

    async def _submit(self, model: ServedModel, job: Job) -> BatchResult | Rejection:
        if self.batcher is None or not self.ready:
            return Rejection(503, "the server is starting or shutting down; retry shortly", 1)
        try:
            future = self.batcher.submit(job.key, model, job.item, job.frames)
        except asyncio.QueueFull:
            message = (
                f"model {model.name!r} has {self.config.max_queue} requests of this frame size waiting; "
                "retry shortly or send fewer requests at once"
            )
            return Rejection(503, message, 1)
        return await future

    async def _sweep(self) -> None:
        """Evict idle sequences now and then, so their memory goes even if no request comes."""
        interval = max(0.05, min(SWEEP_INTERVAL_S, self.config.sequence_timeout_s / 2))
        while True:
            await asyncio.sleep(interval)
            self.sequences.evict_idle()
            self._report_sequences()

    def _report_sequences(self) -> None:
        evicted = self.sequences.evicted - self._evicted_reported
        self._evicted_reported = self.sequences.evicted
        self.metrics.sequences_changed(len(self.sequences), evicted)
