"""``corr-train``: train and evaluate corrwise models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from corrwise.cli import user_errors
from corrwise.extras import import_for
from corrwise.train.eval_cli import eval_command

CONFIG_HELP = (
    "YAML run config (see configs/ for examples and corrwise.train.config.RunConfig for every key). "
    "Without it the built-in defaults train on the synthetic sprites data."
)


def _run_options(command: Any) -> Any:
    """The options shared by ``predict`` and ``interpolate``."""
    options = [
        click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, help=CONFIG_HELP),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a config key, e.g. --set optim.lr=3e-4 --set data.crop=[96,160] "
                     "(repeatable; values are YAML)."),
        click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Run folder for checkpoints, logs and samples [default: runs/<task>]."),
        click.option("--resume", is_flag=True,
                     help="Continue from the newest complete checkpoint in --out (same config)."),
        click.option("--overwrite", is_flag=True, help="Start again even if --out holds a run."),
        click.option("--steps", type=int, default=None, help="Optimisation steps in total (config: steps)."),
        click.option("--batch-size", type=int, default=None, help="Samples per step and process."),
        click.option("--lr", type=float, default=None, help="Peak learning rate (config: optim.lr)."),
        click.option("--model", default=None, help="Registered model name (config: model.name)."),
        click.option("--loss", default=None,
                     help="Base loss, e.g. l1, mse, l1+vgg (config: loss.base)."),
        click.option("--corrwise/--pixelwise", "corrwise", default=None,
                     help="Wrap the base loss in the correspondence-wise loss, or train pixel-wise."),
        click.option("--flow", default=None, help="Flow estimator of the corr-wise loss: match, dis, raft."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
                     help="Where to train [config default: auto]."),
        click.option("--seed", type=int, default=None, help="Seed for weights, data order and augmentation."),
        click.option("--max-minutes", type=float, default=None,
                     help="Stop after this many minutes (with a checkpoint) even if steps remain."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


SHORTCUTS = {
    "steps": "steps",
    "batch_size": "batch_size",
    "lr": "optim.lr",
    "model": "model.name",
    "loss": "loss.base",
    "corrwise": "loss.corrwise",
    "flow": "loss.flow",
    "device": "device",
    "seed": "seed",
}


def _train(
    task: str,
    config_path: Path | None,
    overrides: tuple[str, ...],
    out_dir: Path | None,
    resume: bool,
    overwrite: bool,
    max_minutes: float | None,
    quiet: bool,
    **shortcuts: Any,
) -> None:
    with user_errors():
        config_module = import_for("corrwise.train.config", "train", "corr-train")
        trainer = import_for("corrwise.train.trainer", "train", "corr-train")
        sets = [*overrides, *(f"{SHORTCUTS[k]}={v}" for k, v in shortcuts.items() if v is not None)]
        if max_minutes is not None:
            sets.append(f"max_seconds={60.0 * max_minutes}")
        config = config_module.load_run_config(config_path, sets, task=task)
        result = trainer.train(config, out_dir or Path("runs") / task, resume, overwrite, progress=not quiet)
    line = f"trained to step {result.steps} in {result.seconds:.0f} s; final loss {result.final_loss:.4f}"
    if result.validation:
        baseline = "copy-last" if task == "predict" else "frame blend"
        line += (
            f"; held-out PSNR {result.validation['val_psnr_db']:.2f} dB "
            f"({baseline} {result.validation['val_baseline_psnr_db']:.2f} dB)"
        )
    click.echo(f"{line}\ncheckpoint: {result.checkpoint}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Train and evaluate corrwise models.

    `predict` and `interpolate` train a network (single process, or data-parallel
    under `torchrun --nproc_per_node N -m corrwise.train.cli ...`) and write a run
    folder: model.safetensors for `corr-export`, resumable checkpoints, log.csv,
    TensorBoard events, sample grids, config.yaml and summary.json. `eval`
    scores checkpoints against simple baselines on real footage.
    """


@main.command()
@_run_options
def predict(**options: Any) -> None:
    """Train next-frame prediction: K context frames in, the next frame out.

    The default model is the edge U-Net's prediction variant on synthetic
    sprites over real photos; the paper's generator is `video-predictor-3d`.
    """
    _train("predict", **options)


@main.command()
@_run_options
def interpolate(**options: Any) -> None:
    """Train frame interpolation: two frames in, the frame between them out.

    The default is the edge U-Net on synthetic sprites over real photos; it
    prints the held-out PSNR next to plain frame blending, the baseline to beat.
    """
    _train("interpolate", **options)


main.add_command(eval_command, "eval")


if __name__ == "__main__":
    main()
