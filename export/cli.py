"""``corr-export``: turn checkpoints into deployable artifacts."""

from __future__ import annotations

from pathlib import Path

import click
from corrwise.cli import user_errors
from corrwise.extras import import_for


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Export corrwise checkpoints for deployment.

    Every artifact carries the model's I/O contract (task, input names, value
    range, alignment), so `corr-run` and `corrwise.runtime` need nothing else.
    """


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the .onnx file (written atomically).",
)
@click.option(
    "--opset",
    type=int,
    default=None,
    help="ONNX opset; default: the exporter's (>= 18). GridSample-based models need >= 16.",
)
def onnx(checkpoint: Path, output: Path, opset: int | None) -> None:
    """Export CHECKPOINT (.safetensors from corr-train) to ONNX.

    Inputs and output are float32 (B, 3, H, W) in [-1, 1] with dynamic batch,
    height and width; the runtime pads frames to the model's alignment.
    """
    with user_errors():
        exporter = import_for("corrwise.export.onnx_export", "export", "corr-export onnx")
        path = exporter.onnx_from_checkpoint(checkpoint, output, opset=opset)
    click.echo(f"wrote {path}")
