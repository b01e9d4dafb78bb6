"""corrwise.train: datasets, losses and the trainer."""

from corrwise.train.datasets import SyntheticTriplets
from corrwise.train.synthetic import SyntheticConfig, render_triplet
from corrwise.train.trainer import TrainConfig, TrainResult, evaluate, train_interpolation

__all__ = [
    "SyntheticConfig",
    "SyntheticTriplets",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "render_triplet",
    "train_interpolation",
]
