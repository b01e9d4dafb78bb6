"""Video jobs on the threaded pipeline: raise the frame rate (upsample, retime) or predict frames."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
from corrwise.errors import InputError
from corrwise.runtime.interpolator import Interpolator
from corrwise.runtime.pipeline import Pipeline, PipelineOptions, PipelineReport
from corrwise.runtime.predictor import Predictor
from corrwise.runtime.retime import Rate, as_rate
from corrwise.tolerances import psnr_db

UpsampleReport = PipelineReport  # what upsample_video returns, under its earlier name

# Peak-to-peak range of uint8 frames, for the PSNR of predictions (dB).
UINT8_PEAK = 255.0


def _options(
    options: PipelineOptions | None, max_frames: int | None, progress: bool | None
) -> PipelineOptions:
    """``options`` (default ones when None) with ``max_frames`` and ``progress`` filled in where given."""
    options = options or PipelineOptions()
    if max_frames is not None:
        options = replace(options, max_frames=max_frames)
    return options if progress is None else replace(options, progress=progress)


def upsample_video(
    src: str | Path,
    dst: str | Path,
    interp: Interpolator,
    factor: int = 2,
    max_frames: int | None = None,
    progress: bool | None = None,
    options: PipelineOptions | None = None,
) -> PipelineReport:
    """Write ``src`` at ``factor`` times its frame rate to ``dst`` (H.264, with the input's audio).

    n input frames give n + (n - 1)(factor - 1) output frames: the inputs
    unchanged and ``factor - 1`` synthesised frames between each pair (see
    :meth:`Interpolator.upsample`). The output appears under ``dst`` only when
    complete; see :class:`~corrwise.runtime.pipeline.Pipeline` for partial
    inputs. ``max_frames`` and ``progress`` override the same fields of ``options``.
    """
    interp.upsample(iter(()), factor)  # checks the factor before anything is decoded or written
    with Pipeline(src, dst, _options(options, max_frames, progress)) as pipe:
        expected = pipe.expected_frames_in
        return pipe.run(
            partial(interp.upsample, factor=factor),
            pipe.info.fps * factor,
            counter=interp,
            frames_out=None if expected is None else expected * factor - (factor - 1),
        )


def retime_video(
    src: str | Path,
    dst: str | Path,
    interp: Interpolator,
    fps: Rate,
    options: PipelineOptions | None = None,
) -> PipelineReport:
    """Write ``src`` converted to ``fps`` frames/s to ``dst``, up or down (see :meth:`Interpolator.retime`).

    ``fps``: a Fraction, int, float or string such as ``"60"``, ``"59.94"`` or ``"60000/1001"``.
    n input frames give ceil(n * fps / input fps) output frames; output frame k is at k / fps seconds.
    """
    fps = as_rate(fps, "fps")
    with Pipeline(src, dst, options) as pipe:
        expected = pipe.expected_frames_in
        ratio = fps / pipe.info.fps
        return pipe.run(
            partial(interp.retime, src_fps=pipe.info.fps, dst_fps=fps),
            fps,
            counter=interp,
            frames_out=None if expected is None else -(-expected * ratio.numerator // ratio.denominator),
        )


@dataclass(frozen=True)
class PredictReport:
    """What :func:`predict_video` did.

    Attributes:
        pipeline: the run's :class:`PipelineReport`.
        horizon: frames ahead each prediction looks.
        predicted: output frames that are predictions (the first ``horizon`` are copies).
        psnr_db: mean PSNR (dB, uint8 peak 255) of the predictions against the true
            frames; None when no frame was predicted, inf when all are exact.
    """

    pipeline: PipelineReport
    horizon: int
    predicted: int
    psnr_db: float | None


class PredictionStream:
    """The predict transform: output frame i is the prediction of input frame i from frames up to i - horizon.

    Horizon 1 takes :meth:`Predictor.push` of frame i - 1; horizon K pushes
    frame i - K and takes the last of ``rollout(K)``. The first ``horizon``
    output frames (of the stream and after each restart) are copies of the
    input. With ``side_by_side`` each output frame is ``input | prediction``,
    uint8 (H, 2W, 3). Calling the object is the transform; each call starts
    from an empty context.

    Args:
        predictor: an open Predictor.
        horizon: frames ahead, >= 1.
        side_by_side: put the input left of the prediction.
    """

    def __init__(self, predictor: Predictor, horizon: int = 1, side_by_side: bool = False) -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise InputError(f"horizon must be an integer >= 1 (frames ahead), got {horizon!r}")
        self.predictor = predictor
        self.horizon = horizon
        self.side_by_side = side_by_side
        self.predicted = 0
        self._psnr_sum = 0.0

    @property
    def mean_psnr_db(self) -> float | None:
        """Mean PSNR (dB) of the predictions so far against the true frames; None before the first."""
        return self._psnr_sum / self.predicted if self.predicted else None

    def __call__(self, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """uint8 (H, W, 3) input frames -> uint8 (H, W, 3) (or (H, 2W, 3) side by side) output frames."""
        self.predictor.reset()
        pending: deque[np.ndarray] = deque()  # predictions of the next `horizon` input frames
        for frame in frames:
            guess = frame
            if len(pending) == self.horizon:
                guess = pending.popleft()
                self._psnr_sum += psnr_db(frame, guess, UINT8_PEAK)
                self.predicted += 1
            yield np.concatenate([frame, guess], axis=1) if self.side_by_side else guess
            pending.append(self._predict(frame))

    def _predict(self, frame: np.ndarray) -> np.ndarray:
        """Push ``frame``; the prediction of the frame ``horizon`` after it."""
        following = self.predictor.push(frame)
        return following if self.horizon == 1 else self.predictor.rollout(self.horizon)[-1]


def predict_video(
    src: str | Path,
    dst: str | Path,
    predictor: Predictor,
    horizon: int = 1,
    side_by_side: bool = False,
    options: PipelineOptions | None = None,
) -> PredictReport:
    """Write to ``dst`` each frame of ``src`` as the model predicts it ``horizon`` frames ahead.

    Same rate and frame count as the input; see :class:`PredictionStream`.
    """
    stream = PredictionStream(predictor, horizon, side_by_side)
    with Pipeline(src, dst, options) as pipe:
        report = pipe.run(stream, pipe.info.fps, counter=predictor, frames_out=pipe.expected_frames_in)
    psnr = stream.mean_psnr_db
    return PredictReport(report, horizon, stream.predicted, psnr)
