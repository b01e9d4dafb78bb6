"""``corr-train toy`` end to end: train every loss, score the outputs, write the figure, video and JSON."""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import Any

import torch
from corrwise.train.toy import metrics
from corrwise.train.toy.config import LOSS_LABELS, ToyConfig
from corrwise.train.toy.experiment import LossRun, train_one
from corrwise.train.toy.flow import LayeredFlow
from corrwise.train.toy.losses import build_toy_loss
from corrwise.train.toy.outputs import labelled_row, save_gif, save_json, save_mp4, save_png
from corrwise.train.toy.perceptual import perceptual_loss
from corrwise.train.toy.scene import Scene
from corrwise.train.toy.video import training_frames
from tqdm import tqdm

FIGURE = "toy_figure.png"
VIDEO = "toy_training"
METRICS = "toy_metrics.json"
SAMPLE_POSITION = 0.55  # the figure's sample shows the car at this fraction of the allowed range


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def score(run: LossRun, scene: Scene) -> dict[str, Any]:
    """The metrics of one run: best-shift PSNR (dB), position (pixels and fraction), sharpness, seconds."""
    match = metrics.best_shift(run.output, scene)
    return {
        "label": LOSS_LABELS[run.name],
        "best_shift_psnr_db": round(match.psnr_db, 3),
        "position_px": round(match.position, 3),
        "position_fraction": round(match.position / scene.width, 5),
        "sharpness": round(metrics.sharpness(run.output, scene, match.position), 4),
        "train_seconds": round(run.seconds, 3),
    }


def train_all(config: ToyConfig, scene: Scene, progress: bool) -> tuple[dict[str, LossRun], str]:
    """Train one generator per loss of ``config.losses``; returns the runs and the perceptual label."""
    device = resolve_device(config.device)
    perceptual, perceptual_label = perceptual_loss()
    flow = LayeredFlow(**config.flow_options())
    runs: dict[str, LossRun] = {}
    for name in config.losses:
        loss = build_toy_loss(name, perceptual.to(device), flow, config.epsilon)
        with tqdm(total=config.steps, desc=f"{LOSS_LABELS[name]:>27}", disable=not progress) as bar:
            runs[name] = train_one(loss, scene, config, device, on_step=lambda _step, b=bar: b.update())
    return runs, perceptual_label


def write_outputs(config: ToyConfig, scene: Scene, runs: dict[str, LossRun], scores: dict[str, Any],
                  perceptual_label: str, out: Path) -> dict[str, Path]:  # fmt: skip
    """Figure, MP4 and GIF of the first corr-wise run (else the first run), JSON; returns their paths."""
    sample = scene.render(torch.tensor([SAMPLE_POSITION * scene.max_shift]))[0].cpu()
    headers = ["Sample", *(LOSS_LABELS[name] for name in runs)]
    footers = ["one training target", *(_footer(scores[name]) for name in runs)]
    title = (
        f"Car position uniform in ±{config.shift:.0%} of the width; {config.steps} steps per loss. "
        f"Perceptual: {perceptual_label}"
    )
    figure = labelled_row([sample, *(r.output for r in runs.values())], headers, footers, title, scale=2)
    paths = {"figure": save_png(figure, out / FIGURE)}
    shown = next((name for name in runs if name.startswith("cw-")), next(iter(runs)))
    frames = training_frames(runs[shown], scene, LOSS_LABELS[shown])
    paths["mp4"] = save_mp4(frames, out / f"{VIDEO}.mp4")
    paths["gif"] = save_gif(frames, out / f"{VIDEO}.gif")
    return paths


def _footer(entry: dict[str, Any]) -> str:
    return f"best-shift PSNR {entry['best_shift_psnr_db']:.2f} dB\nsharpness {entry['sharpness']:.2f}"


def run_toy(config: ToyConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Run the whole experiment into ``out``; returns the metrics written to ``toy_metrics.json``."""
    start = time.perf_counter()
    device = resolve_device(config.device)
    scene = Scene(config.height, config.width, config.car_width, config.shift, config.background, device)
    runs, perceptual_label = train_all(config, scene, progress)
    scores = {name: score(run, scene) for name, run in runs.items()}
    paths = write_outputs(config, scene, runs, scores, perceptual_label, out)
    result = {
        "config": {**dataclasses.asdict(config), "losses": list(config.losses)},
        "perceptual": perceptual_label,
        "flow": {"estimator": LayeredFlow.name, **config.flow_options()},
        "losses": scores,
        "video_loss": next((n for n in runs if n.startswith("cw-")), next(iter(runs))),
        "total_seconds": round(time.perf_counter() - start, 1),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    paths["metrics"] = save_json(result, out / METRICS)
    result["files"] = {key: str(path) for key, path in paths.items()}
    return result
