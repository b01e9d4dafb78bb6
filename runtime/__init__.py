"""corrwise.runtime: frame-by-frame inference on exported models, without torch.

Needs numpy; ONNX Runtime, TensorRT and PyAV are imported only when a model or
a video is opened.
"""

from corrwise.runtime.backends import OnnxRuntimeRunner, Runner, TensorRTRunner, open_runner
from corrwise.runtime.interpolator import Interpolator
from corrwise.runtime.padding import CropBox, crop, pad_to_multiple
from corrwise.runtime.upsample import UpsampleReport, upsample_video
from corrwise.runtime.video import VideoInfo, VideoWriter, probe, read_frames

__all__ = [
    "CropBox",
    "Interpolator",
    "OnnxRuntimeRunner",
    "Runner",
    "TensorRTRunner",
    "UpsampleReport",
    "VideoInfo",
    "VideoWriter",
    "crop",
    "open_runner",
    "pad_to_multiple",
    "probe",
    "read_frames",
    "upsample_video",
]
