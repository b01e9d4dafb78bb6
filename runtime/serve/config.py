"""The options of ``corr-serve``, as one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from corrwise.errors import ConfigError
from corrwise.runtime.scene import CUT_POLICIES

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServeConfig:
    """How the inference server listens, batches, keeps sequences and bounds requests.

    Attributes:
        host: address to bind. Loopback by default: serving to a network is a
            deliberate choice (``0.0.0.0``), best made behind a proxy with TLS.
        port: TCP port.
        backend: backend for ``.onnx`` files (``"onnxruntime"``, or any name
            :func:`~corrwise.runtime.backends.open_runner` knows); engines
            (``.engine``/``.plan``) always run on TensorRT, ``.pt2`` on PyTorch.
        threads: intra-op threads per model (None: the backend's default, every core).
        max_batch: most frames in one model call; 1 turns dynamic batching off.
            Also the most frames one request may carry (as Triton's max_batch_size).
        max_delay_ms: how long the first request of a batch waits for others
            of the same model and frame size (milliseconds).
        max_queue: requests waiting per batch queue (model and frame size);
            beyond it the server answers 503 with Retry-After.
        max_sequences: live prediction sequences held at once (all models);
            a new sequence beyond it is answered 429.
        sequence_timeout_s: a sequence idle this long is evicted (seconds).
        max_body_mb: largest request body accepted (MiB, after decompression); larger: 413.
        max_side: largest frame height or width accepted (pixels).
        graceful_timeout_s: on shutdown, how long requests in flight may take to finish (seconds).
        scene_cut: interpolation across a scene cut: ``"repeat"`` the frame before it or
            ``"blend"`` the two (the model is not run), as :class:`~corrwise.runtime.Interpolator`.
        cut_threshold: thumbnail SSIM below which two frames are a cut, in [0, 1); 0 disables.
            Prediction sequences restart their context at a cut.
        log_json: one JSON line per request (model, status, batch size, latency) on stderr.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    backend: str = "onnxruntime"
    threads: int | None = None
    max_batch: int = 8
    max_delay_ms: float = 2.0
    max_queue: int = 64
    max_sequences: int = 64
    sequence_timeout_s: float = 60.0
    max_body_mb: float = 64.0
    max_side: int = 8192
    graceful_timeout_s: float = 30.0
    scene_cut: str = "repeat"
    cut_threshold: float = 0.2
    log_json: bool = False

    def __post_init__(self) -> None:
        _positive("max_batch", self.max_batch, integer=True)
        _positive("max_queue", self.max_queue, integer=True)
        _positive("max_sequences", self.max_sequences, integer=True)
        _positive("max_side", self.max_side, integer=True)
        _positive("sequence_timeout_s", self.sequence_timeout_s)
        _positive("max_body_mb", self.max_body_mb)
        _positive("graceful_timeout_s", self.graceful_timeout_s)
        if self.threads is not None:
            _positive("threads", self.threads, integer=True)
        if not 0.0 <= self.max_delay_ms <= 10_000.0:
            raise ConfigError(f"max_delay_ms must be in [0, 10000] milliseconds, got {self.max_delay_ms}")
        if self.scene_cut not in CUT_POLICIES:
            raise ConfigError(f"scene_cut must be one of {CUT_POLICIES}, got {self.scene_cut!r}")
        if not 0.0 <= self.cut_threshold < 1.0:
            raise ConfigError(
                f"cut_threshold must be in [0, 1) (0: no scene-cut detection), got {self.cut_threshold}"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535 (0: any free port), got {self.port}")

    @property
    def max_body_bytes(self) -> int:
        """The body limit in bytes."""
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_delay_s(self) -> float:
        """The batching delay in seconds."""
        return self.max_delay_ms / 1000.0

    @property
    def is_loopback(self) -> bool:
        """Whether the server is reachable from this machine only."""
        return self.host in LOOPBACK_HOSTS


def _positive(name: str, value: float, integer: bool = False) -> None:
    """ConfigError unless ``value`` is a positive number (an int when ``integer``)."""
    if isinstance(value, bool) or (integer and not isinstance(value, int)) or not value > 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{name} must be {kind}, got {value!r}")
