"""Serving a prediction model: streams of frames as sequences, or whole contexts at once.

Stateful (the usual way): a client streams a video one frame per request,
input ``frame`` UINT8 [1, H, W, 3], with the request parameters
``sequence_id``, ``sequence_start`` (first frame) and ``sequence_end`` (last
frame). The server keeps a :class:`~corrwise.runtime.predictor.PredictorStream`
per sequence and answers each frame with the predicted next frame, exactly as
:meth:`Predictor.push` would; concurrent sequences of one frame size run as one
batched :meth:`Predictor.step` call.

Stateless: a request without ``sequence_id`` sends all K context inputs of
the contract (e.g. ``frame0``, ``frame1``, ``frame2``, oldest first), UINT8
[N, H, W, 3] each, as a Triton server takes them, and gets the next frame of
each of the N contexts (batched :meth:`Predictor.run`, no scene-cut handling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from corrwise.errors import InputError
from corrwise.runtime.predictor import Predictor, PredictorStream
from corrwise.runtime.serve.batcher import BatchKey
from corrwise.runtime.serve.protocol import InferRequest, sequence_params
from corrwise.runtime.serve.served import (
    FrameLimits,
    Job,
    ServedModel,
    TensorSpec,
    frames_to_tensor,
    same_shape,
    split_rows,
    tensor_to_frames,
)

SEQUENCE_INPUT = "frame"
SEQUENCE = "sequence"
CONTEXT = "context"


@dataclass(frozen=True)
class SequenceStep:
    """One frame of a sequence: the sequence's stream and the frame, uint8 (H, W, 3)."""

    stream: PredictorStream
    frame: np.ndarray


class PredictionModel(ServedModel):
    """A :class:`Predictor` behind the protocol (see the module doc)."""

    kind = "predict"

    def __init__(self, name: str, engine: Predictor, limits: FrameLimits) -> None:
        super().__init__(name, engine, limits)

    def input_specs(self) -> list[TensorSpec]:
        return [TensorSpec(SEQUENCE_INPUT, "UINT8", (1, -1, -1, 3))]

    def new_stream(self) -> PredictorStream:
        """The state of a new sequence."""
        return self.engine.new_stream()

    def prepare(self, request: InferRequest) -> Job:
        """A sequence step (item: the frame, uint8 (H, W, 3); :meth:`bind` adds the stream), or a context."""
        self.check_outputs(request)
        sequence = sequence_params(request.parameters)
        if sequence is None:
            return self._prepare_context(request)
        self.check_input_names(request.inputs, [SEQUENCE_INPUT], [])
        frame = self.check_frames(request.inputs[SEQUENCE_INPUT], SEQUENCE_INPUT, max_frames=1)[0]
        h, w = frame.shape[:2]
        return Job(BatchKey(self.name, SEQUENCE, h, w), frame, 1, sequence)

    def bind(self, job: Job, stream: PredictorStream) -> Job:
        """The job of a sequence step with its sequence's stream; InputError when the frame size changed."""
        frame = job.item
        if stream.size is not None and frame.shape[:2] != stream.size:
            (h0, w0), (h, w) = stream.size, frame.shape[:2]
            raise InputError(
                f"sequence {job.sequence.id!r} has frames of {w0}x{h0} (WxH), this one is {w}x{h}; "
                "start a new sequence (sequence_start=true) for a new frame size"
            )
        return Job(job.key, SequenceStep(stream, frame), 1, job.sequence)

    def run_batch(self, key: BatchKey, items: list) -> list[np.ndarray]:
        if key.kind == SEQUENCE:
            predictions = self.engine.step([s.stream for s in items], [s.frame for s in items])
            return [p[None] for p in predictions]  # (1, H, W, 3) each
        c = self.contract
        context = [
            frames_to_tensor(np.concatenate([item[k] for item in items]), c) for k in range(c.context_frames)
        ]
        out = tensor_to_frames(self.engine.run(context), c)
        return split_rows(out, [item[0].shape[0] for item in items])

    def _prepare_context(self, request: InferRequest) -> Job:
        names = list(self.contract.input_names)
        if set(request.inputs) == {SEQUENCE_INPUT}:
            raise InputError(
                f"model {self.name!r} predicts from a stream: send '{SEQUENCE_INPUT}' with the request "
                f"parameters sequence_id and sequence_start (first frame) / sequence_end (last frame), "
                f"or, without a sequence, all {len(names)} context inputs {names} (oldest first)"
            )
        self.check_input_names(request.inputs, names, [])
        frames = {n: self.check_frames(request.inputs[n], n) for n in names}
        same_shape(frames)
        n, h, w = frames[names[0]].shape[:3]
        return Job(BatchKey(self.name, CONTEXT, h, w), [frames[name] for name in names], n)
