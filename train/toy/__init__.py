"""corrwise.train.toy: the paper's toy experiment (a car at an uncertain position, six losses).

``run_toy(ToyConfig(...), out)`` trains the pix2pixHD global generator once per
loss and writes the figure, the training video and the metrics; ``corr-train toy``
is its command line.
"""

from corrwise.train.toy.config import LOSS_LABELS, ToyConfig
from corrwise.train.toy.metrics import ShiftMatch, best_shift, psnr_db, sharpness
from corrwise.train.toy.run import run_toy
from corrwise.train.toy.scene import Scene

__all__ = ["LOSS_LABELS", "Scene", "ShiftMatch", "ToyConfig", "best_shift", "psnr_db", "run_toy", "sharpness"]
