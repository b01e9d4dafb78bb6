"""Predictor: next-frame prediction over streams of frames, the counterpart of the Interpolator."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import ContractError, InputError
from corrwise.runtime.backends import Runner, open_runner
from corrwise.runtime.frames import as_rgb8, check_frame_io, to_frame, to_tensor
from corrwise.runtime.padding import crop, pad_for
from corrwise.runtime.scene import SceneCutDetector


class PredictorStream:
    """The state of one stream of frames: the model's context, numpy only and independent of any model.

    Attributes:
        context_frames: K, the number of past frames the model takes.
        context: the last K frames, oldest first, each a batch of one in the
            contract's layout, dtype and range, unpadded: float (1, 3, H, W)
            or uint8 (1, H, W, 3). Empty after a reset.
        size: (H, W) of the stream's frames in pixels, None after a reset.
        last_frame: the newest frame, uint8 (H, W, 3), for scene-cut detection.
        frames_seen: frames pushed since the last reset.

    A server keeps one stream per sequence and passes them to :meth:`Predictor.step`.
    """

    def __init__(self, context_frames: int) -> None:
        if isinstance(context_frames, bool) or not isinstance(context_frames, int) or context_frames < 1:
            raise InputError(f"context_frames must be an integer >= 1, got {context_frames!r}")
        self.context_frames = context_frames
        self.context: deque[np.ndarray] = deque(maxlen=context_frames)
        self.size: tuple[int, int] | None = None
        self.last_frame: np.ndarray | None = None
        self.frames_seen = 0

    def reset(self) -> None:
        """Forget the context: the next frame starts a new history (any size)."""
        self.context.clear()
        self.size = None
        self.last_frame = None
        self.frames_seen = 0

    def add(self, frame: np.ndarray, tensor: np.ndarray) -> None:
        """Append a frame (uint8 (H, W, 3)) and its tensor (batch of one) as the newest context frame.

        The first frame after a reset fills the whole context with copies of
        itself (a static history). The caller checks the size.
        """
        if not self.context:
            self.context.extend([tensor] * self.context_frames)
        else:
            self.context.append(tensor)
        self.size = (frame.shape[0], frame.shape[1])
        self.last_frame = frame
        self.frames_seen += 1


class Predictor:
    """Predicts the next frame of a stream with an exported ``"predict"`` model.

    The model takes the last K frames (``context_frames``, oldest first) and
    gives the frame after them. The Predictor keeps that context for you: push
    each new frame and get the prediction of the one that follows. The first
    frame after a reset stands in for the whole history, so every push returns
    a prediction. A scene cut between two pushed frames (see
    :class:`~corrwise.runtime.scene.SceneCutDetector`) resets the stream first,
    so a context never mixes two shots; :attr:`cuts` counts them. Frames of any
    size are padded to the model's alignment and cropped back.

    Args:
        model: path to an exported prediction model, or an already constructed runner.
        backend: backend name when ``model`` is a path (``"onnxruntime"``).
        cut_threshold: thumbnail SSIM below which two frames are a cut, in [0, 1); 0 disables.
        **options: backend options, e.g. ``threads=2`` for ONNX Runtime.

    Example::

        with Predictor("predict.onnx") as predictor:
            for frame in frames:  # uint8 (H, W, 3)
                guess = predictor.push(frame)  # uint8 (H, W, 3): the predicted next frame
            future = predictor.rollout(5)  # the next 5 frames, the state is unchanged

        # many sequences at once, batched by frame size (e.g. in a server):
        streams = [predictor.new_stream() for _ in range(3)]
        guesses = predictor.step(streams, [frame_a, frame_b, frame_c])
    """

    def __init__(
        self,
        model: str | Path | Runner,
        backend: str = "onnxruntime",
        *,
        cut_threshold: float = 0.2,
        **options: object,
    ) -> None:
        self.detector = SceneCutDetector(cut_threshold)
        self.cuts = 0
        self.runner = model.open() if isinstance(model, Runner) else open_runner(model, backend, **options)
        c = self.runner.contract
        try:
            if c.task != "predict":
                raise ContractError(
                    f"{self.runner.path} is a {c.task!r} model; Predictor needs a 'predict' model "
                    "(use Interpolator for interpolation models)"
                )
            check_frame_io(c, str(self.runner.path))
        except ContractError:
            self.runner.close()
            raise
        self.stream = self.new_stream()

    @property
    def contract(self) -> IOContract:
        """The model's I/O contract."""
        return self.runner.contract

    @property
    def context_frames(self) -> int:
        """K, the number of past frames the model takes."""
        return self.contract.context_frames

    def new_stream(self) -> PredictorStream:
        """An empty stream for this model's context length (one per sequence in a server)."""
        return PredictorStream(self.context_frames)

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Add a frame to the default stream and predict the next one.

        Args:
            frame: uint8 (H, W, 3) RGB (grayscale and RGBA are converted), the
                size of the stream's frames until :meth:`reset`.

        Returns:
            uint8 (H, W, 3): the predicted next frame.
        """
        return self.step([self.stream], [frame])[0]

    def step(self, streams: Sequence[PredictorStream], frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Push one frame into each stream and predict the next frame of every stream.

        Streams whose frames share a size run as one batch (one runner call
        each size), so the outputs equal those of separate :meth:`push` calls.
        All frames are checked before any stream changes.

        Args:
            streams: distinct streams of this model (from :meth:`new_stream`).
            frames: one uint8 (H, W, 3) frame per stream.

        Returns:
            One uint8 (H, W, 3) predicted frame per stream, in order.
        """
        frames = self._check_step(streams, frames)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for j, (stream, frame) in enumerate(zip(streams, frames, strict=True)):
            if stream.last_frame is not None and self.detector.is_cut(stream.last_frame, frame):
                stream.reset()
                self.cuts += 1
            stream.add(frame, to_tensor(frame, self.contract))
            groups[frame.shape[:2]].append(j)
        predictions: dict[int, np.ndarray] = {}
        for members in groups.values():
            context = [
                np.concatenate([streams[j].context[i] for j in members]) for i in range(self.context_frames)
            ]
            out = self.run(context)
            for n, j in enumerate(members):
                predictions[j] = to_frame(out[n : n + 1], self.contract)
        return [predictions[j] for j in range(len(frames))]

    def rollout(self, k: int) -> list[np.ndarray]:
        """Predict ``k`` >= 1 frames ahead of the default stream, feeding each prediction back.

        Each predicted tensor becomes the newest context frame as it is (no
        rounding to uint8 in between). The stream's state does not change.

        Returns:
            k uint8 (H, W, 3) frames: the frames after the last pushed one.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"rollout needs a number of frames k >= 1, got {k!r}")
        if not self.stream.context:
            raise InputError("rollout needs a context: push() at least one frame first")
        context = list(self.stream.context)
        frames = []
        for _ in range(k):
            out = self.run(context)  # batch of one
            frames.append(to_frame(out, self.contract))
            context = [*context[1:], out]
        return frames

    def run(self, context: Sequence[np.ndarray]) -> np.ndarray:
        """Tensor-level prediction with padding: K context batches, oldest first -> the next-frame batch.

        Inputs and output are in the contract's layout, dtype and value range:
        float (N, 3, H, W) in [-1, 1], or uint8 (N, H, W, 3) in [0, 255] for
        graphs with fused I/O; all K of one shape. H and W can be anything (up
        to the static size of a fixed-size export); the padding is handled here.
        """
        c = self.contract
        if len(context) != c.context_frames:
            raise InputError(
                f"{self.runner.path.name} takes {c.context_frames} context frames (oldest first), "
                f"got {len(context)}"
            )
        first = context[0]
        for x in context:
            if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape != first.shape:
                got = f"shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
                raise InputError(
                    f"context frames must be 4-D ({c.layout}) arrays of one shape {first.shape}, got {got}"
                )
        padded = [pad_for(x, c) for x in context]
        inputs = {name: p for name, (p, _) in zip(c.input_names, padded, strict=True)}
        out = self.runner.infer(inputs)[c.output_names[0]]
        return crop(out, padded[0][1], c.hw_axes)

    def reset(self) -> None:
        """Forget the default stream's context."""
        self.stream.reset()

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_step(self, streams: Sequence[PredictorStream], frames: Sequence[object]) -> list[np.ndarray]:
        """Frames as private uint8 (H, W, 3) arrays, checked against their streams; else InputError."""
        if len(streams) != len(frames) or not streams:
            raise InputError(
                f"step needs one frame per stream, got {len(streams)} streams, {len(frames)} frames"
            )
        if len({id(s) for s in streams}) != len(streams):
            raise InputError("each stream can take one frame per step; the same stream appears twice")
        checked = []
        for j, (stream, frame) in enumerate(zip(streams, frames, strict=True)):
            if not isinstance(stream, PredictorStream) or stream.context_frames != self.context_frames:
                raise InputError(
                    f"stream {j} is not a stream of this model ({self.context_frames} context frames); "
                    "make streams with Predictor.new_stream()"
                )
            name = "frame" if len(frames) == 1 else f"frame {j}"
            frame = np.array(as_rgb8(frame, name))  # a private copy: the context must not change with it
            if stream.size is not None and frame.shape[:2] != stream.size:
                (h0, w0), (h, w) = stream.size, frame.shape[:2]
                raise InputError(
                    f"{name} is {w}x{h} (WxH) but the stream's frames are {w0}x{h0}; "
                    "call reset() (or stream.reset()) to start over at a new resolution"
                )
            checked.append(frame)
        return checked
