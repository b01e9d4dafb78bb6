"""Serving an interpolation model: two frames (and a time) in, the frame between out.

A request sends the contract's two frame inputs (e.g. ``frame0``, ``frame1``),
UINT8 [N, H, W, 3], and for models with a time input optionally the time
(named by the contract, e.g. ``timestep``), FP32 [N, 1] or [N, 1, 1, 1] in
(0, 1), default 0.5. A model without a time input takes no time or t = 0.5
only. Concurrent requests of one frame size run as one batched
:meth:`Interpolator.run` call, each item with its own t; pairs across a scene
cut get the Interpolator's cut policy instead of the model, so the answer is
exactly what :meth:`Interpolator.interpolate` gives for each pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from corrwise.errors import InputError
from corrwise.runtime.interpolator import Interpolator
from corrwise.runtime.scene import cut_frame
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

# The time input's name for models without one (they accept t = 0.5 only).
DEFAULT_TIME_INPUT = "timestep"


@dataclass(frozen=True)
class InterpolationItem:
    """One request's pairs: frames uint8 (N, H, W, 3) at t = 0 and t = 1, and the times float64 (N,)."""

    frame0: np.ndarray
    frame1: np.ndarray
    t: np.ndarray


class InterpolationModel(ServedModel):
    """An :class:`Interpolator` behind the protocol (see the module doc)."""

    kind = "interpolate"

    def __init__(self, name: str, engine: Interpolator, limits: FrameLimits) -> None:
        super().__init__(name, engine, limits)

    @property
    def time_input(self) -> str:
        return self.contract.timestep_input or DEFAULT_TIME_INPUT

    def input_specs(self) -> list[TensorSpec]:
        specs = [TensorSpec(n, "UINT8", (-1, -1, -1, 3)) for n in self.contract.input_names]
        if self.contract.timestep_input:
            specs.append(TensorSpec(self.contract.timestep_input, "FP32", (-1, 1)))
        return specs

    def prepare(self, request: InferRequest) -> Job:
        if sequence_params(request.parameters) is not None:
            raise InputError(
                f"model {self.name!r} interpolates pairs of frames and keeps no state; "
                "send the request without sequence_id"
            )
        names = list(self.contract.input_names)
        self.check_input_names(request.inputs, names, [self.time_input])
        self.check_outputs(request)
        frames = {n: self.check_frames(request.inputs[n], n) for n in names}
        same_shape(frames)
        x0, x1 = frames[names[0]], frames[names[1]]
        n, h, w = x0.shape[:3]
        t = self._times(request.inputs.get(self.time_input), n)
        return Job(BatchKey(self.name, self.kind, h, w), InterpolationItem(x0, x1, t), n)

    def run_batch(self, key: BatchKey, items: list[InterpolationItem]) -> list[np.ndarray]:
        x0 = np.concatenate([item.frame0 for item in items])  # (N, H, W, 3)
        x1 = np.concatenate([item.frame1 for item in items])
        t = np.concatenate([item.t for item in items])  # (N,)
        engine: Interpolator = self.engine
        cuts = [engine.detector.is_cut(a, b) for a, b in zip(x0, x1, strict=True)]
        out = np.empty_like(x0)
        rows = [i for i, cut in enumerate(cuts) if not cut]
        if rows:
            c = self.contract
            y = engine.run(frames_to_tensor(x0[rows], c), frames_to_tensor(x1[rows], c), t[rows])
            out[rows] = tensor_to_frames(y, c)
        for i in (i for i, cut in enumerate(cuts) if cut):
            out[i] = cut_frame(engine.scene_cut, x0[i], x1[i], float(t[i]))
            engine.cuts += 1
        return split_rows(out, [item.frame0.shape[0] for item in items])

    def _times(self, array: np.ndarray | None, n: int) -> np.ndarray:
        """float64 (n,) times from the optional time input; InputError when it is not n times in (0, 1)."""
        name = self.time_input
        if array is None:
            return np.full(n, 0.5)
        if array.dtype.kind != "f" or array.size != n or array.ndim < 1 or array.shape[0] != n:
            raise InputError(
                f"input {name!r} must be FP32 times of shape [{n}, 1] (one per frame pair), got "
                f"{array.dtype} of shape {list(array.shape)}"
            )
        t = array.reshape(n).astype(np.float64)
        if not np.all((t > 0.0) & (t < 1.0)):
            raise InputError(f"input {name!r} must hold times strictly between 0 and 1, got {t.tolist()[:8]}")
        if self.contract.timestep_input is None and np.any(t != 0.5):
            raise InputError(
                f"model {self.name!r} synthesises the midpoint only (t = 0.5), got t = {t.tolist()[:8]}; "
                "serve a model exported with a time input for other times"
            )
        return t
