"""Latency and throughput of an exported model on this machine: the work behind ``corr-bench``.

Two measurements on one open runner:

* **model only**: ``runner.infer`` on random tensors of the contract's dtype,
  layout and value range at the padded frame size, batch N;
* **end to end**: what a caller of the runtime pays per call: N uint8
  (H, W, 3) frames per input -> tensors -> padding -> model -> crop ->
  uint8 frames, the path of ``Interpolator.run`` (and of the predictor).

Each call is timed with ``time.perf_counter`` after a few untimed warm-up
calls; the result gives latency percentiles in milliseconds and throughput in
calls and frames per second. With ``workers`` > 1, that many threads call the
one runner at once (as ``Interpolator(workers=N)`` and a busy server do): each
call's latency is still its own, and throughput is calls over the wall time
of the whole measurement. No torch is imported here (the pytorch backend
imports it when it opens a ``.pt2``).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import ConfigError
from corrwise.runtime.backends import AUTO, BACKENDS, OnnxRuntimeRunner, Runner, open_runner
from corrwise.runtime.frames import to_frame, to_tensor
from corrwise.runtime.ordered import check_workers
from corrwise.runtime.padding import crop, pad_for, padded_hw
from tqdm import tqdm

# A 448-wide working size, common for interpolation (and the TensorRT profiles' opt size).
DEFAULT_SIZE = (256, 448)
DEFAULT_ITERS = 20
BACKEND_CHOICES = (AUTO, *sorted(BACKENDS))
HW = tuple[int, int]


@dataclass(frozen=True)
class BenchConfig:
    """What to measure.

    Attributes:
        model: the exported model (``.onnx``, ``.pt2`` or TensorRT engine).
        backend: ``"auto"`` (the best that runs here), ``"onnxruntime"``, ``"tensorrt"`` or ``"pytorch"``.
        providers: ONNX Runtime providers in order (``"cpu"``, ``"cuda"``,
            ``"tensorrt"``); None: the backend's default (auto: the best available).
        size: frame (H, W) in pixels before padding; None: the model's static
            size, else :data:`DEFAULT_SIZE`.
        batch: frames per input per call (N).
        warmup: untimed calls before each measurement (first calls allocate and tune).
        iters: timed calls per measurement; None: :data:`DEFAULT_ITERS` unless ``seconds`` is set.
        seconds: measure each section for this long instead (after the warm-up), in seconds.
        threads: CPU threads of the backend; None: its default (every core).
        workers: calls in flight at once, each on its own thread (on a CPU, e.g. ``workers=2,
            threads=1``); ``iters`` counts the calls of all of them together.
        seed: seed of the random frames (values do not change the timing of these models).
    """

    model: Path
    backend: str = AUTO
    providers: tuple[str, ...] | None = None
    size: HW | None = None
    batch: int = 1
    warmup: int = 3
    iters: int | None = None
    seconds: float | None = None
    threads: int | None = None
    workers: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        _require(
            self.backend in BACKEND_CHOICES, f"backend must be one of {BACKEND_CHOICES}, got {self.backend!r}"
        )
        _require(self.batch >= 1, f"batch must be >= 1 frame per input, got {self.batch}")
        _require(self.warmup >= 0, f"warmup must be >= 0 calls, got {self.warmup}")
        _require(self.iters is None or self.iters >= 1, f"iters must be >= 1 call, got {self.iters}")
        _require(
            self.seconds is None or self.seconds > 0,
            f"seconds must be a positive duration, got {self.seconds}",
        )
        _require(
            self.iters is None or self.seconds is None,
            f"give iters or seconds, not both (got iters={self.iters}, seconds={self.seconds})",
        )
        _require(self.threads is None or self.threads >= 1, f"threads must be >= 1, got {self.threads}")
        check_workers(self.workers)
        _require(
            self.size is None or (len(self.size) == 2 and min(self.size) >= 2),
            f"size must be (H, W) of at least 2x2 pixels, got {self.size}",
        )
        _require(
            self.providers is None or self.backend in (AUTO, "onnxruntime"),
            f"providers apply to ONNX Runtime only (backend auto or onnxruntime), not to {self.backend!r}",
        )
        _require(
            self.threads is None or self.backend != "tensorrt", "threads do not apply to the tensorrt backend"
        )

    @property
    def timed_calls(self) -> int | None:
        """Timed calls per section, or None when timed by :attr:`seconds`."""
        if self.seconds is not None:
            return None
        return self.iters or DEFAULT_ITERS

    def runner_options(self) -> dict[str, Any]:
        """Options for :func:`~corrwise.runtime.backends.open_runner`."""
        options: dict[str, Any] = {}
        if self.providers is not None:
            options["providers"] = self.providers
        if self.threads is not None:
            options["threads"] = self.threads
        return options


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency (milliseconds) and throughput of one measurement.

    ``calls_per_s`` is 1 / mean latency for calls one after another, and calls
    over the wall time when several were in flight at once; ``frames_per_s``
    is batch times that (output frames per second).
    """

    calls: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    calls_per_s: float
    frames_per_s: float

    @classmethod
    def from_samples(cls, seconds: Sequence[float], batch: int, wall_s: float | None = None) -> LatencyStats:
        """Statistics of per-call durations in seconds, for ``batch`` frames per call.

        ``wall_s``: the wall time (s) of calls that overlapped; throughput is then
        calls / wall_s instead of 1 / mean latency.
        """
        ms = [s * 1000.0 for s in seconds]
        mean = sum(ms) / len(ms)
        per_s = len(ms) / wall_s if wall_s else 1000.0 / mean
        return cls(
            calls=len(ms),
            mean_ms=mean,
            p50_ms=percentile(ms, 50),
            p95_ms=percentile(ms, 95),
            p99_ms=percentile(ms, 99),
            min_ms=min(ms),
            max_ms=max(ms),
            calls_per_s=per_s,
            frames_per_s=per_s * batch,
        )

    def to_dict(self) -> dict[str, float | int]:
        """Plain data, times to the microsecond, rates to three decimals."""
        return {k: v if isinstance(v, int) else round(v, 3) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class BenchResult:
    """A benchmark's measurements and the facts needed to compare it with others."""

    config: BenchConfig
    machine: dict[str, Any]
    model: dict[str, Any]
    size: HW
    padded_size: HW
    model_only: LatencyStats
    end_to_end: LatencyStats

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: machine, model, size, batch, settings and both sections."""
        c = self.config
        return {
            "machine": self.machine,
            "model": self.model,
            "size": list(self.size),
            "padded_size": list(self.padded_size),
            "batch": c.batch,
            "settings": {
                "backend": c.backend,
                "providers": list(c.providers) if c.providers else None,
                "threads": c.threads,
                "workers": c.workers,
                "warmup": c.warmup,
                "iters": c.timed_calls,
                "seconds": c.seconds,
            },
            "model_only": self.model_only.to_dict(),
            "end_to_end": self.end_to_end.to_dict(),
        }


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``samples``, interpolating linearly between the nearest ranks.

    The same definition as ``numpy.percentile``'s default: rank ``q / 100 * (n - 1)``
    in the sorted samples.
    """
    if not samples:
        raise ConfigError("percentile of no samples: measure at least one call")
    if not 0 <= q <= 100:
        raise ConfigError(f"percentile q must be in [0, 100], got {q}")
    ordered = sorted(samples)
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def time_calls(
    call: Callable[[], object],
    warmup: int,
    iters: int | None,
    seconds: float | None,
    tick: Callable[[], object],
) -> list[float]:
    """Per-call durations (seconds) of ``call``: ``iters`` calls, or as many as fit in ``seconds``.

    ``warmup`` untimed calls come first; ``tick`` is called after every call
    (for a progress display). At least one call is timed.
    """
    for _ in range(warmup):
        call()
        tick()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds if seconds is not None else None
    while True:
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
        tick()
        if iters is not None and len(samples) >= iters:
            return samples
        if deadline is not None and time.perf_counter() >= deadline:
            return samples


def time_calls_concurrently(
    call: Callable[[], object],
    warmup: int,
    iters: int | None,
    seconds: float | None,
    tick: Callable[[], object],
    workers: int,
) -> tuple[list[float], float]:
    """:func:`time_calls` with ``workers`` threads calling at once: (per-call seconds, wall seconds).

    The warm-up calls run one after another first. Then every thread calls in a
    loop until ``iters`` calls were started in all, or ``seconds`` passed; the wall
    time runs from the common start to the last call's end. An exception of any
    call is raised here after the other threads stopped.
    """
    for _ in range(warmup):
        call()
        tick()
    lock = threading.Lock()
    started = [0]  # calls started by all threads together
    stop = threading.Event()
    begin = threading.Barrier(workers)
    deadline: float | None = None  # set just before the threads start

    def loop() -> list[float]:
        samples: list[float] = []
        begin.wait()
        while not stop.is_set():
            with lock:
                if iters is not None and started[0] >= iters:
                    break
                started[0] += 1
            t0 = time.perf_counter()
            try:
                call()
            except BaseException:
                stop.set()
                raise
            samples.append(time.perf_counter() - t0)
            with lock:
                tick()
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return samples

    start = time.perf_counter()
    if seconds is not None:
        deadline = start + seconds
    with ThreadPoolExecutor(workers, thread_name_prefix="corrwise-bench") as pool:
        futures = [pool.submit(loop) for _ in range(workers)]
        per_thread = [future.result() for future in futures]
    wall = time.perf_counter() - start
    return [s for samples in per_thread for s in samples], wall


def padded_size(contract: IOContract, size: HW) -> HW:
    """The (H, W) the model runs at for frames of ``size``: its static size, or ``size`` rounded up to align.

    Raises:
        ConfigError: ``size`` is larger than the model's static size.
    """
    h, w = size
    if contract.static_hw is not None:
        sh, sw = contract.static_hw
        if h > sh or w > sw:
            raise ConfigError(
                f"--size {h}x{w} does not fit this model, exported for {sh}x{sw} frames only; "
                f"use a size up to {sh}x{sw}, or export without --static"
            )
        return sh, sw
    return padded_hw(size, contract)


def random_tensor(contract: IOContract, batch: int, hw: HW, rng: np.random.Generator) -> np.ndarray:
    """One frame input as the graph takes it: (N, 3, H, W) or (N, H, W, 3), contract dtype and range."""
    h, w = hw
    shape = (batch, 3, h, w) if contract.layout == "NCHW" else (batch, h, w, 3)
    if contract.dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    low, high = contract.value_range
    x = rng.random(shape, dtype=np.float32) * np.float32(high - low) + np.float32(low)
    return x.astype(contract.dtype, copy=False)


def model_inputs(contract: IOContract, batch: int, hw: HW, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random inputs for ``runner.infer``: every frame input, and the timestep 0.5 (N, 1, 1, 1)."""
    inputs = {name: random_tensor(contract, batch, hw, rng) for name in contract.input_names}
    if contract.timestep_input:
        inputs[contract.timestep_input] = np.full((batch, 1, 1, 1), 0.5, np.dtype(contract.time_dtype))
    return inputs


def random_frames(
    contract: IOContract, batch: int, hw: HW, rng: np.random.Generator
) -> dict[str, list[np.ndarray]]:
    """``batch`` random uint8 (H, W, 3) RGB frames per frame input."""
    h, w = hw
    return {
        name: [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for _ in range(batch)]
        for name in contract.input_names
    }


def run_frames(runner: Runner, frames: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Frames in, frames out, as the runtime's callers do it: one call of the end-to-end section.

    Args:
        runner: an open runner.
        frames: per frame input of the contract, N uint8 (H, W, 3) frames of one size.

    Returns:
        N uint8 (H, W, 3) output frames (the synthesised frame of each batch item),
        at time 0.5 for models with a time input.
    """
    c = runner.contract
    inputs = {}
    for name in c.input_names:
        batch = np.concatenate([to_tensor(frame, c) for frame in frames[name]])  # (N, ...) layout of c
        inputs[name], box = pad_for(batch, c)
    n = len(frames[c.input_names[0]])
    if c.timestep_input:
        inputs[c.timestep_input] = np.full((n, 1, 1, 1), 0.5, np.dtype(c.time_dtype))  # (N, 1, 1, 1)
    out = crop(runner.infer(inputs)[c.output_names[0]], box, c.hw_axes)
    return [to_frame(out[i : i + 1], c) for i in range(n)]


def machine_facts(runner: Runner) -> dict[str, Any]:
    """Where the numbers were taken: CPU count, platform, library versions, what really ran the model."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": _version("onnxruntime"),
        "torch": sys.modules["torch"].__version__ if "torch" in sys.modules else None,
        "backend": runner.backend,
        "description": runner.description,
        "providers": runner.active_providers if isinstance(runner, OnnxRuntimeRunner) else [],
    }


def contract_summary(contract: IOContract) -> dict[str, Any]:
    """The contract facts that change what a benchmark measures."""
    return {
        "name": contract.model_name,
        "task": contract.task,
        "inputs": list(contract.input_names) + ([contract.timestep_input] if contract.timestep_input else []),
        "precision": contract.precision,
        "fused_io": contract.fused_io,
        "layout": contract.layout,
        "dtype": contract.dtype,
        "align": contract.align,
        "static_hw": list(contract.static_hw) if contract.static_hw else None,
    }


def run_bench(config: BenchConfig, progress: bool = False) -> BenchResult:
    """Open the model, measure both sections, close it.

    Args:
        config: what to measure.
        progress: show a progress bar per section on stderr.
    """
    with open_runner(config.model, config.backend, **config.runner_options()) as runner:
        c = runner.contract
        size = config.size or (tuple(c.static_hw) if c.static_hw else DEFAULT_SIZE)
        padded = padded_size(c, size)
        rng = np.random.default_rng(config.seed)
        inputs = model_inputs(c, config.batch, padded, rng)
        frames = random_frames(c, config.batch, size, rng)
        model_only = _section("model only", partial(runner.infer, inputs), config, progress)
        end_to_end = _section("end to end", partial(run_frames, runner, frames), config, progress)
        return BenchResult(
            config=config,
            machine=machine_facts(runner),
            model=contract_summary(c),
            size=(int(size[0]), int(size[1])),
            padded_size=padded,
            model_only=model_only,
            end_to_end=end_to_end,
        )


def _section(name: str, call: Callable[[], object], config: BenchConfig, progress: bool) -> LatencyStats:
    """Time ``call`` as ``config`` says, with a progress bar named ``name``."""
    total = config.warmup + config.timed_calls if config.timed_calls is not None else None
    with tqdm(total=total, desc=name, unit="call", file=sys.stderr, disable=not progress, leave=False) as bar:
        if config.workers == 1:
            samples = time_calls(call, config.warmup, config.timed_calls, config.seconds, bar.update)
            return LatencyStats.from_samples(samples, config.batch)
        samples, wall = time_calls_concurrently(
            call, config.warmup, config.timed_calls, config.seconds, bar.update, config.workers
        )
    return LatencyStats.from_samples(samples, config.batch, wall)


def _version(module: str) -> str | None:
    try:
        return str(importlib.import_module(module).__version__)
    except ImportError:
        return None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
