"""corrwise.models: network definitions, the registry by name, and checkpoints."""

from corrwise.models.checkpoint import Checkpoint, load_checkpoint, reconfigure_checkpoint, save_checkpoint
from corrwise.models.edge_flow import EdgeFlow, EdgeFlowConfig
from corrwise.models.edge_unet import EdgeUNet, EdgeUNetConfig
from corrwise.models.pix2pixhd import Pix2PixHDConfig, Pix2PixHDGlobal
from corrwise.models.registry import build_model, export_spec, list_models, model_class
from corrwise.models.spec import ExportSpec
from corrwise.models.video_predictor import VideoPredictor3D, VideoPredictor3DConfig

__all__ = [
    "Checkpoint",
    "EdgeFlow",
    "EdgeFlowConfig",
    "EdgeUNet",
    "EdgeUNetConfig",
    "ExportSpec",
    "Pix2PixHDConfig",
    "Pix2PixHDGlobal",
    "VideoPredictor3D",
    "VideoPredictor3DConfig",
    "build_model",
    "export_spec",
    "list_models",
    "load_checkpoint",
    "model_class",
    "reconfigure_checkpoint",
    "save_checkpoint",
]
