"""The toy experiment's settings: one frozen dataclass, filled in by ``corr-train toy``."""

from __future__ import annotations

from dataclasses import dataclass, field

from corrwise.errors import ConfigError

# name -> figure label, in the figure's column order (the paper's, then the corr-wise variants).
LOSS_LABELS: dict[str, str] = {
    "mse": "MSE",
    "l1": "L1",
    "l1+perceptual": "L1 + Perceptual",
    "cw-l1": "Corr-wise L1",
    "cw-l1+perceptual": "Corr-wise (L1 + Perceptual)",
    "cw-mse": "Corr-wise MSE",
}
ALIGN = 8  # the default generator downsamples 3 times: H and W must be multiples of 8


@dataclass(frozen=True)
class ToyConfig:
    """Everything that decides one run of the toy experiment.

    Attributes:
        height, width: scene size in pixels (multiples of 8, the generator's alignment).
        steps: optimisation steps per loss.
        batch: scenes (car positions) per step; the generator runs once per step, its
            single output is compared with every scene of the batch.
        lr: Adam learning rate (betas 0.5, 0.999 as in pix2pixHD).
        seed: seeds the generator's weights, its fixed noise input and the car positions.
        shift: the car's centre is uniform in ``centre ± shift * width`` (fraction of the width).
        car_width: the car's length as a fraction of the scene's width.
        ngf, n_downsampling, n_blocks: size of the pix2pixHD global generator
            (the paper's is 64, 4, 9; these defaults train on a CPU in minutes).
        losses: loss names, keys of ``LOSS_LABELS``, trained in this order.
        epsilon: the corr-wise loss's flow scale is ``1 - epsilon`` when the corr-wise
            steps start; it then falls linearly to ``epsilon_end`` at the last step.
        epsilon_end: epsilon at the last step.
        warmup: fraction of the steps a corr-wise run first trains with its pixel-wise base
            loss, so the generator has drawn the background before the flow is trusted.
        decay_from: fraction of the steps after which the learning rate falls linearly to
            5 % of ``lr`` (every loss).
        snapshots: frames of the training video (outputs of the first corr-wise run).
        device: ``cpu``, ``cuda`` or ``auto``.
        background: scikit-image photo the car drives in front of.
        flow_reach: the layered flow searches horizontal shifts up to this fraction of the width.
        flow_closing: side of the closing that fills the flow's moving layer, fraction of the width.
        flow_min_error: pixels move only where zero motion misses them by more than this mean
            absolute difference ([-1, 1] units).
    """

    height: int = 64
    width: int = 128
    steps: int = 2500
    batch: int = 4
    lr: float = 2e-3
    seed: int = 0
    shift: float = 0.15
    car_width: float = 0.3
    ngf: int = 32
    n_downsampling: int = 3
    n_blocks: int = 3
    losses: tuple[str, ...] = field(default_factory=lambda: tuple(LOSS_LABELS))
    epsilon: float = 0.05
    epsilon_end: float = 0.0
    warmup: float = 0.2
    decay_from: float = 0.75
    snapshots: int = 60
    device: str = "cpu"
    background: str = "rocket"
    flow_reach: float = 0.19
    flow_closing: float = 0.12
    flow_min_error: float = 0.1

    def flow_options(self) -> dict[str, int | float]:
        """Options of :class:`~corrwise.train.toy.flow.LayeredFlow`, in pixels at this size."""
        closing = max(3, round(self.flow_closing * self.width))
        return {
            "max_shift": max(1, round(self.flow_reach * self.width)),
            "closing": closing + 1 - closing % 2,  # odd
            "min_error": self.flow_min_error,
        }

    def warmup_steps(self) -> int:
        """How many first steps a corr-wise run trains pixel-wise."""
        return round(self.warmup * self.steps)

    def epsilon_at(self, step: int) -> float:
        """The corr-wise epsilon at ``step`` (1-based): ``epsilon`` after warm-up, down to ``epsilon_end``."""
        start = self.warmup_steps()
        progress = max(0.0, (step - start - 1) / max(self.steps - start - 1, 1))
        return self.epsilon + (self.epsilon_end - self.epsilon) * min(progress, 1.0)

    def lr_at(self, step: int) -> float:
        """Learning rate at ``step`` (1-based): ``lr``, then linearly down to 5 % after ``decay_from``."""
        progress = (step - 1) / max(self.steps - 1, 1)
        if progress <= self.decay_from:
            return self.lr
        return self.lr * max(0.05, 1 - (progress - self.decay_from) / (1 - self.decay_from))

    def __post_init__(self) -> None:
        align = 2**self.n_downsampling
        if self.height % align or self.width % align or min(self.height, self.width) < 4 * align:
            raise ConfigError(
                f"toy: size must be multiples of {align} and at least {4 * align} px, got "
                f"{self.height}x{self.width}; try 64x128"
            )
        if self.steps < 1 or self.batch < 1 or self.snapshots < 2:
            raise ConfigError("toy: steps and batch must be >= 1 and snapshots >= 2")
        if not (0 <= self.warmup < 1 and 0 <= self.decay_from <= 1 and 0 <= self.epsilon_end <= 1
                and 0 <= self.epsilon <= 1):  # fmt: skip
            raise ConfigError(
                "toy: warmup must be in [0, 1), decay_from, epsilon and epsilon_end in [0, 1], got "
                f"{self.warmup}, {self.decay_from}, {self.epsilon}, {self.epsilon_end}"
            )
        if not 0 <= self.shift <= 0.3 or not 0.05 <= self.car_width <= 0.4:
            raise ConfigError(
                f"toy: shift must be in [0, 0.3] and car_width in [0.05, 0.4] (fractions of the width), "
                f"got {self.shift} and {self.car_width}"
            )
        unknown = [name for name in self.losses if name not in LOSS_LABELS]
        if unknown or not self.losses:
            raise ConfigError(f"toy: unknown losses {unknown}; choose from {', '.join(LOSS_LABELS)}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ConfigError(f"toy: device must be cpu, cuda or auto, got {self.device!r}")
