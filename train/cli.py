"""``corr-train``: train models on the built-in data."""

from __future__ import annotations

from pathlib import Path

import click
from corrwise.cli import user_errors
from corrwise.extras import import_for


def _size(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HxW such as 96x160, got {value!r}") from None
    return h, w


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Train corrwise models.

    Each command writes a checkpoint (model.safetensors: weights, model name
    and config, no pickle) and summary.json into the output folder; hand the
    checkpoint to `corr-export onnx`.
    """


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/interpolate"),
    show_default=True,
    help="Folder for model.safetensors and summary.json (created if missing).",
)
@click.option("--model", default="edge-unet", show_default=True, help="Registered model name.")
@click.option(
    "--base-channels",
    type=int,
    default=16,
    show_default=True,
    help="Width of the model's first stage (edge-unet).",
)
@click.option("--steps", type=int, default=800, show_default=True, help="Optimisation steps.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Samples per step.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate.")
@click.option(
    "--size",
    default="96x160",
    show_default=True,
    callback=_size,
    help="Training crop HxW in pixels; multiples of the model's alignment (8).",
)
@click.option(
    "--max-motion",
    type=int,
    default=16,
    show_default=True,
    help="Largest sprite motion between the two input frames, in pixels.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weights and data order.")
@click.option(
    "--max-minutes", type=float, default=None, help="Stop after this many minutes even if steps remain."
)
def interpolate(
    out_dir: Path,
    model: str,
    base_channels: int,
    steps: int,
    batch_size: int,
    lr: float,
    size: tuple[int, int],
    max_motion: int,
    seed: int,
    max_minutes: float | None,
) -> None:
    """Train a frame-interpolation model with L1 on synthetic sprites over real photos.

    Prints the held-out PSNR of the model next to plain frame blending, the
    baseline it must beat.
    """
    with user_errors():
        trainer = import_for("corrwise.train.trainer", "train", "corr-train")
        config = trainer.TrainConfig(
            model=model,
            model_config={"base_channels": base_channels},
            data=trainer.SyntheticConfig(height=size[0], width=size[1], max_motion=max_motion),
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            max_seconds=None if max_minutes is None else 60.0 * max_minutes,
        )
        result = trainer.train_interpolation(config, out_dir)
    click.echo(
        f"trained {result.steps} steps in {result.seconds:.0f} s; held-out PSNR "
        f"{result.val_psnr_db:.2f} dB (frame blend {result.blend_psnr_db:.2f} dB)\n"
        f"checkpoint: {result.checkpoint}"
    )
