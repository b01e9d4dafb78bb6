"""Train the pix2pixHD global generator on the toy scene, once per loss.

The generator sees one fixed noise image (as in the paper) and must output one
image; every step, its output is compared with ``batch`` renderings of the
scene with the car at random positions. A loss that tolerates the positional
uncertainty lets it draw one crisp car; a pixel-wise loss makes it hedge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from corrwise.models.pix2pixhd import Pix2PixHDConfig, Pix2PixHDGlobal
from corrwise.train.toy.config import ToyConfig
from corrwise.train.toy.losses import ToyLoss
from corrwise.train.toy.scene import Scene

StepHook = Callable[[int], None]


@dataclass(frozen=True)
class LossRun:
    """What training with one loss produced.

    Attributes:
        name: the loss's name.
        output: the final output, (3, H, W) float32 in [-1, 1], CPU.
        snapshots: outputs during training, (S, 3, H, W) float32 in [-1, 1], CPU.
        snapshot_steps: the step after which each snapshot was taken.
        seconds: wall time of the training, seconds.
    """

    name: str
    output: torch.Tensor
    snapshots: torch.Tensor
    snapshot_steps: tuple[int, ...]
    seconds: float


def make_generator(config: ToyConfig, device: torch.device) -> tuple[Pix2PixHDGlobal, torch.Tensor]:
    """The seeded generator and its fixed noise input: two (1, 3, H, W) frames in [-1, 1]."""
    torch.manual_seed(config.seed)
    model_config = Pix2PixHDConfig(config.ngf, config.n_downsampling, config.n_blocks, task="interpolate")
    generator = Pix2PixHDGlobal(model_config).to(device)
    noise_gen = torch.Generator().manual_seed(config.seed + 1)
    noise = torch.rand(2, 1, 3, config.height, config.width, generator=noise_gen) * 2 - 1
    return generator, noise.to(device)


def snapshot_steps(steps: int, count: int) -> list[int]:
    """``count`` steps (1-based, increasing, unique) spread over training, denser at the start."""
    marks = {max(1, round(steps * (i / (count - 1)) ** 1.6)) for i in range(count)}
    return sorted(marks)


def train_one(
    loss: ToyLoss, scene: Scene, config: ToyConfig, device: torch.device, on_step: StepHook | None = None
) -> LossRun:
    """Train a fresh generator (same seed for every loss) with ``loss``; see :class:`LossRun`."""
    generator, noise = make_generator(config, device)
    optimiser = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(0.5, 0.999))
    positions_gen = torch.Generator().manual_seed(config.seed + 2)
    marks = set(snapshot_steps(config.steps, config.snapshots))
    snaps: list[torch.Tensor] = []
    start = time.perf_counter()
    warmup = config.warmup_steps()
    for step in range(1, config.steps + 1):
        for group in optimiser.param_groups:
            group["lr"] = config.lr_at(step)
        if loss.corrwise is not None:
            loss.corrwise.epsilon = config.epsilon_at(step)
        targets = scene.render(scene.sample_positions(config.batch, positions_gen))  # (B, 3, H, W)
        output = generator(noise[0], noise[1])  # (1, 3, H, W)
        pred = output.expand(config.batch, -1, -1, -1)
        value = loss(pred, targets, pixelwise=step <= warmup)
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        if step in marks:
            snaps.append(output.detach()[0].float().cpu())
        if on_step is not None:
            on_step(step)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        final = generator(noise[0], noise[1])[0].float().cpu()
    return LossRun(loss.name, final, torch.stack(snaps), tuple(sorted(marks)), seconds)
