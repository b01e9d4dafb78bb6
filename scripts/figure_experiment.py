"""Draw the README's picture of the experiment: a 5-frame rollout, pixel-wise vs corr-wise L1.

Needs the two prediction runs of ``scripts/experiment_corrwise.py`` (their
``model.safetensors`` files) and a real clip. One row per method, one column
per step; each model predicts from three real frames and then from its own
predictions, as in the evaluation::

    real frames     t+1   t+3   t+5
    L1              ...
    corr-wise L1    ...
    DIS             ...

    python scripts/figure_experiment.py --video ../shared/data/videos/04_coffee.mp4
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click
import numpy as np
import torch
from corrwise.train import baselines
from corrwise.train.data import SourceConfig, open_sequences
from corrwise.train.evaluate import EvalModel, prepare_frame, rollout
from corrwise.train.flow import build_flow
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
STEPS = (1, 3, 5)  # rollout steps shown
LABEL_WIDTH = 110  # pixels left of each row for its name
TITLE_HEIGHT = 18  # pixels above each column for its title
GAP = 4  # pixels between tiles


def to_image(frame: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) in [-1, 1] -> an RGB picture."""
    levels = ((frame[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(levels))


def compose(rows: dict[str, list[torch.Tensor]], titles: list[str]) -> Image.Image:
    """A grid with a label per row and a title per column."""
    h, w = rows[next(iter(rows))][0].shape[2:]
    width = LABEL_WIDTH + len(titles) * (w + GAP)
    canvas = Image.new("RGB", (width, TITLE_HEIGHT + len(rows) * (h + GAP)), "white")
    draw = ImageDraw.Draw(canvas)
    for col, title in enumerate(titles):
        draw.text((LABEL_WIDTH + col * (w + GAP) + 4, 3), title, fill="black")
    for row, (name, frames) in enumerate(rows.items()):
        top = TITLE_HEIGHT + row * (h + GAP)
        draw.text((4, top + h // 2 - 6), name, fill="black")
        for col, frame in enumerate(frames):
            canvas.paste(to_image(frame), (LABEL_WIDTH + col * (w + GAP), top))
    return canvas


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--video",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The real clip to roll out on.",
)
@click.option("--start", type=int, default=120, show_default=True, help="First context frame.")
@click.option(
    "--runs",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "benchmarks/results/experiment/predict",
    show_default=True,
    help="Folder with the l1/ and corrwise-l1/ prediction runs.",
)
@click.option(
    "--max-side", type=int, default=448, show_default=True, help="Frame size, as in the evaluation."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=ROOT / "docs/img/experiment_rollout.jpg",
    show_default=True,
    help="The picture (JPEG).",
)
def main(video: Path, start: int, runs: Path, max_side: int, out: Path) -> None:  # fmt: skip
    """Roll out both trained predictors and DIS extrapolation from the same real frames."""
    models = {
        "L1": EvalModel.from_checkpoint(runs / "l1" / "model.safetensors"),
        "corr-wise L1": EvalModel.from_checkpoint(runs / "corrwise-l1" / "model.safetensors"),
    }
    align = max(model.align for model in models.values())
    sequence = open_sequences(SourceConfig(kind="video", path=str(video)))[0]
    frames = [prepare_frame(sequence.frame(start + k), max_side, align, str(video)) for k in range(3 + 5)]
    context, future = frames[:3], frames[3:]
    steps = {name: rollout(model, context, model.context, 5) for name, model in models.items()}
    dis = partial(baselines.dis_extrapolate, flow=build_flow("dis"))
    steps["DIS extrapolation"] = rollout(dis, context, 2, 5)
    rows = {"real frames": [future[s - 1] for s in STEPS]}
    rows.update({name: [outputs[s - 1] for s in STEPS] for name, outputs in steps.items()})
    picture = compose(rows, [f"t+{s}" for s in STEPS])
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out, quality=88)
    click.echo(f"{out}: {picture.width}x{picture.height}, {out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
