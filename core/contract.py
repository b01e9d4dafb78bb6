"""The I/O contract of an exported model: plain data, defined once.

Export writes it into the ONNX ``metadata_props`` under :data:`METADATA_KEY`
(and, later, beside a TensorRT engine); the runtime reads it back and needs
nothing else to run the artifact correctly: which task it does, how many
frames it takes and under which input names, the tensor layout, dtype and
value range, and the multiple that height and width must be padded to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from corrwise.errors import ContractError

METADATA_KEY = "corrwise.contract"
FORMAT_VERSION = 1
TASKS = ("interpolate", "predict")
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "float16", "uint8")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class IOContract:
    """What a runtime must know to feed an exported model and read its output.

    Attributes:
        task: ``"interpolate"`` (frames before and after -> the frame between)
            or ``"predict"`` (context frames -> the next frame).
        context_frames: number of frame inputs; equals ``len(input_names)``.
        input_names: graph input names, one per frame, oldest first.
        output_names: graph output names; the first is the synthesised frame.
        layout: ``"NCHW"`` (float graphs) or ``"NHWC"`` (fused uint8 graphs).
        dtype: element type of the frame inputs and outputs.
        value_range: (low, high) of frame values, e.g. ``(-1.0, 1.0)`` for
            float graphs; ``(0, 255)`` for fused uint8 graphs.
        align: height and width must be multiples of this (pixels); the
            runtime pads and crops around the model.
        fused_io: True when conversion from and to uint8 frames is inside the graph.
        timestep_input: name of the scalar time input in (0, 1), or None when
            the model always synthesises the midpoint.
        model_name: registry name of the network.
        model_config: the resolved model configuration (plain JSON data).
        training_loss: the loss the weights were trained with, e.g. ``"l1"``.
        precision: arithmetic inside the graph: ``"fp32"``, ``"fp16"`` (weights
            and activations in half precision, I/O as ``dtype`` says) or
            ``"int8"`` (quantised convolutions); selects the parity tolerance.
        static_hw: (H, W) in pixels when the graph was exported for one frame
            size only; the runtime pads smaller frames up to it. None: any
            multiple of ``align``.
        min_size: smallest H and W the graph accepts (pixels), e.g. two cells
            of a 1/16 cost volume; the runtime pads smaller frames up to it.
        version: corrwise version that exported the artifact.
        format_version: version of this contract's schema.
    """

    task: str
    context_frames: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    align: int
    model_name: str
    layout: str = "NCHW"
    dtype: str = "float32"
    value_range: tuple[float, float] = (-1.0, 1.0)
    fused_io: bool = False
    timestep_input: str | None = None
    model_config: Mapping[str, Any] = field(default_factory=dict)
    training_loss: str = "unknown"
    precision: str = "fp32"
    static_hw: tuple[int, int] | None = None
    min_size: int = 1
    version: str = "0.0.0"
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        _check(self.task in TASKS, f"task must be one of {TASKS}, got {self.task!r}")
        _check(self.layout in LAYOUTS, f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        _check(self.dtype in DTYPES, f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        _check(
            self.context_frames >= 1 and self.context_frames == len(self.input_names),
            f"context_frames ({self.context_frames}) must be >= 1 and equal the number of "
            f"input names {list(self.input_names)}",
        )
        _check(len(self.output_names) >= 1, "a contract needs at least one output name")
        _check(self.align >= 1, f"align must be a positive pixel multiple, got {self.align}")
        _check(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.static_hw is not None:
            h, w = self.static_hw
            _check(
                h >= 1 and w >= 1 and h % self.align == 0 and w % self.align == 0,
                f"static_hw must be positive multiples of align {self.align}, got {self.static_hw}",
            )
        _check(self.min_size >= 1, f"min_size must be a positive number of pixels, got {self.min_size}")
        low, high = self.value_range
        _check(low < high, f"value_range must be (low, high) with low < high, got {self.value_range}")

    @property
    def hw_axes(self) -> tuple[int, int]:
        """Axes of height and width in a frame tensor: (2, 3) for NCHW, (1, 2) for NHWC."""
        return (2, 3) if self.layout == "NCHW" else (1, 2)

    @property
    def time_dtype(self) -> str:
        """Element type of the timestep input: the frame dtype for float graphs, float32 for uint8 ones."""
        return "float32" if self.dtype == "uint8" else self.dtype

    def to_metadata(self) -> dict[str, str]:
        """The contract as ONNX ``metadata_props`` entries (string to string)."""
        return {METADATA_KEY: json.dumps(asdict(self), sort_keys=True)}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], source: str = "the model") -> IOContract:
        """Read a contract back from ``metadata_props``; raise ContractError if absent or bad."""
        if METADATA_KEY not in metadata:
            raise ContractError(
                f"{source} has no corrwise I/O contract (metadata key {METADATA_KEY!r}; "
                f"found keys {sorted(metadata)}). Export it with `corr-export onnx`, which "
                "writes the contract into the model."
            )
        try:
            data = json.loads(metadata[METADATA_KEY])
        except json.JSONDecodeError as err:
            raise ContractError(f"{source}: the I/O contract is not valid JSON ({err})") from err
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "the model") -> IOContract:
        """Build a contract from plain data (as written by :meth:`to_metadata`)."""
        version = data.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ContractError(
                f"{source}: contract format {version} is newer than this corrwise understands "
                f"({FORMAT_VERSION}); upgrade corrwise."
            )
        try:
            return cls(
                **{
                    **data,
                    "input_names": tuple(data["input_names"]),
                    "output_names": tuple(data["output_names"]),
                    "value_range": tuple(data.get("value_range", (-1.0, 1.0))),
                    "static_hw": tuple(data["static_hw"]) if data.get("static_hw") else None,
                }
            )
        except (KeyError, TypeError) as err:
            raise ContractError(f"{source}: the I/O contract is incomplete or malformed ({err})") from err


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)
