"""Live prediction sequences: one stream of context frames per (model, sequence_id), bounded and evicted.

A client streams a video through a prediction model one frame per request,
with the request parameters ``sequence_id``, ``sequence_start`` (the first
frame: a new or reset stream) and ``sequence_end`` (the last frame: the
stream is freed after the answer). The table keeps each sequence's state
(any object; the server keeps a :class:`~corrwise.runtime.predictor.PredictorStream`),
its last use, and a lock that serialises its requests. Sequences idle longer
than the timeout are evicted; at most ``max_sequences`` live at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corrwise.errors import InputError

SequenceKey = tuple[str, int | str]


@dataclass
class LiveSequence:
    """One live sequence: its state, when it was last used (clock seconds), and its request lock."""

    model: str
    id: int | str
    state: Any
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False


class SequenceTable:
    """Sequences by (model, sequence_id), at most ``max_sequences``, evicted after ``timeout_s`` idle.

    Used from the event loop only. ``clock`` gives seconds (monotonic); tests pass a fake one.
    """

    def __init__(
        self, max_sequences: int, timeout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_sequences = max_sequences
        self.timeout_s = timeout_s
        self.clock = clock
        self.evicted = 0
        self._live: dict[SequenceKey, LiveSequence] = {}

    def __len__(self) -> int:
        return len(self._live)

    def open(
        self, model: str, seq_id: int | str, start: bool, new_state: Callable[[], Any]
    ) -> LiveSequence | None:
        """The sequence a request belongs to.

        ``start`` creates the sequence (with ``new_state()``) when it is not
        live; a live one is returned as it is (the caller resets its state
        under the lock). A request without ``start`` for a sequence that is
        not live is an InputError. Returns None when a new sequence would exceed
        ``max_sequences`` even after evicting idle ones.
        """
        key = (model, seq_id)
        now = self.clock()
        sequence = self._live.get(key)
        if sequence is not None and self._expired(sequence, now) and not sequence.lock.locked():
            self._drop(key, evicted=True)
            sequence = None
        if sequence is not None:
            sequence.last_used = now
            return sequence
        if not start:
            raise InputError(
                f"sequence {seq_id!r} of model {model!r} is not live (never started, ended, or evicted after "
                f"{self.timeout_s:g} s idle); send its first request with sequence_start=true"
            )
        if len(self._live) >= self.max_sequences:
            self.evict_idle()
        if len(self._live) >= self.max_sequences:
            return None
        sequence = self._live[key] = LiveSequence(model, seq_id, new_state(), now)
        return sequence

    def close(self, sequence: LiveSequence) -> None:
        """Free a sequence (after its ``sequence_end`` request was answered)."""
        sequence.closed = True
        if self._live.get((sequence.model, sequence.id)) is sequence:
            del self._live[(sequence.model, sequence.id)]

    def touch(self, sequence: LiveSequence) -> None:
        """Mark a sequence as used now (after a request of it was answered)."""
        sequence.last_used = self.clock()

    def evict_idle(self) -> int:
        """Drop sequences idle for longer than the timeout (not those with a request in flight)."""
        now = self.clock()
        stale = [k for k, s in self._live.items() if self._expired(s, now) and not s.lock.locked()]
        for key in stale:
            self._drop(key, evicted=True)
        return len(stale)

    def seconds_until_free(self) -> float:
        """How long until the oldest idle sequence expires (seconds, >= 1): a Retry-After for a full table."""
        if not self._live:
            return 1.0
        oldest = min(s.last_used for s in self._live.values())
        return max(1.0, math.ceil(oldest + self.timeout_s - self.clock()))

    def _expired(self, sequence: LiveSequence, now: float) -> bool:
        return now - sequence.last_used > self.timeout_s

    def _drop(self, key: SequenceKey, evicted: bool) -> None:
        sequence = self._live.pop(key)
        sequence.closed = True
        self.evicted += int(evicted)
