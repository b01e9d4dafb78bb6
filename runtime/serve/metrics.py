"""Prometheus metrics of the server: requests, latency, batch sizes, queue depth, live sequences.

Served in the Prometheus text format at ``GET /metrics``. Each server has its
own registry, so several servers (or tests) in one process do not collide.
"""

from __future__ import annotations

from corrwise.extras import import_for

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServeMetrics:
    """The server's metrics (names below, all prefixed ``corrwise_``).

    * ``requests_total{model, status}``: inference requests by HTTP status.
    * ``request_latency_seconds{model}``: time from request to response (seconds), a histogram.
    * ``batch_size{model}``: frames per model call, a histogram with one bucket per size.
    * ``queue_depth{model}``: requests waiting for a batch.
    * ``live_sequences``: prediction sequences held; ``sequences_evicted_total``: evicted idle.
    """

    def __init__(self, max_batch: int) -> None:
        prom = import_for("prometheus_client", "serve", "corr-serve (metrics)")
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        reg = {"registry": self.registry}
        self.requests = prom.Counter(
            "corrwise_requests", "Inference requests by model and HTTP status.", ["model", "status"], **reg
        )
        self.latency = prom.Histogram(
            "corrwise_request_latency_seconds",
            "Inference request latency, from request to response (seconds).",
            ["model"],
            buckets=LATENCY_BUCKETS_S,
            **reg,
        )
        self.batch_size = prom.Histogram(
            "corrwise_batch_size",
            "Frames per model call.",
            ["model"],
            buckets=tuple(float(b) for b in range(1, max_batch + 1)),
            **reg,
        )
        self.queue_depth = prom.Gauge(
            "corrwise_queue_depth", "Requests waiting for a batch.", ["model"], **reg
        )
        self.live_sequences = prom.Gauge("corrwise_live_sequences", "Live prediction sequences.", **reg)
        self.evicted = prom.Counter("corrwise_sequences_evicted", "Sequences evicted after idling.", **reg)

    def request_done(self, model: str, status: int, seconds: float) -> None:
        """Count one answered inference request and its latency (seconds)."""
        self.requests.labels(model=model, status=str(status)).inc()
        self.latency.labels(model=model).observe(seconds)

    def batch_ran(self, model: str, frames: int) -> None:
        """Record one model call of ``frames`` frames."""
        self.batch_size.labels(model=model).observe(frames)

    def queue_changed(self, model: str, depth: int) -> None:
        """Record the number of requests waiting for ``model``."""
        self.queue_depth.labels(model=model).set(depth)

    def sequences_changed(self, live: int, evicted: int) -> None:
        """Record the live sequence count and the number newly evicted."""
        self.live_sequences.set(live)
        if evicted:
            self.evicted.inc(evicted)

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST
