"""Checkpoint -> ONNX, with dynamic batch/height/width and the I/O contract in the metadata."""

from __future__ import annotations

import contextlib
import inspect
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import corrwise
import onnx
import torch
from corrwise.atomic import atomic_output
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, ExportError
from corrwise.models import load_checkpoint
from corrwise.models.spec import ExportSpec

DYNAMIC_AXES = ("batch", "height", "width")


def contract_for(spec: ExportSpec, name: str, config: dict, training: dict) -> IOContract:
    """The I/O contract of a float NCHW graph built from ``spec``."""
    return IOContract(
        task=spec.task,
        context_frames=len(spec.input_names),
        input_names=spec.input_names,
        output_names=spec.output_names,
        align=spec.align,
        model_name=name,
        timestep_input=spec.timestep_input,
        model_config=config,
        training_loss=str(training.get("loss", "unknown")),
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


def _rename_dims(model: onnx.ModelProto, names: tuple[str, ...]) -> None:
    """Give the symbolic N, H, W dims of every graph input and output readable names.

    Static dims (the channels, and the 1 x 1 x 1 of a timestep input) keep their values.
    """
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for axis, name in zip((0, 2, 3), names, strict=True):
            if axis < len(dims) and dims[axis].dim_param:
                dims[axis].dim_param = name


def example_inputs(spec: ExportSpec) -> tuple[torch.Tensor, ...]:
    """Trace inputs in the spec's order: frames (1, 3, H, W) in [-1, 1], then the timestep (1, 1, 1, 1).

    H and W are 4 and 6 times the alignment (more when the model's minimum size
    needs it), so that a parity check on other shapes proves the axes are dynamic.
    """
    a = spec.align
    low = -(-spec.min_size // a)  # smallest H/a and W/a the graph accepts
    h, w = a * max(4, low), a * max(6, low + 2)
    frames = tuple(torch.rand(1, 3, h, w) * 2 - 1 for _ in spec.input_names)
    return (*frames, torch.full((1, 1, 1, 1), 0.5)) if spec.timestep_input else frames


def dynamic_shapes(spec: ExportSpec) -> dict[str, dict[int, Any]]:
    """Dynamic axes by graph input name, in input order.

    Frames get batch, H and W (multiples of align, at least the model's minimum
    size); the timestep input gets the batch only.
    """
    a = spec.align
    low = -(-spec.min_size // a)
    batch = torch.export.Dim("batch", min=1, max=1024)
    h = torch.export.Dim("h", min=low, max=8192 // a)
    w = torch.export.Dim("w", min=low, max=8192 // a)
    shapes: dict[str, dict[int, Any]] = {name: {0: batch, 2: a * h, 3: a * w} for name in spec.input_names}
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


def onnx_from_checkpoint(checkpoint: str | Path, output: str | Path, opset: int | None = None) -> Path:
    """Export a corrwise checkpoint to ONNX at ``output``; return the path.

    Graph inputs are named by the model's export spec: frames float32
    (B, 3, H, W) in [-1, 1] with dynamic B, H and W (H and W multiples of the
    model's alignment), then, for models with a time input, the timestep
    float32 (B, 1, 1, 1) in (0, 1) with a dynamic batch. The output is the frame
    (B, 3, H, W) in [-1, 1]. The file is written under a temporary name and
    renamed, so a failure never leaves a partial model.
    """
    output = Path(output)
    ckpt = load_checkpoint(checkpoint)
    spec = ckpt.model.export_spec(ckpt.model.config)
    if opset is not None and opset < spec.min_opset:
        raise ConfigError(f"opset {opset} is too low for {ckpt.name!r}: it needs >= {spec.min_opset}")
    contract = contract_for(spec, ckpt.name, ckpt.config, ckpt.training)
    dynamic = dynamic_shapes(spec)
    by_param = _bind_to_forward(ckpt.model, dynamic, ckpt.name)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                ckpt.model,
                example_inputs(spec),
                dynamo=True,
                opset_version=opset,
                input_names=list(dynamic),
                output_names=list(spec.output_names),
                dynamic_shapes=by_param,
                verbose=False,
            )
        model = program.model_proto
        _rename_dims(model, DYNAMIC_AXES)
        for key, value in contract.to_metadata().items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
    except (RuntimeError, ValueError, onnx.checker.ValidationError) as err:
        raise ExportError(f"exporting {checkpoint} to ONNX failed: {err}") from err
    with atomic_output(output) as tmp:
        onnx.save_model(model, str(tmp))
    return output
