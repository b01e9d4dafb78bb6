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
        epsilon: the corr-wise loss's flow scale is ``1 - epsilon``.
        warmup: corr-wise runs train this many first steps with the pixel-wise base loss.
        snapshots: frames of the training video (outputs of the first corr-wise run).
        device: ``cpu``, ``cuda`` or ``auto``.
        background: scikit-image photo the car drives in front of.
        flow_positions: the ``match`` estimator's matching grid (cells); 512 is a 16 x 32 grid
            at 64 x 128, fine enough for the car, cheap enough for a CPU.
        flow_refine_iters: Lucas–Kanade refinement iterations of ``match`` (0: off).
        flow_margin: a matched flow is kept only where it warps the target better than zero
            flow by this mean absolute error ([-1, 1] units); negative turns the screen off.
    """

    height: int = 64
    width: int = 128
    steps: int = 600
    batch: int = 4
    lr: float = 2e-3
    seed: int = 0
    shift: float = 0.15
    car_width: float = 0.3
    ngf: int = 16
    n_downsampling: int = 3
    n_blocks: int = 3
    losses: tuple[str, ...] = field(default_factory=lambda: tuple(LOSS_LABELS))
    epsilon: float = 0.1
    warmup: int = 200
    snapshots: int = 60
    device: str = "cpu"
    background: str = "rocket"
    flow_positions: int = 512
    flow_refine_iters: int = 0
    flow_margin: float = 0.02

    def flow_options(self) -> dict[str, int]:
        """Options of the ``match`` flow estimator used by the corr-wise losses."""
        return {"max_positions": self.flow_positions, "refine_iters": self.flow_refine_iters}

    def __post_init__(self) -> None:
        align = 2**self.n_downsampling
        if self.height % align or self.width % align or min(self.height, self.width) < 4 * align:
            raise ConfigError(
                f"toy: size must be multiples of {align} and at least {4 * align} px, got "
                f"{self.height}x{self.width}; try 64x128"
            )
        if self.steps < 1 or self.batch < 1 or self.snapshots < 2 or self.warmup < 0:
            raise ConfigError("toy: steps and batch must be >= 1, snapshots >= 2 and warmup >= 0")
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
