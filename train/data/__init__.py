"""corrwise.train.data: frame sources and the training/evaluation sample datasets.

Sources are :class:`FrameSequence` objects (image folders, KITTI drives, video
files, Vimeo-90K sequences); :class:`PredictionClips` and
:class:`InterpolationSamples` cut samples from them; the synthetic datasets
render the built-in data. :func:`build_dataset` does all of it from a
:class:`DataConfig`.
"""

from corrwise.train.data.augment import Augment
from corrwise.train.data.build import build_dataset, open_sequences, open_shots, set_epoch
from corrwise.train.data.config import DataConfig, SourceConfig
from corrwise.train.data.images import FolderSequence, ImageFiles, read_image
from corrwise.train.data.interpolation import InterpolationSamples
from corrwise.train.data.kitti import open_kitti
from corrwise.train.data.prediction import PredictionClips
from corrwise.train.data.sequence import FrameSequence
from corrwise.train.data.synthetic import SyntheticInterpolation, SyntheticPrediction, SyntheticTriplets
from corrwise.train.data.video import VideoSequence
from corrwise.train.data.vimeo import open_vimeo

__all__ = [
    "Augment",
    "DataConfig",
    "FolderSequence",
    "FrameSequence",
    "ImageFiles",
    "InterpolationSamples",
    "PredictionClips",
    "SourceConfig",
    "SyntheticInterpolation",
    "SyntheticPrediction",
    "SyntheticTriplets",
    "VideoSequence",
    "build_dataset",
    "open_kitti",
    "open_sequences",
    "open_shots",
    "open_vimeo",
    "read_image",
    "set_epoch",
]
