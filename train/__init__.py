"""corrwise.train: correspondence-wise losses, flow estimators, datasets, the trainer and evaluation.

Names load on first use, so ``corr-train --help`` works before the ``train``
extra (torch, scikit-image) is installed.
"""

from __future__ import annotations

from typing import Any

from corrwise.extras import import_for

_WHERE = {
    "CorrWise": "corrwise.train.losses",
    "build_base_loss": "corrwise.train.losses",
    "list_base_losses": "corrwise.train.losses",
    "build_flow": "corrwise.train.flow",
    "list_flows": "corrwise.train.flow",
    "SyntheticConfig": "corrwise.train.synthetic",
    "render_triplet": "corrwise.train.synthetic",
    "SyntheticTriplets": "corrwise.train.datasets",
    "DataConfig": "corrwise.train.data",
    "SourceConfig": "corrwise.train.data",
    "build_dataset": "corrwise.train.data",
    "open_sequences": "corrwise.train.data",
    "RunConfig": "corrwise.train.config",
    "load_run_config": "corrwise.train.config",
    "EvalConfig": "corrwise.train.evaluate",
    "EvalModel": "corrwise.train.evaluate",
    "evaluate_interpolation": "corrwise.train.evaluate",
    "evaluate_prediction": "corrwise.train.evaluate",
    "run_evaluation": "corrwise.train.evaluate",
    "psnr": "corrwise.train.metrics",
    "LPIPS": "corrwise.train.metrics",
    "TrainResult": "corrwise.train.trainer",
    "train": "corrwise.train.trainer",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_for(_WHERE[name], "train", "corrwise.train"), name)
    raise AttributeError(f"module 'corrwise.train' has no attribute {name!r}")
