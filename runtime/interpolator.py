"""Interpolator: the one interface the CLI, the server and user code call to synthesise frames."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from operator import attrgetter
from pathlib import Path
from types import TracebackType

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, ContractError, InputError
from corrwise.runtime.backends import Runner, open_runner
from corrwise.runtime.frames import as_rgb8, check_frame_io, check_same_size, to_frame, to_tensor
from corrwise.runtime.ordered import check_workers, ordered_map
from corrwise.runtime.padding import crop, pad_for
from corrwise.runtime.retime import (
    RETIME_DEPTH,
    Rate,
    as_rate,
    bisection_levels,
    halving_parents,
    halving_time,
    plan,
)
from corrwise.runtime.scene import CUT_POLICIES, SceneCutDetector, cut_frame


@dataclass
class _Keyframe:
    """An input frame of a stream, with its tensor and thumbnail made once, when first needed."""

    frame: np.ndarray  # uint8 (H, W, 3)
    tensor: np.ndarray | None = None  # batch of one in the contract's layout
    thumbnail: np.ndarray | None = None  # float32 (S, S), None while unneeded or detection is off


class Interpolator:
    """Synthesises frames between two frames with an exported model, for pairs or whole streams.

    The frame is the midpoint, or, for models with a time input, the frame at
    any time t in (0, 1). Everything it needs comes from the artifact's I/O
    contract: input names, the timestep input, value range, dtype and spatial
    alignment. Frames of any size are padded to the alignment around the model
    and cropped back after it. Across a scene cut (see
    :class:`~corrwise.runtime.scene.SceneCutDetector`) the model is not run:
    the frames between are copies of the frame before the cut (``"repeat"``)
    or a cross-fade (``"blend"``); :attr:`cuts` counts the cuts met.

    Args:
        model: path to an exported model, or an already constructed runner.
        backend: backend name when ``model`` is a path (``"onnxruntime"``).
        scene_cut: ``"repeat"`` or ``"blend"``, what to put between frames across a cut.
        cut_threshold: thumbnail SSIM below which two frames are a cut, in [0, 1); 0 disables.
        workers: pairs of a stream (:meth:`upsample`, :meth:`retime`) synthesised at once, on
            that many threads sharing the runner; results keep their order. On the CPU,
            ``workers=2, threads=1`` gives the most frames per second on 2 cores (1.6x one
            pair at a time with 2 threads, for a 448x256 EdgeFlow); latency per pair is that
            of one thread. :meth:`interpolate` always runs one pair.
        **options: backend options, e.g. ``threads=2`` for ONNX Runtime.

    Example::

        with Interpolator("model.onnx") as interp:
            middle = interp.interpolate(frame0, frame1)  # uint8 (H, W, 3)
            third = interp.interpolate(frame0, frame1, t=1 / 3)  # needs a model with a time input
            doubled = list(interp.upsample(frames, 2))  # n frames -> 2n - 1
            at_60 = interp.retime(frames, "24", "60")  # lazy iterator of frames at 60 fps
    """

    def __init__(
        self,
        model: str | Path | Runner,
        backend: str = "onnxruntime",
        *,
        scene_cut: str = "repeat",
        cut_threshold: float = 0.2,
        workers: int = 1,
        **options: object,
    ) -> None:
        if scene_cut not in CUT_POLICIES:
            raise ConfigError(f"scene_cut must be one of {CUT_POLICIES}, got {scene_cut!r}")
        self.scene_cut = scene_cut
        self.detector = SceneCutDetector(cut_threshold)
        self.workers = check_workers(workers)
        self.cuts = 0
        self._cuts_lock = threading.Lock()  # workers count cuts concurrently
        self.runner = model.open() if isinstance(model, Runner) else open_runner(model, backend, **options)
        c = self.runner.contract
        try:
            if c.task != "interpolate":
                raise ContractError(
                    f"{self.runner.path} is a {c.task!r} model; Interpolator needs an 'interpolate' model "
                    "(use Predictor for prediction models)"
                )
            check_frame_io(c, str(self.runner.path))
        except ContractError:
            self.runner.close()
            raise

    @property
    def contract(self) -> IOContract:
        """The model's I/O contract."""
        return self.runner.contract

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, t: float = 0.5) -> np.ndarray:
        """The frame at time ``t`` between ``frame0`` (t = 0) and ``frame1`` (t = 1).

        Args:
            frame0, frame1: uint8 (H, W, 3) RGB, same size, any H and W >= 2
                (grayscale and RGBA are converted, see :func:`~corrwise.runtime.frames.as_rgb8`).
            t: time of the output frame, in (0, 1). Models exported without a
                time input synthesise the midpoint only and accept just 0.5.

        Returns:
            uint8 (H, W, 3) RGB. Across a scene cut: the policy's frame, without running the model.
        """
        frames = [as_rgb8(frame0, "frame0"), as_rgb8(frame1, "frame1")]
        check_same_size(frames, ["frame0", "frame1"])
        t = self._check_time(t)
        if self.detector.is_cut(*frames):
            self._count_cut()
            return cut_frame(self.scene_cut, frames[0], frames[1], t)
        tensors = [to_tensor(f, self.contract) for f in frames]
        return to_frame(self.run(*tensors, t=t), self.contract)

    def run(self, x0: np.ndarray, x1: np.ndarray, t: float | np.ndarray = 0.5) -> np.ndarray:
        """Tensor-level interpolation with padding: a pair of batches -> the batch at time ``t``.

        Inputs and output are in the contract's layout, dtype and value range:
        float (N, 3, H, W) in [-1, 1], or uint8 (N, H, W, 3) in [0, 255] for
        graphs with fused I/O. H and W can be anything (up to the static size
        of a fixed-size export); the padding is handled here. ``t`` is one time
        in (0, 1) for the whole batch or an (N,) array, one time per item; it
        goes to the model's time input as an (N, 1, 1, 1) array. A model
        without one only takes t = 0.5. No scene-cut handling at this level.
        """
        c = self.contract
        if not isinstance(x0, np.ndarray) or not isinstance(x1, np.ndarray):
            raise InputError(
                f"expected two numpy arrays ({c.layout}), got {type(x0).__name__} and {type(x1).__name__}"
            )
        if x0.shape != x1.shape or x0.ndim != 4:
            raise InputError(
                f"expected two 4-D ({c.layout}) arrays of one shape, got {x0.shape} and {x1.shape}"
            )
        times = self._check_times(t, x0.shape[0])
        (p0, box), (p1, _) = pad_for(x0, c), pad_for(x1, c)
        inputs = {c.input_names[0]: p0, c.input_names[1]: p1}
        if c.timestep_input:
            inputs[c.timestep_input] = times.reshape(-1, 1, 1, 1).astype(c.time_dtype)  # (N, 1, 1, 1)
        out = self.runner.infer(inputs)[c.output_names[0]]
        return crop(out, box, c.hw_axes)

    def upsample(self, frames: Iterable[np.ndarray], factor: int) -> Iterator[np.ndarray]:
        """Raise the frame rate by an integer factor: each input frame, then ``factor - 1`` frames after it.

        Args:
            frames: uint8 (H, W, 3) frames of one size (gray and RGBA converted),
                any iterable, read lazily (an endless generator works).
            factor: output frames per input frame, >= 1; a power of two for
                models without a time input (reached by recursive halving).

        Yields:
            uint8 (H, W, 3): n inputs give n + (n - 1)(factor - 1) frames; the
            inputs themselves pass through unchanged, the frames between are at
            t = k / factor. Only the previous frame is held (with ``workers`` > 1,
            up to ``workers + 1`` pairs in flight); each frame becomes a tensor
            once. Pairs across a scene cut follow the cut policy.
        """
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ConfigError(f"factor must be an integer >= 1, got {factor!r}")
        if self.contract.timestep_input is None and factor & (factor - 1):
            raise ConfigError(
                f"{self.runner.path.name} synthesises midpoints only, so factor must be a power of two "
                f"(2, 4, 8, ...), got {factor}; use retime() for other rates or a model with a time input"
            )
        return self._upsample(iter(frames), factor)

    def retime(self, frames: Iterable[np.ndarray], src_fps: Rate, dst_fps: Rate) -> Iterator[np.ndarray]:
        """Convert a stream of frames from ``src_fps`` to ``dst_fps`` (any rates, e.g. 24 -> 60, 60 -> 24).

        Output frame k is the frame at k / dst_fps seconds; n inputs give
        exactly ceil(n * dst_fps / src_fps) outputs (see
        :mod:`corrwise.runtime.retime`). Outputs at an input's own time are
        copies of it (no model call); those after the last input repeat it.
        Models with a time input get the exact time; midpoint-only models
        approximate it by recursive halving to depth ``RETIME_DEPTH`` = 3 (t
        rounded to the nearest multiple of 1/8; 0 or 1 gives the input frame).

        Args:
            frames: uint8 (H, W, 3) frames of one size, read lazily; the length
                need not be known (endless generators work); at most two are held.
            src_fps, dst_fps: frame rates > 0 (frames/s): Fraction, int, float
                or a string like ``"30000/1001"``.

        Yields:
            uint8 (H, W, 3) frames at ``dst_fps``.
        """
        src, dst = as_rate(src_fps, "src_fps"), as_rate(dst_fps, "dst_fps")
        return self._retime(iter(frames), src, dst)

    def _upsample(self, frames: Iterator[np.ndarray], factor: int) -> Iterator[np.ndarray]:
        times = [Fraction(k, factor) for k in range(1, factor)]
        depth = factor.bit_length() - 1

        def pairs() -> Iterator[tuple[_Keyframe | None, _Keyframe]]:
            previous: _Keyframe | None = None
            for index, frame in enumerate(frames):
                current = self._keyframe(frame, index, None if previous is None else previous.frame.shape)
                if times:
                    self._prepare(current)  # here, once, not by two workers at once
                yield previous, current
                previous = current

        def step(pair: tuple[_Keyframe | None, _Keyframe]) -> list[np.ndarray]:
            previous, current = pair
            between = self._between(previous, current, times, depth) if previous is not None and times else []
            return [*between, current.frame]

        for made in ordered_map(step, pairs(), self.workers):
            yield from made

    def _retime(self, frames: Iterator[np.ndarray], src: Fraction, dst: Fraction) -> Iterator[np.ndarray]:
        source = _FrameSource(self, frames)

        def groups() -> Iterator[tuple[_Keyframe, _Keyframe | None, list[Fraction]]]:
            for index, group in itertools.groupby(plan(None, src, dst), key=attrgetter("index")):
                current = source.get(index)
                if current is None:
                    return
                times = [step.t for step in group]
                if times[0] == 0:  # the input itself, out before the next input is read
                    yield current, None, times[:1]
                    times = times[1:]
                if times:
                    following = source.get(index + 1)
                    if following is not None:  # prepared here, once, not by two workers at once
                        self._prepare(current)
                        self._prepare(following)
                    yield current, following, times

        def step(group: tuple[_Keyframe, _Keyframe | None, list[Fraction]]) -> list[np.ndarray]:
            current, following, times = group
            if following is None:  # t = 0, or times after the last input: copies of the input
                return [current.frame.copy() for _ in times]
            return self._between(current, following, times, RETIME_DEPTH)

        for made in ordered_map(step, groups(), self.workers):
            yield from made

    def _keyframe(self, frame: object, index: int, shape: tuple[int, ...] | None) -> _Keyframe:
        """Input frame ``index`` of a stream, checked against the stream's ``shape`` (None: the first)."""
        frame = as_rgb8(frame, f"frame {index}")
        if shape is not None and frame.shape != shape:
            (h0, w0), (h, w) = shape[:2], frame.shape[:2]
            raise InputError(
                f"frame {index} is {w}x{h} (WxH) but the stream's frames are {w0}x{h0}; one stream has "
                "one frame size: split it at the change and start a new upsample/retime"
            )
        return _Keyframe(frame)

    def _prepare(self, key: _Keyframe) -> _Keyframe:
        """Fill in the tensor (and, with detection on, the thumbnail) of a keyframe, once."""
        if key.tensor is None:
            key.tensor = to_tensor(key.frame, self.contract)
        if key.thumbnail is None and self.detector.enabled:
            key.thumbnail = self.detector.thumbnail(key.frame)
        return key

    def _between(self, a: _Keyframe, b: _Keyframe, times: list[Fraction], depth: int) -> list[np.ndarray]:
        """The uint8 (H, W, 3) frames at ``times`` in (0, 1) between keyframes ``a`` and ``b``.

        Midpoint-only models synthesise the times rounded to multiples of
        1 / 2**depth by batched halving; a rounded 0 or 1 is the keyframe itself.
        """
        a, b = self._prepare(a), self._prepare(b)
        if self.detector.enabled and self.detector.is_cut_thumbnails(a.thumbnail, b.thumbnail):
            self._count_cut()
            return [cut_frame(self.scene_cut, a.frame, b.frame, float(t)) for t in times]
        if self.contract.timestep_input is None:
            times = [halving_time(t, depth) for t in times]
        wanted = sorted({t for t in times if 0 < t < 1})
        made = {
            t: to_frame(y, self.contract) for t, y in zip(wanted, self._synthesize(a, b, wanted), strict=True)
        }
        made[Fraction(0)], made[Fraction(1)] = a.frame, b.frame
        out, used = [], {Fraction(0), Fraction(1)}
        for t in times:
            out.append(made[t].copy() if t in used else made[t])  # every frame yielded is its own array
            used.add(t)
        return out

    def _synthesize(self, a: _Keyframe, b: _Keyframe, times: list[Fraction]) -> list[np.ndarray]:
        """Batches of one at each time in (0, 1): one call with a time input, else one per halving level."""
        if not times:
            return []
        if self.contract.timestep_input:
            n = len(times)
            out = self.run(np.repeat(a.tensor, n, 0), np.repeat(b.tensor, n, 0), np.array(times, np.float64))
            return [out[j : j + 1] for j in range(n)]
        known = {Fraction(0): a.tensor, Fraction(1): b.tensor}
        for level in bisection_levels(times):
            parents = [halving_parents(t) for t in level]
            lows = np.concatenate([known[lo] for lo, _ in parents])
            highs = np.concatenate([known[hi] for _, hi in parents])
            out = self.run(lows, highs, 0.5)
            known.update((t, out[j : j + 1]) for j, t in enumerate(level))
        return [known[t] for t in times]

    def _count_cut(self) -> None:
        with self._cuts_lock:
            self.cuts += 1

    def _check_time(self, t: object) -> float:
        """``t`` as a float in (0, 1) that this model can synthesise, else InputError."""
        numbers = (int, float, Fraction, np.integer, np.floating)
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers):
            raise InputError(f"t must be a number in (0, 1) or an (N,) array of them, got {type(t).__name__}")
        t = float(t)
        if not 0.0 < t < 1.0:
            raise InputError(
                f"t must be strictly between 0 (frame0) and 1 (frame1), got {t}; "
                "at 0 or 1 use the input frame itself"
            )
        if self.contract.timestep_input is None and t != 0.5:
            raise InputError(
                f"{self.runner.path.name} ({self.contract.model_name}) only synthesises the midpoint "
                f"(t = 0.5), got t = {t}; export a model with a time input (e.g. timestep=True) for "
                "other times, or reach other times by repeated halving (upsample, retime)"
            )
        return t

    def _check_times(self, t: object, n: int) -> np.ndarray:
        """float64 (n,) times for a batch of ``n``: one time for all, or one per item; else InputError.

        Arrays of shape (n,), (n, 1) or (n, 1, 1, 1) are accepted.
        """
        if not isinstance(t, np.ndarray):
            return np.full(n, self._check_time(t))
        numeric = np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)
        if t.ndim == 0 or t.shape[0] != n or t.size != n or not numeric:
            raise InputError(
                f"t must be a number or a numeric array of shape ({n},) (one time per batch item), "
                f"got a {t.dtype} array of shape {t.shape}"
            )
        times = t.reshape(n).astype(np.float64)
        for value in times:
            self._check_time(value)
        return times

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()

    def __enter__(self) -> Interpolator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _FrameSource:
    """Reads a stream's frames on demand for :meth:`Interpolator.retime`, holding at most two."""

    def __init__(self, interp: Interpolator, frames: Iterator[np.ndarray]) -> None:
        self._interp = interp
        self._frames = frames
        self._held: dict[int, _Keyframe] = {}
        self._read = 0  # frames read so far
        self._shape: tuple[int, ...] | None = None  # the stream's frame shape, once known
        self._ended = False

    def get(self, index: int) -> _Keyframe | None:
        """Input frame ``index`` (>= every index asked before minus one), or None after the stream's end."""
        for old in [i for i in self._held if i < index - 1]:
            del self._held[old]
        while self._read <= index and not self._ended:
            frame = next(self._frames, None)
            if frame is None:
                self._ended = True
                break
            key = self._interp._keyframe(frame, self._read, self._shape)
            self._shape = key.frame.shape
            if self._read >= index - 1:
                self._held[self._read] = key
            self._read += 1
        return self._held.get(index)
