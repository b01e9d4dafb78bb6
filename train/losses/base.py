"""Base losses by name: ``build_base_loss("l1")``, ``"l1+vgg"``, ``build_base_loss("vgg", weights=path)``.

A base loss compares two images (B, C, H, W) in [-1, 1] of one shape and
returns a 0-d tensor (the mean over everything), differentiable in both
arguments. The correspondence-wise losses apply one to images aligned by
optical flow. Each base loss checks its inputs with
:func:`corrwise.train.flow.base.check_image_pair` (4-D, floating, same shape,
within [-1, 1]) and raises :class:`corrwise.errors.InputError` otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from corrwise.errors import ConfigError
from corrwise.train.losses.census import CensusLoss
from corrwise.train.losses.pixel import CharbonnierLoss, L1Loss, MSELoss
from corrwise.train.losses.ssim import MSSSIMLoss, SSIMLoss
from corrwise.train.losses.vgg import VGGLoss
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

BASE_LOSSES: dict[str, type[nn.Module]] = {
    "l1": L1Loss,
    "mse": MSELoss,
    "charbonnier": CharbonnierLoss,
    "ssim": SSIMLoss,
    "msssim": MSSSIMLoss,
    "census": CensusLoss,
    "vgg": VGGLoss,
}


def list_base_losses() -> list[str]:
    """Registered base-loss names, sorted."""
    return sorted(BASE_LOSSES)


class FunctionLoss(nn.Module):
    """A plain callable ``fn(x, y) -> 0-d tensor`` as an ``nn.Module``, so it can join a :class:`MeanLoss`."""

    def __init__(self, fn: LossFn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, C, H, W) in [-1, 1]. Returns: ``fn(x, y)``."""
        return self.fn(x, y)

    def extra_repr(self) -> str:
        return f"fn={getattr(self.fn, '__name__', repr(self.fn))}"


class MeanLoss(nn.Module):
    """The plain mean of several base losses, ``(1 / n) * sum_i loss_i(x, y)``.

    The paper averages L1 and VGG this way (``"l1+vgg"``). Each member checks
    the inputs itself.

    Args:
        losses: one or more modules, each ``(x, y) -> 0-d tensor``.
    """

    def __init__(self, losses: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(losses) == 0 or not all(isinstance(loss, nn.Module) for loss in losses):
            raise ConfigError(
                f"MeanLoss: expected a non-empty sequence of nn.Module losses, got {list(losses)!r}; "
                "wrap plain functions in FunctionLoss"
            )
        self.losses = nn.ModuleList(losses)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, C, H, W) in [-1, 1]. Returns: 0-d tensor, the mean of the members' values."""
        return torch.stack([loss(x, y) for loss in self.losses]).mean()


def base_loss_class(name: str) -> type[nn.Module]:
    """The class registered as ``name`` (case and surrounding spaces ignored); ConfigError if unknown."""
    key = name.strip().lower()
    if key not in BASE_LOSSES:
        raise ConfigError(
            f"unknown base loss {name!r}; choose from {', '.join(list_base_losses())}, join several "
            "with '+' (e.g. 'l1+vgg'), or pass an nn.Module taking (x, y)"
        )
    return BASE_LOSSES[key]


def build_named_loss(name: str, **options: Any) -> nn.Module:
    """One registered loss from its name and constructor options; ConfigError for unknown options."""
    cls = base_loss_class(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"base loss {name!r} has no option {', '.join(unknown)}; "
            f"it accepts {', '.join(accepted) or 'no options'}"
        )
    return cls(**options)


def _split_spec(spec: object) -> list[str | LossFn]:
    """The parts of a spec: names from a '+'-joined string or a list/tuple, modules and callables as-is."""
    if isinstance(spec, str):
        parts = [part.strip() for part in spec.split("+")]
        if not all(parts):
            raise ConfigError(
                f"base loss spec {spec!r} has an empty name; write names joined by '+', e.g. 'l1+vgg'"
            )
        return parts
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ConfigError("base loss spec is an empty list; give at least one name or module")
        return [part for item in spec for part in _split_spec(item)]
    if callable(spec):
        return [spec]
    raise ConfigError(
        f"base loss spec must be a name, a '+'-joined string, a list/tuple of names or modules, or an "
        f"nn.Module / callable taking (x, y); got a {type(spec).__name__}: {spec!r}"
    )


def build_base_loss(spec: str | Sequence[str | LossFn] | LossFn, **options: Any) -> nn.Module | LossFn:
    """A base loss from a spec.

    Args:
        spec: ``"l1"``; ``"l1+vgg"`` or ``["l1", "vgg"]`` (a :class:`MeanLoss`;
            list items may also be modules or callables); or an ``nn.Module`` /
            callable taking (x, y), returned as-is.
        options: constructor options of a single named loss, e.g.
            ``build_base_loss("vgg", weights=path)``.

    Returns:
        A callable ``(x, y) -> 0-d tensor`` on (B, C, H, W) images in [-1, 1]:
        the module (or callable) itself when ``spec`` is one, else an ``nn.Module``.
    """
    if callable(spec) and not isinstance(spec, str):
        if options:
            raise ConfigError("options apply only to a loss given by name; configure the module yourself")
        return spec
    parts = _split_spec(spec)
    if len(parts) == 1 and isinstance(parts[0], str):
        return build_named_loss(parts[0], **options)
    if options:
        raise ConfigError(
            f"options {sorted(options)} apply only to a single named loss, but {spec!r} names several; "
            "build the modules yourself, e.g. MeanLoss([L1Loss(), VGGLoss(weights=path)])"
        )
    members = [_member(part) for part in parts]
    return members[0] if len(members) == 1 else MeanLoss(members)


def _member(part: str | LossFn) -> nn.Module:
    """A MeanLoss member: a named loss with default options, a module as-is, a callable wrapped."""
    if isinstance(part, str):
        return build_named_loss(part)
    return part if isinstance(part, nn.Module) else FunctionLoss(part)
