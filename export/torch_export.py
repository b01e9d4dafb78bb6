"""Checkpoint -> ``.pt2``: the PyTorch reference program for the runtime's pytorch backend and corr-bench.

The program is ``torch.export`` of the checkpoint's model, traced with the
same example inputs and dynamic batch, height and width as the ONNX export, so
it accepts every shape the ONNX graph accepts. The I/O contract goes into the
archive as the extra file ``corrwise.contract.json``; the runtime loads the
program with ``torch.export.load`` and needs no model code::

    pt2_from_checkpoint("model.safetensors", "model.pt2")
"""

from __future__ import annotations

from pathlib import Path

import torch
from corrwise.atomic import atomic_output
from corrwise.contract import METADATA_KEY
from corrwise.errors import ExportError
from corrwise.export.onnx_export import (
    OnnxOptions,
    _bind_to_forward,
    _check_options,
    _quiet_exporter,
    contract_for,
    dynamic_shapes,
    example_inputs,
)
from corrwise.models import load_checkpoint
from corrwise.runtime.backends.pytorch_backend import CONTRACT_FILE


def pt2_from_checkpoint(
    checkpoint: str | Path, output: str | Path, options: OnnxOptions | None = None
) -> Path:
    """Export a corrwise checkpoint to a ``torch.export`` archive at ``output``; return the path.

    Inputs are named and ordered as in the ONNX export: the frames float32
    (B, 3, H, W) in [-1, 1] with dynamic B, H and W (H and W multiples of the
    model's alignment; only B with ``options.static_hw``), then, for models with
    a time input, the timestep float32 (B, 1, 1, 1) in (0, 1). The output is the
    frame (B, 3, H, W) in [-1, 1]. Only float NCHW I/O in fp32: ``options.io``
    must be ``"float"`` and ``options.fp16`` False (ExportError otherwise); the
    opset and simplification options do not apply. The file is written under a
    temporary name and renamed, so a failure never leaves a partial archive.
    """
    options = options or OnnxOptions()
    if options.io != "float" or options.fp16:
        raise ExportError(
            f"the .pt2 reference program has float32 NCHW I/O in fp32 only, got io={options.io!r}, "
            f"fp16={options.fp16}; export fused uint8 or fp16 graphs to ONNX (`corr-export onnx`)"
        )
    ckpt = load_checkpoint(checkpoint)
    spec = ckpt.model.export_spec(ckpt.model.config)
    _check_options(spec, ckpt.name, options)
    contract = contract_for(spec, ckpt.name, ckpt.config, ckpt.training, options)
    dynamic = _bind_to_forward(ckpt.model, dynamic_shapes(spec, options), ckpt.name)
    try:
        with _quiet_exporter():
            program = torch.export.export(
                ckpt.model, _batch_of_two(example_inputs(spec, options)), dynamic_shapes=dynamic
            )
    except (RuntimeError, ValueError, AssertionError) as err:
        raise ExportError(f"torch.export of {checkpoint} failed: {err}") from err
    program.example_inputs = None  # saved as a pickle otherwise, which the runtime refuses to load
    extra = {CONTRACT_FILE: contract.to_metadata()[METADATA_KEY]}
    output = Path(output)
    with atomic_output(output, suffix=".pt2") as tmp, open(tmp, "wb") as f:
        torch.export.save(program, f, extra_files=extra)  # a file object: no temporary name inside
    return output


def _batch_of_two(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """The example inputs with batch 2: torch.export specialises a batch of 1 to a constant."""
    return tuple(torch.cat([x, x]) for x in inputs)
