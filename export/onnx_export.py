"""Checkpoint -> ONNX, with dynamic batch/height/width and the I/O contract in the metadata."""

from __future__ import annotations

import contextlib
import inspect
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

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
    """Give the symbolic N, H, W dims of every graph input and output readable names."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for axis, name in zip((0, 2, 3), names, strict=True):
            if dims[axis].dim_param:
                dims[axis].dim_param = name


def onnx_from_checkpoint(checkpoint: str | Path, output: str | Path, opset: int | None = None) -> Path:
    """Export a corrwise checkpoint to ONNX at ``output``; return the path.

    Inputs and outputs are float32 (B, 3, H, W) in [-1, 1] with dynamic B, H and W
    (H and W multiples of the model's alignment). The file is written under a
    temporary name and renamed, so a failure never leaves a partial model.
    """
    output = Path(output)
    ckpt = load_checkpoint(checkpoint)
    spec = ckpt.model.export_spec(ckpt.model.config)
    if opset is not None and opset < spec.min_opset:
        raise ConfigError(f"opset {opset} is too low for {ckpt.name!r}: it needs >= {spec.min_opset}")
    contract = contract_for(spec, ckpt.name, ckpt.config, ckpt.training)
    a = spec.align
    example = tuple(torch.rand(1, 3, 4 * a, 6 * a) * 2 - 1 for _ in spec.input_names)
    batch = torch.export.Dim("batch", min=1, max=1024)
    h, w = torch.export.Dim("h", min=1, max=8192 // a), torch.export.Dim("w", min=1, max=8192 // a)
    # The exporter keys dynamic shapes by the forward() argument names.
    arguments = list(inspect.signature(ckpt.model.forward).parameters)
    dynamic = {name: {0: batch, 2: a * h, 3: a * w} for name in arguments}
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                ckpt.model,
                example,
                dynamo=True,
                opset_version=opset,
                input_names=list(spec.input_names),
                output_names=list(spec.output_names),
                dynamic_shapes=dynamic,
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
