"""Interpolator: the one interface the CLI, the server and user code call to synthesise frames."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
from corrwise.contract import IOContract
from corrwise.errors import ContractError, InputError
from corrwise.runtime.backends import Runner, open_runner
from corrwise.runtime.frames import check_frame, check_same_size, to_frame, to_tensor
from corrwise.runtime.padding import crop, pad_to_multiple


class Interpolator:
    """Synthesises the frame halfway between two frames with an exported model.

    Everything it needs comes from the artifact's I/O contract: input names,
    value range, dtype and spatial alignment. Frames of any size are padded to
    the alignment around the model and cropped back after it.

    Args:
        model: path to an exported model, or an already constructed runner.
        backend: backend name when ``model`` is a path (``"onnxruntime"``).
        **options: backend options, e.g. ``threads=2`` for ONNX Runtime.

    Example::

        with Interpolator("model.onnx") as interp:
            middle = interp.interpolate(frame0, frame1)  # uint8 (H, W, 3)
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
        if c.layout != "NCHW" or c.dtype == "uint8" or c.fused_io:
            self.runner.close()
            raise ContractError(
                f"{self.runner.path} has layout {c.layout}, dtype {c.dtype}, fused_io={c.fused_io}; "
                "this runtime runs float NCHW graphs (export without fused uint8 I/O)"
            )

    @property
    def contract(self) -> IOContract:
        """The model's I/O contract."""
        return self.runner.contract

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
        """The frame halfway between ``frame0`` and ``frame1``.

        Args:
            frame0, frame1: uint8 (H, W, 3) RGB, same size, any H and W >= 2.

        Returns:
            uint8 (H, W, 3) RGB.
        """
        frames = [check_frame(frame0, "frame0"), check_frame(frame1, "frame1")]
        check_same_size(frames, ["frame0", "frame1"])
        tensors = [to_tensor(f, self.contract) for f in frames]
        return to_frame(self.run(*tensors), self.contract)

    def run(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        """Tensor-level interpolation with padding: (N, 3, H, W) pairs -> (N, 3, H, W).

        Inputs and output are in the contract's dtype and value range ([-1, 1]
        for float graphs); H and W can be anything, the padding is handled here.
        """
        if x0.shape != x1.shape or x0.ndim != 4:
            raise InputError(f"expected two (N, 3, H, W) arrays of one shape, got {x0.shape} and {x1.shape}")
        align = self.contract.align
        (p0, box), (p1, _) = pad_to_multiple(x0, align), pad_to_multiple(x1, align)
        names = self.contract.input_names
        out = self.runner.infer({names[0]: p0, names[1]: p1})[self.contract.output_names[0]]
        return crop(out, box)

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()

    def __enter__(self) -> Interpolator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
