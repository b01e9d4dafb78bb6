"""The model registry: every network corrwise can train, save and export, by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corrwise.errors import ConfigError
from corrwise.models.edge_flow import EdgeFlow
from corrwise.models.edge_unet import EdgeUNet
from corrwise.models.pix2pixhd import Pix2PixHDGlobal
from corrwise.models.spec import ExportSpec, config_from_dict
from corrwise.models.video_predictor import VideoPredictor3D
from torch import nn

# name -> model class; each class has `config_class` and `export_spec(config)`.
REGISTRY: Mapping[str, type[nn.Module]] = {
    "edge-flow": EdgeFlow,
    "edge-unet": EdgeUNet,
    "pix2pixhd-global": Pix2PixHDGlobal,
    "video-predictor-3d": VideoPredictor3D,
}


def model_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``, or ConfigError listing the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; registered models: {sorted(REGISTRY)}") from None


def build_model(name: str, config: Mapping[str, Any] | None = None) -> nn.Module:
    """Instantiate a registered model from plain config data (unknown keys are errors)."""
    cls = model_class(name)
    return cls(config_from_dict(cls.config_class, config))


def export_spec(name: str, config: Mapping[str, Any] | None = None) -> ExportSpec:
    """The export spec of a registered model under the given config."""
    cls = model_class(name)
    return cls.export_spec(config_from_dict(cls.config_class, config))


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(REGISTRY)
