"""Optimiser and learning-rate schedule of a training run."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from corrwise.train.config import OptimSection


def build_optimizer(params: Iterable[torch.nn.Parameter], optim: OptimSection) -> torch.optim.Optimizer:
    """Adam or AdamW over ``params`` at the section's peak learning rate."""
    cls = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
    return cls(params, lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay)


def lr_at(step: int, optim: OptimSection, total_steps: int) -> float:
    """Learning rate for optimisation step ``step`` (0-based) of ``total_steps``.

    Linear warm-up over ``warmup_steps``, then constant, cosine decay to
    ``min_lr_ratio`` x lr at the last step, or x ``gamma`` every ``step_size`` steps.
    A pure function of the step, so a resumed run follows the same curve.
    """
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    if optim.schedule == "cosine":
        span = max(1, total_steps - 1 - optim.warmup_steps)
        progress = min(1.0, (step - optim.warmup_steps) / span)
        floor = optim.min_lr_ratio
        return optim.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
    if optim.schedule == "step":
        return optim.lr * optim.gamma ** ((step - optim.warmup_steps) // optim.step_size)
    return optim.lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr
