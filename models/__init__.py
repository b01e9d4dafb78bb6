"""corrwise.models: network definitions, the registry by name, and checkpoints."""

from corrwise.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from corrwise.models.edge_unet import EdgeUNet, EdgeUNetConfig
from corrwise.models.registry import build_model, export_spec, list_models, model_class
from corrwise.models.spec import ExportSpec

__all__ = [
    "Checkpoint",
    "EdgeUNet",
    "EdgeUNetConfig",
    "ExportSpec",
    "build_model",
    "export_spec",
    "list_models",
    "load_checkpoint",
    "model_class",
    "save_checkpoint",
]
