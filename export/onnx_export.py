"""Checkpoint -> ONNX, with dynamic batch/height/width and the I/O contract in the metadata."""

from __future__ import annotations

import contextlib
import inspect
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corrwise
import onnx
import torch
from corrwise.atomic import atomic_output
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, ExportError
from corrwise.export.fused_io import FusedUint8IO
from corrwise.export.graph_passes import fp16_graph, simplify_graph
from corrwise.export.warp_onnx import MIN_OPSET as DEFORM_OPSET
from corrwise.export.warp_onnx import translations
from corrwise.models import load_checkpoint
from corrwise.models.spec import ExportSpec
from corrwise.models.warp import export_form

DYNAMIC_AXES = ("batch", "height", "width")


IO_KINDS = ("float", "uint8")


@dataclass(frozen=True)
class OnnxOptions:
    """How to export a checkpoint to ONNX.

    Attributes:
        opset: ONNX opset; None takes the exporter's default (>= 18).
        static_hw: (H, W) pixels to fix the frame size (multiples of the
            model's alignment), e.g. for a fixed-resolution engine; None keeps
            height and width dynamic. The batch stays dynamic either way.
        io: ``"float"``: frames float32 (B, 3, H, W) in [-1, 1] in and out;
            ``"uint8"``: pre- and post-processing fused into the graph, frames
            uint8 (B, H, W, 3) in [0, 255] in and out.
        fp16: weights and activations in float16 (float I/O stays float32).
        simplify: fold constants and simplify the graph with onnxslim.
    """

    opset: int | None = None
    static_hw: tuple[int, int] | None = None
    io: str = "float"
    fp16: bool = False
    simplify: bool = False

    def __post_init__(self) -> None:
        if self.io not in IO_KINDS:
            raise ConfigError(f"io must be one of {IO_KINDS}, got {self.io!r}")
        if self.static_hw is not None and (len(self.static_hw) != 2 or min(self.static_hw) < 1):
            raise ConfigError(f"static_hw must be (H, W) in pixels, got {self.static_hw}")


def contract_for(
    spec: ExportSpec, name: str, config: dict, training: dict, options: OnnxOptions | None = None
) -> IOContract:
    """The I/O contract of the graph built from ``spec`` with ``options`` (default: float NCHW, fp32)."""
    options = options or OnnxOptions()
    fused = options.io == "uint8"
    return IOContract(
        task=spec.task,
        context_frames=len(spec.input_names),
        input_names=spec.input_names,
        output_names=spec.output_names,
        align=spec.align,
        model_name=name,
        layout="NHWC" if fused else "NCHW",
        dtype="uint8" if fused else "float32",
        value_range=(0.0, 255.0) if fused else (-1.0, 1.0),
        fused_io=fused,
        timestep_input=spec.timestep_input,
        model_config=config,
        training_loss=str(training.get("loss", "unknown")),
        precision="fp16" if options.fp16 else "fp32",
        static_hw=options.static_hw,
        min_size=spec.min_size,
        version=corrwise.__version__,
    )


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's informational logging and warnings (errors still raise)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _rename_dims(model: onnx.ModelProto, hw_axes: tuple[int, int]) -> None:
    """Give the symbolic N, H, W dims of every graph input and output readable names.

    Static dims (the channels, a fixed size, and the 1 x 1 x 1 of a timestep
    input) keep their values.
    """
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for axis, name in zip((0, *hw_axes), DYNAMIC_AXES, strict=True):
            if axis < len(dims) and dims[axis].dim_param:
                dims[axis].dim_param = name


