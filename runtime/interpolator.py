"""Interpolator: the one interface the CLI, the server and user code call to synthesise frames."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import ContractError, InputError
from corrwise.runtime.backends import Runner, open_runner
from corrwise.runtime.frames import check_frame, check_same_size, to_frame, to_tensor
from corrwise.runtime.padding import crop, pad_for


class Interpolator:
    """Synthesises the frame between two frames with an exported model.

    The frame is the midpoint, or, for models with a time input, the frame at
    any time t in (0, 1). Everything it needs comes from the artifact's I/O
    contract: input names, the timestep input, value range, dtype and spatial
    alignment. Frames of any size are padded to the alignment around the model
    and cropped back after it.

    Args:
        model: path to an exported model, or an already constructed runner.
        backend: backend name when ``model`` is a path (``"onnxruntime"``).
        **options: backend options, e.g. ``threads=2`` for ONNX Runtime.

    Example::

        with Interpolator("model.onnx") as interp:
            middle = interp.interpolate(frame0, frame1)  # uint8 (H, W, 3)
            third = interp.interpolate(frame0, frame1, t=1 / 3)  # needs a model with a time input
    """

    def __init__(self, model: str | Path | Runner, backend: str = "onnxruntime", **options: object) -> None:
        self.runner = model.open() if isinstance(model, Runner) else open_runner(model, backend, **options)
        c = self.runner.contract
        if c.task != "interpolate":
            self.runner.close()
            raise ContractError(
                f"{self.runner.path} is a {c.task!r} model; Interpolator needs an 'interpolate' model "
                "(use Predictor for prediction models)"
            )
        if (c.layout, c.fused_io) not in (("NCHW", False), ("NHWC", True)):
            self.runner.close()
            raise ContractError(
                f"{self.runner.path} has layout {c.layout} with fused_io={c.fused_io}; this runtime runs "
                "float NCHW graphs and fused uint8 NHWC graphs (corr-export onnx --io float|uint8)"
            )

    @property
    def contract(self) -> IOContract:
        """The model's I/O contract."""
        return self.runner.contract

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, t: float = 0.5) -> np.ndarray:
        """The frame at time ``t`` between ``frame0`` (t = 0) and ``frame1`` (t = 1).

        Args:
            frame0, frame1: uint8 (H, W, 3) RGB, same size, any H and W >= 2.
            t: time of the output frame, in (0, 1). Models exported without a
                time input synthesise the midpoint only and accept just 0.5.

        Returns:
            uint8 (H, W, 3) RGB.
        """
        frames = [check_frame(frame0, "frame0"), check_frame(frame1, "frame1")]
        check_same_size(frames, ["frame0", "frame1"])
        tensors = [to_tensor(f, self.contract) for f in frames]
        return to_frame(self.run(*tensors, t=t), self.contract)

    def run(self, x0: np.ndarray, x1: np.ndarray, t: float = 0.5) -> np.ndarray:
        """Tensor-level interpolation with padding: a pair of batches -> the batch at time ``t``.

        Inputs and output are in the contract's layout, dtype and value range:
        float (N, 3, H, W) in [-1, 1], or uint8 (N, H, W, 3) in [0, 255] for
        graphs with fused I/O. H and W can be anything (up to the static size
        of a fixed-size export); the padding is handled here.
        ``t`` in (0, 1) goes to the model's time input as an (N, 1, 1, 1) array;
        a model without one only takes t = 0.5.
        """
        t = self._check_time(t)
        c = self.contract
        if x0.shape != x1.shape or x0.ndim != 4:
            raise InputError(
                f"expected two 4-D ({c.layout}) arrays of one shape, got {x0.shape} and {x1.shape}"
            )
        (p0, box), (p1, _) = pad_for(x0, c), pad_for(x1, c)
        inputs = {c.input_names[0]: p0, c.input_names[1]: p1}
        if c.timestep_input:
            inputs[c.timestep_input] = np.full(
                (x0.shape[0], 1, 1, 1), t, np.dtype(c.time_dtype)
            )  # (N, 1, 1, 1)
        out = self.runner.infer(inputs)[c.output_names[0]]
        return crop(out, box, c.hw_axes)

    def _check_time(self, t: object) -> float:
        """``t`` as a float in (0, 1) that this model can synthesise, else InputError."""
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
            raise InputError(f"t must be a number in (0, 1), got {type(t).__name__}")
        t = float(t)
        if not 0.0 < t < 1.0:
            raise InputError(
                f"t must be strictly between 0 (frame0) and 1 (frame1), got {t}; "
                "at 0 or 1 use the input frame itself"
            )
        if self.contract.timestep_input is None and t != 0.5:
            raise InputError(
                f"{self.runner.path.name} ({self.contract.model_name}) only synthesises the midpoint "
                f"(t = 0.5), got t = {t}; export a model with a time input (e.g. timestep=True) for "
                "other times, or reach other times by repeated halving"
            )
        return t

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()

    def __enter__(self) -> Interpolator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
