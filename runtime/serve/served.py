"""What every served model shares: its protocol metadata, frame checks, and frames in and out of tensors.

On the wire every frame is a UINT8 tensor [N, H, W, 3] (RGB, NHWC, batch
first), whatever the graph's own layout, the same tensors a Triton server
takes for a model exported with fused uint8 I/O. The server converts them to
the contract's layout, dtype and range itself, and pads and crops around the
model through the runtime's :class:`~corrwise.runtime.Interpolator` and
:class:`~corrwise.runtime.predictor.Predictor`.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import InputError
from corrwise.runtime.frames import to_frame, to_tensor
from corrwise.runtime.serve.batcher import BatchKey
from corrwise.runtime.serve.protocol import InferRequest, SequenceParams, datatype_of

MODEL_VERSION = "1"
# Runner backend -> the platform name model metadata reports (Triton's names where Triton has one).
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "tensorrt": "tensorrt_plan", "pytorch": "pytorch_export"}


@dataclass(frozen=True)
class TensorSpec:
    """A tensor in model metadata: name, protocol datatype, shape (-1: any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class FrameLimits:
    """What one request may carry: up to ``max_batch`` frames per tensor, sides up to ``max_side`` pixels."""

    max_batch: int
    max_side: int


@dataclass(frozen=True)
class Job:
    """A checked request, ready for the batcher.

    Attributes:
        key: which requests it may share a model call with.
        item: the model-specific payload (arrays already checked).
        frames: frames it adds to a batch (N).
        sequence: the sequence parameters of a stateful request, else None.
    """

    key: BatchKey
    item: Any
    frames: int
    sequence: SequenceParams | None = None


class ServedModel(ABC):
    """A loaded model as the server sees it: metadata, request checks, and batched execution.

    Subclasses implement :meth:`prepare` (on the event loop: check a request,
    no model call) and :meth:`run_batch` (in the model's worker thread).
    """

    kind = "abstract"

    def __init__(self, name: str, engine: Any, limits: FrameLimits) -> None:
        self.name = name
        self.version = MODEL_VERSION
        self.engine = engine
        self.limits = limits

    @property
    def contract(self) -> IOContract:
        return self.engine.contract

    @property
    def output_name(self) -> str:
        return self.contract.output_names[0]

    @property
    def platform(self) -> str:
        backend = self.engine.runner.backend
        return PLATFORMS.get(backend, backend)

    @abstractmethod
    def input_specs(self) -> list[TensorSpec]:
        """The inputs a request sends."""

    def output_specs(self) -> list[TensorSpec]:
        """The outputs a response carries: the synthesised frames, UINT8 [N, H, W, 3]."""
        return [TensorSpec(self.output_name, "UINT8", (-1, -1, -1, 3))]

    def metadata(self) -> dict[str, Any]:
        """The model metadata response (KServe v2 ``GET /v2/models/{name}``)."""
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.platform,
            "inputs": [s.to_json() for s in self.input_specs()],
            "outputs": [s.to_json() for s in self.output_specs()],
        }

    @abstractmethod
    def prepare(self, request: InferRequest) -> Job:
        """Check a request against the model and make it a :class:`Job`; InputError when it does not fit."""

    @abstractmethod
    def run_batch(self, key: BatchKey, items: list[Any]) -> list[np.ndarray]:
        """Run the prepared items of one batch; one uint8 (N, H, W, 3) output per item, in order."""

    def check_outputs(self, request: InferRequest) -> None:
        """InputError when the request asks for an output this model does not have."""
        for wanted in request.outputs or ():
            if wanted.name != self.output_name:
                raise InputError(
                    f"model {self.name!r} has one output, {self.output_name!r}; "
                    f"the request asks for {wanted.name!r}"
                )

    def outputs_for(self, request: InferRequest, frames: np.ndarray) -> list[tuple[str, np.ndarray, bool]]:
        """(name, array, binary) of each output the request asked for (all of them when it named none)."""
        if request.outputs is None:
            return [(self.output_name, frames, request.binary_output)]
        return [(o.name, frames, o.binary) for o in request.outputs]

    def check_input_names(
        self, inputs: Mapping[str, np.ndarray], required: list[str], optional: list[str]
    ) -> None:
        """InputError unless the request sends every required input and nothing unknown."""
        missing = [n for n in required if n not in inputs]
        unknown = sorted(set(inputs) - set(required) - set(optional))
        if missing or unknown:
            expected = required + [f"{n} (optional)" for n in optional]
            raise InputError(
                f"model {self.name!r} takes inputs {expected}; missing {missing}, unknown {unknown}"
            )

    def check_frames(self, array: np.ndarray, name: str, max_frames: int | None = None) -> np.ndarray:
        """A frame tensor, checked: UINT8 [N, H, W, 3], 1 <= N <= ``max_frames``, sizes in the limits."""
        limit = self.limits.max_batch if max_frames is None else max_frames
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3:
            raise InputError(
                f"input {name!r} must be UINT8 frames of shape [N, H, W, 3] (RGB, batch first), got "
                f"{datatype_of(array.dtype)} of shape {list(array.shape)}"
            )
        n, h, w = array.shape[:3]
        if not 1 <= n <= limit:
            raise InputError(f"input {name!r} carries {n} frames; this request takes 1 to {limit}")
        if not (2 <= h <= self.limits.max_side and 2 <= w <= self.limits.max_side):
            raise InputError(
                f"input {name!r} has frames of {w}x{h} (WxH); each side must be 2 to "
                f"{self.limits.max_side} pixels"
            )
        static = self.contract.static_hw
        if static is not None and (h > static[0] or w > static[1]):
            raise InputError(
                f"model {self.name!r} was exported for frames up to {static[1]}x{static[0]} (WxH), "
                f"got {w}x{h}"
            )
        return array

    def close(self) -> None:
        """Release the model."""
        self.engine.close()


def same_shape(arrays: Mapping[str, np.ndarray]) -> None:
    """InputError unless all frame tensors have one shape."""
    shapes = {name: list(a.shape) for name, a in arrays.items()}
    if len({tuple(s) for s in shapes.values()}) > 1:
        raise InputError(f"all frame inputs must have one shape [N, H, W, 3], got {shapes}")


def frames_to_tensor(frames: np.ndarray, contract: IOContract) -> np.ndarray:
    """uint8 (N, H, W, 3) frames -> the batch the graph takes (the runtime's per-frame conversion)."""
    return np.concatenate([to_tensor(frame, contract) for frame in frames])


def tensor_to_frames(y: np.ndarray, contract: IOContract) -> np.ndarray:
    """A graph output batch -> uint8 (N, H, W, 3) frames (the runtime's per-frame conversion)."""
    return np.stack([to_frame(y[i : i + 1], contract) for i in range(y.shape[0])])


def split_rows(frames: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    """Cut a batch (N, ...) back into the requests' parts of ``counts`` rows each."""
    bounds = np.cumsum([0, *counts])
    return [frames[a:b] for a, b in itertools.pairwise(bounds)]