def example_size(spec: ExportSpec) -> tuple[int, int]:
    """The (H, W) the exporter traces: 4 and 6 times the alignment, more if the model needs a larger size.

    Parity checks run on other sizes, which proves the axes are dynamic.
    """
    a = spec.align
    low = -(-spec.min_size // a)  # smallest H/a and W/a the graph accepts
    return a * max(4, low), a * max(6, low + 2)


def example_inputs(spec: ExportSpec, options: OnnxOptions | None = None) -> tuple[torch.Tensor, ...]:
    """Trace inputs in the spec's order: the frames, then the timestep float32 (1, 1, 1, 1).

    Frames are float32 (1, 3, H, W) in [-1, 1], or uint8 (1, H, W, 3) for
    fused uint8 I/O; (H, W) is the static size when fixed, else :func:`example_size`.
    """
    options = options or OnnxOptions()
    h, w = options.static_hw or example_size(spec)
    if options.io == "uint8":
        frames = tuple(torch.randint(0, 256, (1, h, w, 3), dtype=torch.uint8) for _ in spec.input_names)
    else:
        frames = tuple(torch.rand(1, 3, h, w) * 2 - 1 for _ in spec.input_names)
    return (*frames, torch.full((1, 1, 1, 1), 0.5)) if spec.timestep_input else frames


def dynamic_shapes(spec: ExportSpec, options: OnnxOptions | None = None) -> dict[str, dict[int, Any]]:
    """Dynamic axes by graph input name, in input order.

    Frames get batch, H and W (multiples of align, at least the model's minimum
    size; only the batch for a static size), on the layout's axes; the
    timestep input gets the batch only.
    """
    options = options or OnnxOptions()
    a = spec.align
    low = -(-spec.min_size // a)
    batch = torch.export.Dim("batch", min=1, max=1024)
    h = torch.export.Dim("h", min=low, max=8192 // a)
    w = torch.export.Dim("w", min=low, max=8192 // a)
    h_axis, w_axis = (1, 2) if options.io == "uint8" else (2, 3)
    frame: dict[int, Any] = {0: batch} if options.static_hw else {0: batch, h_axis: a * h, w_axis: a * w}
    shapes: dict[str, dict[int, Any]] = {name: dict(frame) for name in spec.input_names}
    if spec.timestep_input:
        shapes[spec.timestep_input] = {0: batch}
    return shapes


def _bind_to_forward(model: torch.nn.Module, shapes: dict[str, dict[int, Any]], name: str) -> dict[str, Any]:
    """Re-key ``shapes`` (by graph input name, in order) by forward()'s parameters, as torch.export wants.

    The graph inputs map onto forward() positionally; a ``*frames`` parameter
    receives the tuple of the remaining inputs' shapes. ExportError when
    forward() cannot take the spec's inputs.
    """
    signature = inspect.signature(model.forward)
    inputs = list(shapes)
    try:
        bound = signature.bind(*range(len(inputs)))
    except TypeError as err:
        raise ExportError(
            f"model {name!r}: its export spec declares inputs {inputs} but forward{signature} "
            f"cannot take them ({err}); fix the model's export_spec"
        ) from err
    by_param: dict[str, Any] = {}
    for param, value in bound.arguments.items():
        if signature.parameters[param].kind is inspect.Parameter.VAR_POSITIONAL:
            by_param[param] = tuple(shapes[inputs[i]] for i in value)
        else:
            by_param[param] = shapes[inputs[value]]
    return by_param


def _check_options(spec: ExportSpec, name: str, options: OnnxOptions) -> None:
    """ConfigError when the opset or the static size does not suit the model."""
    if options.opset is not None and options.opset < spec.min_opset:
        raise ConfigError(f"opset {options.opset} is too low for {name!r}: it needs >= {spec.min_opset}")
    if options.static_hw is not None:
        h, w = options.static_hw
        if h % spec.align or w % spec.align or min(h, w) < spec.min_size:
            raise ConfigError(
                f"--static {h}x{w} does not suit {name!r}: height and width must be multiples of "
                f"{spec.align} and at least {spec.min_size}; e.g. {spec.align * -(-h // spec.align)}x"
                f"{spec.align * -(-w // spec.align)}"
            )


def onnx_from_checkpoint(
    checkpoint: str | Path, output: str | Path, opset: int | None = None, options: OnnxOptions | None = None
) -> Path:
    """Export a corrwise checkpoint to ONNX at ``output``; return the path.

    Graph inputs are named by the model's export spec: the frames, then, for
    models with a time input, the timestep float32 (B, 1, 1, 1) in (0, 1).
    With the default options frames are float32 (B, 3, H, W) in [-1, 1] with
    dynamic B, H and W (H and W multiples of the model's alignment), and the
    output is the frame (B, 3, H, W) in [-1, 1]; see :class:`OnnxOptions` for
    uint8 I/O, a static size, fp16 and simplification. The I/O contract goes
    into the metadata. The file is written under a temporary name and
    renamed, so a failure never leaves a partial model.
    """
    options = options or OnnxOptions(opset=opset)
    output = Path(output)
    ckpt = load_checkpoint(checkpoint)
    spec = ckpt.model.export_spec(ckpt.model.config)
    _check_options(spec, ckpt.name, options)
    contract = contract_for(spec, ckpt.name, ckpt.config, ckpt.training, options)
    module = FusedUint8IO(ckpt.model, len(spec.input_names)) if contract.fused_io else ckpt.model
    dynamic = dynamic_shapes(spec, options)
    by_param = _bind_to_forward(module, dynamic, ckpt.name)
    # warps as DeformConv where the opset has it; float16 graphs keep the gathers (exact in float16)
    form = (
        "deform"
        if (options.opset is None or options.opset >= DEFORM_OPSET) and not options.fp16
        else "gather"
    )
    try:
        with _quiet_exporter(), export_form(form):
            program = torch.onnx.export(
                module,
                example_inputs(spec, options),
                dynamo=True,
                opset_version=options.opset,
                input_names=list(dynamic),
                output_names=list(spec.output_names),
                dynamic_shapes=by_param,
                verbose=False,
                custom_translation_table=translations(),
            )
        model = program.model_proto
        model = simplify_graph(model) if options.simplify else model
        model = fp16_graph(model) if options.fp16 else model
        _rename_dims(model, contract.hw_axes)
        for key, value in contract.to_metadata().items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
    except (RuntimeError, ValueError, onnx.checker.ValidationError) as err:
        raise ExportError(f"exporting {checkpoint} to ONNX failed: {err}") from err
    with atomic_output(output) as tmp:
        onnx.save_model(model, str(tmp))
    return output
