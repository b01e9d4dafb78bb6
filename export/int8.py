"""ONNX fp32 -> INT8 by static QDQ quantisation, calibrated on real frames.

Two targets, because the fast int8 kernels differ:

* ``cpu`` (ONNX Runtime on x86/ARM CPUs): uint8 activations with a zero
  point and int8 per-channel weights (U8S8), the combination MLAS runs
  fastest. Thin convolutions are first zero-padded to channel counts the
  int8 kernels handle well (:mod:`corrwise.export.channel_padding`; exact),
  then only the convolutions are quantised: with the skip concatenations,
  upsampling and LeakyReLUs in int8 too the graph measured no faster on these
  CPUs (ONNX Runtime's uint8 Resize is a slow generic kernel) and 2-3 dB
  further from fp32.
* ``tensorrt`` (explicit quantisation): symmetric int8 activations and
  weights (zero point 0, what TensorRT accepts), Q/DQ pairs on the
  convolutions' inputs, and TensorRT fuses them.

Convolutions still thinner than :data:`MIN_CHANNELS` input or output channels
stay in float: on the ``tensorrt`` target the first layer (raw pixels) and the
output head (the frame itself), on both targets layers the padding does not
apply to (3-D or grouped convolutions). In graphs
with normalisation layers (pix2pixHD's InstanceNorm after every convolution)
convolution outputs stay float: a per-tensor int8 range flattens channels of
small variance, and the normalisation then magnifies the error.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from corrwise.atomic import atomic_output
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, ExportError
from corrwise.export.artifact import read_contract
from corrwise.export.calibration import fit_window, frame_windows, model_inputs, window_length
from corrwise.export.channel_padding import pad_thin_convolutions
from corrwise.extras import import_for
from corrwise.runtime.padding import smallest_side
from corrwise.tolerances import psnr_db

TARGETS = ("cpu", "tensorrt")
METHODS = ("minmax", "entropy", "percentile")
MIN_CHANNELS = 8
INT8_METADATA_KEY = "corrwise.int8"
OPS = {"cpu": ("Conv",), "tensorrt": ("Conv",)}
FIDELITY_WINDOWS = 8  # calibration windows the fp32 comparison runs on
NORMALIZATIONS = ("InstanceNormalization", "BatchNormalization", "GroupNormalization", "LayerNormalization")


@dataclass(frozen=True)
class Int8Options:
    """How to quantise.

    Attributes:
        target: ``"cpu"`` (ONNX Runtime, U8S8) or ``"tensorrt"`` (symmetric
            int8 for TensorRT's explicit quantisation); see the module docstring.
        samples: calibration windows drawn from the source; 32 windows of real
            frames settle the activation ranges of these networks.
        size_hw: (H, W) pixels each calibration frame is centre-cropped to;
            activation ranges depend on content, not on frame size.
        method: ``"minmax"`` (ranges as seen; keeps the outliers that
            generated frames need), ``"entropy"`` or ``"percentile"``.
        seed: seed of the calibration timesteps for models with a time input.
        min_psnr_db: fidelity floor of the int8 graph against the fp32 graph
            on the calibration windows (dB, outputs in [-1, 1]). Below it,
            convolutions go back to float one by one, most sensitive first,
            until the floor holds; 40 dB leaves margin under the 35 dB parity
            tolerance. 0 disables the fallback.
    """

    target: str = "cpu"
    samples: int = 32
    size_hw: tuple[int, int] = (256, 448)
    method: str = "minmax"
    seed: int = 0
    min_psnr_db: float = 40.0

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(f"int8 target must be one of {TARGETS}, got {self.target!r}")
        if self.method not in METHODS:
            raise ConfigError(f"calibration method must be one of {METHODS}, got {self.method!r}")
        if self.samples < 1:
            raise ConfigError(f"samples must be >= 1, got {self.samples}")
        if len(self.size_hw) != 2 or min(self.size_hw) < 1:
            raise ConfigError(f"size_hw must be (H, W) in pixels, got {self.size_hw}")


def calibration_inputs(
    source: str | Path, contract: IOContract, options: Int8Options
) -> list[dict[str, np.ndarray]]:
    """Graph inputs for each calibration window of ``source`` (a video or a folder of frames)."""
    size = _calibration_size(contract, options)
    rng = np.random.default_rng(options.seed)
    windows = frame_windows(source, window_length(contract), options.samples)
    return [model_inputs(fit_window(w, size), contract, t=float(rng.uniform(0.1, 0.9))) for w in windows]


def _calibration_size(contract: IOContract, options: Int8Options) -> tuple[int, int]:
    """Calibration frame size: a fixed-size graph's static size, else ``size_hw`` rounded down to
    the alignment, but never below the graph's (aligned) minimum size."""
    if contract.static_hw is not None:
        return contract.static_hw
    a, low = contract.align, smallest_side(contract.align, contract.min_size)
    return tuple(max(low, a * (s // a)) for s in options.size_hw)  # type: ignore[return-value]


class _Reader:
    """ONNX Runtime's CalibrationDataReader over a list of input dicts (built lazily as a subclass)."""

    def __init__(self, inputs: list[dict[str, np.ndarray]], tick: Callable[[], None] | None) -> None:
        self._it = iter(inputs)
        self._tick = tick

    def get_next(self) -> dict[str, np.ndarray] | None:
        item = next(self._it, None)
        if item is not None and self._tick is not None:
            self._tick()
        return item


def thin_convolutions(model: onnx.ModelProto, min_channels: int = MIN_CHANNELS) -> list[str]:
    """Names of Conv nodes whose weight has fewer than ``min_channels`` output or input channels."""
    weights = {init.name: tuple(init.dims) for init in model.graph.initializer}
    names = []
    for node in model.graph.node:
        dims = weights.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if dims is not None and min(dims[0], dims[1]) < min_channels:
            names.append(node.name)
    return names


def int8_from_onnx(
    onnx_path: str | Path,
    output: str | Path,
    calib: str | Path,
    options: Int8Options | None = None,
    tick: Callable[[], None] | None = None,
) -> Path:
    """Quantise the fp32 ONNX model at ``onnx_path`` to INT8 QDQ at ``output``, calibrated on ``calib``.

    ``calib`` is a video or a folder of frames; ``tick`` is called once per
    calibration window (for a progress bar). The contract is carried over
    with ``precision="int8"``, and the calibration facts go into the metadata
    under :data:`INT8_METADATA_KEY`. Written atomically.
    """
    options = options or Int8Options()
    contract = read_contract(onnx_path)
    if contract.precision != "fp32":
        raise ConfigError(
            f"{onnx_path} is a {contract.precision} model; INT8 quantisation starts from an fp32 export "
            "(corr-export onnx without --fp16)"
        )
    inputs = calibration_inputs(calib, contract, options)
    quantization = import_for("onnxruntime.quantization", None, "corr-export int8")
    with tempfile.TemporaryDirectory(prefix="corrwise-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        _prepare(quantization, Path(onnx_path), prepared, pad=options.target == "cpu")
        quantiser = _Quantiser(quantization, prepared, Path(tmp), inputs, options)
        floats, psnr = quantiser.with_fallback(tick)
        model = onnx.load(str(quantiser.path(floats)))
    facts = {"float_layers": floats, "psnr_vs_fp32_db": round(psnr, 2), "windows": len(inputs)}
    _set_metadata(model, contract, options, Path(calib), facts)
    with atomic_output(output) as out:
        onnx.save_model(model, str(out))
    return Path(output)


def _prepare(quantization: Any, source: Path, prepared: Path, pad: bool) -> None:
    """Optimise and shape-infer ``source`` so Q/DQ go where they fuse; with ``pad``, pad thin convolutions.

    The first step is ONNX Runtime's quantisation pre-processing; the second
    zero-pads thin convolutions for the int8 CPU kernels (exact).
    """
    try:
        quantization.shape_inference.quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    except Exception as err:  # the pre-processor raises bare Exceptions
        raise ExportError(f"preparing {source} for quantisation failed: {err}") from err
    if pad:
        model = onnx.load(str(prepared))
        if pad_thin_convolutions(model):
            del model.graph.value_info[:]  # shapes of padded weights changed: infer afresh
            onnx.save_model(onnx.shape_inference.infer_shapes(model), str(prepared))


class _Quantiser:
    """Quantises one prepared graph with chosen layers left in float, and measures the result against fp32."""

    def __init__(
        self,
        quantization: Any,
        prepared: Path,
        folder: Path,
        inputs: list[dict[str, np.ndarray]],
        options: Int8Options,
    ) -> None:
        self.q, self.prepared, self.folder, self.inputs, self.options = (
            quantization,
            prepared,
            folder,
            inputs,
            options,
        )
        self.graph = onnx.load(str(prepared))
        self.reference = _run(prepared, inputs[:FIDELITY_WINDOWS])
        self.runs = 0

    def path(self, floats: list[str]) -> Path:
        return self.folder / f"int8-{len(floats)}.onnx"

    def with_fallback(self, tick: Callable[[], None] | None) -> tuple[list[str], float]:
        """Quantise; while below the fidelity floor put the most sensitive convolutions back to float.

        Returns the float layers and the PSNR (dB) of the final graph against fp32.
        """
        floats = thin_convolutions(self.graph)
        psnr = self.quantize(floats, tick)
        if psnr >= self.options.min_psnr_db:
            return floats, psnr
        candidates = [n.name for n in self.graph.graph.node if n.op_type == "Conv" and n.name not in floats]
        gain = {name: self.quantize([*floats, name]) for name in candidates}
        for name in sorted(candidates, key=gain.__getitem__, reverse=True):
            floats = [*floats, name]
            psnr = self.quantize(floats)
            if psnr >= self.options.min_psnr_db:
                break
        return floats, psnr

    def quantize(self, floats: list[str], tick: Callable[[], None] | None = None) -> float:
        """Write the QDQ graph with ``floats`` left in float; return its PSNR (dB) against fp32."""
        q, options = self.q, self.options
        reader_class = type("CalibrationReader", (_Reader, q.CalibrationDataReader), {})
        normalized = any(n.op_type in NORMALIZATIONS for n in self.graph.graph.node)
        symmetric = options.target == "tensorrt"
        method = {
            "minmax": q.CalibrationMethod.MinMax,
            "entropy": q.CalibrationMethod.Entropy,
            "percentile": q.CalibrationMethod.Percentile,
        }[options.method]
        try:
            q.quantize_static(
                str(self.prepared),
                str(self.path(floats)),
                reader_class(self.inputs, tick),
                quant_format=q.QuantFormat.QDQ,
                op_types_to_quantize=list(OPS[options.target]),
                nodes_to_exclude=floats,
                per_channel=True,
                activation_type=q.QuantType.QInt8 if symmetric else q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8,
                calibrate_method=method,
                extra_options={
                    "ActivationSymmetric": symmetric,
                    "WeightSymmetric": True,
                    "OpTypesToExcludeOutputQuantization": ["Conv"] if normalized else [],
                },
            )
        except Exception as err:  # the quantiser raises bare Exceptions and ORT errors
            raise ExportError(f"INT8 quantisation failed: {err}") from err
        self.runs += 1
        outputs = _run(self.path(floats), self.inputs[:FIDELITY_WINDOWS])
        return psnr_db(np.concatenate(self.reference), np.concatenate(outputs))


def _run(path: Path, inputs: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    """The first output of ``path`` on each input dict, as float (uint8 outputs rescaled to [-1, 1])."""
    ort = import_for("onnxruntime", None, "corr-export int8")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = [session.run(None, x)[0] for x in inputs]
    return [o / np.float32(127.5) - 1 if o.dtype == np.uint8 else o.astype(np.float32) for o in outputs]


def _set_metadata(
    model: onnx.ModelProto, contract: IOContract, options: Int8Options, calib: Path, measured: dict[str, Any]
) -> None:
    """The fp32 contract with precision int8, plus what the calibration saw and measured."""
    int8 = IOContract.from_dict({**asdict(contract), "precision": "int8"})
    facts = {**asdict(options), "calibration_source": calib.name, **measured}
    entries = {**int8.to_metadata(), INT8_METADATA_KEY: json.dumps(facts, sort_keys=True)}
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
