"""corrwise.runtime: frame-by-frame inference on exported models, without torch.

Needs numpy; ONNX Runtime, TensorRT and PyAV are imported only when a model or
a video is opened.
"""

from corrwise.runtime.backends import (
    OnnxRuntimeRunner,
    PyTorchRunner,
    Runner,
    TensorRTRunner,
    choose_backend,
    open_runner,
)
from corrwise.runtime.frames import as_rgb8
from corrwise.runtime.interpolator import Interpolator
from corrwise.runtime.padding import CropBox, crop, pad_to_multiple
from corrwise.runtime.pipeline import Pipeline, PipelineOptions, PipelineReport
from corrwise.runtime.predictor import Predictor, PredictorStream
from corrwise.runtime.retime import RETIME_DEPTH, as_rate, output_count
from corrwise.runtime.scene import CUT_POLICIES, SceneCutDetector
from corrwise.runtime.upsample import (
    PredictReport,
    UpsampleReport,
    predict_video,
    retime_video,
    upsample_video,
)
from corrwise.runtime.video import VideoInfo, VideoReader, VideoWriter, probe, read_frames

__all__ = [
    "CUT_POLICIES",
    "RETIME_DEPTH",
    "CropBox",
    "Interpolator",
    "OnnxRuntimeRunner",
    "Pipeline",
    "PipelineOptions",
    "PipelineReport",
    "PredictReport",
    "Predictor",
    "PredictorStream",
    "PyTorchRunner",
    "Runner",
    "SceneCutDetector",
    "TensorRTRunner",
    "UpsampleReport",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "as_rate",
    "as_rgb8",
    "choose_backend",
    "crop",
    "open_runner",
    "output_count",
    "pad_to_multiple",
    "predict_video",
    "probe",
    "read_frames",
    "retime_video",
    "upsample_video",
]
