"""ONNX -> TensorRT engine, with the I/O contract and the engine key in a JSON sidecar.

::

    engine_from_onnx("model.onnx", "model.engine", fp16=True, max_hw=(1088, 1920))
    # writes model.engine and model.engine.json

The contract comes from the ONNX ``metadata_props`` (written by ``corr-export
onnx``); the optimisation profile from the contract and the requested frame
sizes (:func:`~corrwise.runtime.backends.tensorrt_sidecar.default_profile`).

Precision:

* ``fp32``: TF32 is switched off, so the engine matches PyTorch element-wise
  (tolerance ``("tensorrt", "fp32")``).
* ``fp16``: on TensorRT 10 the FP16 builder flag lets TensorRT pick half
  precision kernels for a float32 graph. TensorRT 11 removed weak typing:
  precision comes from the graph, so a half-precision ONNX graph is needed.
* ``int8``: explicit quantisation only. The ONNX file must be the Q/DQ model
  from ``corr-export int8``; there is no implicit calibrator (removed in TensorRT 11).

Every decision that needs no TensorRT (precision checks, build flags, option
checks) is a pure function, tested without a GPU; :func:`engine_from_onnx`
is the thin layer that drives the TensorRT builder. The engine is written
atomically, then its sidecar; an old sidecar is removed first, so no engine
is ever paired with a stale sidecar.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from corrwise.atomic import atomic_output
from corrwise.contract import IOContract
from corrwise.errors import BackendUnavailable, ConfigError, ExportError, InputError
from corrwise.extras import import_for
from corrwise.runtime.backends.cuda_device import load_tensorrt, machine_info
from corrwise.runtime.backends.tensorrt_sidecar import (
    HW,
    EngineKey,
    Profile,
    default_profile,
    resolve_hw,
    sidecar_path,
    write_sidecar,
)

PURPOSE = "corr-export trt"
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
ONNX_UINT8 = 2  # onnx.TensorProto.UINT8
# IBuilderConfig.builder_optimization_level: 0 (fastest build) .. 5 (most tactics); TensorRT's default is 3.
OPT_LEVELS = range(0, 6)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildPlan:
    """How to configure the TensorRT builder for one precision (names of TensorRT enum members).

    Attributes:
        strongly_typed: precision comes from the graph's types (TensorRT 11, or 10 with the flag).
        network_flags: ``NetworkDefinitionCreationFlag`` members to pass to ``create_network``.
        set_flags: ``BuilderFlag`` members to set, e.g. ``("FP16",)``.
        clear_flags: ``BuilderFlag`` members to clear, e.g. ``("TF32",)`` for exact fp32.
    """

    strongly_typed: bool
    network_flags: tuple[str, ...] = ()
    set_flags: tuple[str, ...] = ()
    clear_flags: tuple[str, ...] = ()


def precision_label(fp16: bool, int8: bool) -> str:
    """The engine's precision: ``"int8"`` if int8, else ``"fp16"`` if fp16, else ``"fp32"``."""
    return "int8" if int8 else "fp16" if fp16 else "fp32"


def graph_has_qdq(op_types: Iterable[str]) -> bool:
    """True when the graph holds QuantizeLinear/DequantizeLinear nodes (an explicitly quantised model)."""
    return any(op in QDQ_OPS for op in op_types)


def unsigned_zero_points(
    nodes: Iterable[tuple[str, Sequence[str]]], initializer_types: Mapping[str, int]
) -> tuple[str, ...]:
    """Names of uint8 zero-point initializers of Q/DQ nodes (asymmetric, ONNX Runtime CPU style).

    Args:
        nodes: (op_type, input names) of every graph node.
        initializer_types: initializer name -> ONNX element type (``TensorProto.DataType``).
    """
    names = {inputs[2] for op, inputs in nodes if op in QDQ_OPS and len(inputs) > 2 and inputs[2]}
    return tuple(sorted(name for name in names if initializer_types.get(name) == ONNX_UINT8))


def check_tensorrt_quantisation(zero_points: Sequence[str], source: str) -> None:
    """Raise ConfigError when a Q/DQ graph quantises to uint8, which TensorRT cannot build.

    TensorRT's explicit quantisation takes signed int8 with zero point 0 only.
    """
    if zero_points:
        raise ConfigError(
            f"{source} quantises {len(zero_points)} tensor(s) to uint8 (e.g. {zero_points[0]!r}: the "
            "ONNX Runtime CPU target), but TensorRT's explicit quantisation needs signed int8 with zero "
            f"point 0. Re-quantise for TensorRT: corr-export int8 MODEL.onnx --calib CLIP --target tensorrt "
            "-o model.int8.onnx"
        )


def check_precision_request(fp16: bool, int8: bool, graph_precision: str, has_qdq: bool, source: str) -> None:
    """Refuse a precision that does not fit the graph.

    Args:
        fp16, int8: the requested build flags.
        graph_precision: the contract's ``precision`` (arithmetic inside the ONNX graph).
        has_qdq: whether the graph holds Q/DQ nodes.
        source: the ONNX file, for messages.

    Raises:
        ConfigError: int8 without Q/DQ nodes, a Q/DQ graph without int8, or an fp16
            graph built as fp32.
    """
    if int8 and not has_qdq:
        raise ConfigError(
            f"--int8 builds an explicitly quantised engine and needs the Q/DQ model from `corr-export int8`; "
            f"{source} has no QuantizeLinear/DequantizeLinear nodes (graph precision {graph_precision}). "
            f"Quantise it first: corr-export int8 {source} --calib CLIP --target tensorrt -o model.int8.onnx"
        )
    if has_qdq and not int8:
        raise ConfigError(
            f"{source} is quantised (it holds QuantizeLinear/DequantizeLinear nodes); build it with --int8"
        )
    if graph_precision == "fp16" and not (fp16 or int8):
        raise ConfigError(
            f"{source} is a half-precision graph (contract precision fp16), so an fp32 engine is not "
            "possible from it; build it with --fp16, or build the float32 export for an fp32 engine"
        )


def build_plan(
    fp16: bool,
    int8: bool,
    graph_precision: str,
    builder_flags: Collection[str],
    network_flags: Collection[str],
    tensorrt_version: str = "this TensorRT",
) -> BuildPlan:
    """Choose weak typing with precision flags (TensorRT 10) or a strongly typed network (11).

    Args:
        fp16, int8: the requested precision (checked by :func:`check_precision_request`).
        graph_precision: the contract's ``precision`` of the ONNX graph.
        builder_flags: the member names of ``tensorrt.BuilderFlag`` in the installed TensorRT.
        network_flags: the member names of ``tensorrt.NetworkDefinitionCreationFlag``.
        tensorrt_version: for messages.

    Raises:
        ExportError: fp16 asked of a float32 graph where TensorRT has no FP16 flag (11.x).
    """
    exact = () if (fp16 or int8) else tuple(f for f in ("TF32",) if f in builder_flags)
    if "FP16" in builder_flags and "INT8" in builder_flags:  # TensorRT <= 10: weak typing
        wanted = (("INT8",) if int8 else ()) + (("FP16",) if fp16 else ())
        return BuildPlan(strongly_typed=False, set_flags=wanted, clear_flags=exact)
    if fp16 and not int8 and graph_precision != "fp16":
        raise ExportError(
            f"TensorRT {tensorrt_version} builds strongly typed networks only (no FP16 builder flag): "
            f"precision comes from the ONNX graph, and this one is {graph_precision}. Export a "
            "half-precision graph (`corr-export onnx --fp16`, OnnxOptions(fp16=True)) and build that with "
            "--fp16, or build this one without --fp16"
        )
    strong = tuple(f for f in ("STRONGLY_TYPED",) if f in network_flags)
    return BuildPlan(strongly_typed=True, network_flags=strong, clear_flags=exact)


def check_build_options(max_batch: int, opt_level: int | None, workspace_mb: int | None) -> None:
    """Raise ConfigError for a batch < 1, an optimisation level outside 0..5, or a workspace < 1 MiB."""
    if not isinstance(max_batch, int) or max_batch < 1:
        raise ConfigError(f"max_batch must be a positive integer, got {max_batch!r}")
    if opt_level is not None and opt_level not in OPT_LEVELS:
        raise ConfigError(
            f"opt_level must be {OPT_LEVELS.start}..{OPT_LEVELS.stop - 1} (TensorRT's builder "
            f"optimisation level; 3 is its default), got {opt_level!r}"
        )
    if workspace_mb is not None and (not isinstance(workspace_mb, int) or workspace_mb < 1):
        raise ConfigError(f"workspace_mb must be a positive number of MiB, got {workspace_mb!r}")


def profile_input_problem(profile: Profile, network_inputs: Sequence[str]) -> str | None:
    """Why the profile's inputs differ from the parsed network's inputs, or None."""
    expected, found = sorted(p.name for p in profile), sorted(network_inputs)
    if expected == found:
        return None
    return f"the contract names inputs {expected}, the ONNX graph has {found}"


def enum_names(enum_type: Any) -> frozenset[str]:
    """Member names of a TensorRT (pybind11) enum, e.g. ``{"FP16", "TF32", ...}`` for BuilderFlag."""
    members = getattr(enum_type, "__members__", None)
    if members:
        return frozenset(members)
    return frozenset(name for name in dir(enum_type) if name.isupper())


@dataclass(frozen=True)
class OnnxFacts:
    """What the builder needs to know of an ONNX file before TensorRT sees it.

    Attributes:
        contract: the corrwise I/O contract from the metadata.
        has_qdq: the graph holds QuantizeLinear/DequantizeLinear nodes.
        uint8_zero_points: names of uint8 Q/DQ zero points (see :func:`unsigned_zero_points`).
    """

    contract: IOContract
    has_qdq: bool
    uint8_zero_points: tuple[str, ...] = ()


def read_onnx(onnx_path: Path) -> OnnxFacts:
    """The contract in an ONNX file's metadata and the facts of its quantisation.

    Reads the graph structure only (``load_external_data=False``: weights stay on disk).
    """
    onnx = import_for("onnx", "export", PURPOSE)
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as err:  # onnx raises protobuf's DecodeError and others for files that are not ONNX
        raise InputError(
            f"{onnx_path} is not a readable ONNX model ({type(err).__name__}: {str(err)[:200]}); "
            "expected a file written by `corr-export onnx` or `corr-export int8`"
        ) from err
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    contract = IOContract.from_metadata(metadata, source=str(onnx_path))
    nodes = [*model.graph.node, *(node for function in model.functions for node in function.node)]
    pairs = [(node.op_type, list(node.input)) for node in nodes]
    types = {init.name: init.data_type for init in model.graph.initializer}
    return OnnxFacts(contract, graph_has_qdq(op for op, _ in pairs), unsigned_zero_points(pairs, types))


def engine_from_onnx(
    onnx_path: str | Path,
    output: str | Path,
    *,
    fp16: bool = False,
    int8: bool = False,
    min_hw: HW | None = None,
    opt_hw: HW | None = None,
    max_hw: HW | None = None,
    max_batch: int = 1,
    timing_cache: Path | None = None,
    opt_level: int | None = None,
    workspace_mb: int | None = None,
) -> Path:
    """Build a TensorRT engine from an exported ONNX model; write it and its sidecar.

    Args:
        onnx_path: ``.onnx`` from ``corr-export onnx`` (or the Q/DQ model from ``corr-export int8``).
        output: the engine file; ``<output>.json`` receives the contract and engine key.
        fp16: allow half precision kernels (see the module docstring for TensorRT 11).
        int8: explicitly quantised engine from a Q/DQ graph.
        min_hw, opt_hw, max_hw: frame (H, W) in pixels the engine accepts (min, max)
            and is tuned for (opt); multiples of the model's alignment. None: the
            graph's static size, else 64x64 / 256x448 / 1088x1920 (rounded up to
            the alignment, widened to bracket the sizes given).
        max_batch: largest batch N (the profile's batch is 1 / 1 / max_batch).
        timing_cache: file to load TensorRT's layer timing cache from (if present)
            and save it to after the build; speeds up rebuilds on this machine.
        opt_level: builder optimisation level 0..5 (TensorRT's default: 3).
        workspace_mb: cap on the builder's scratch memory (MiB); None: TensorRT's default.

    Returns:
        ``output``.

    Raises:
        InputError: the ONNX file is missing or unreadable.
        ContractError: it carries no corrwise contract.
        ConfigError: an option or size is out of range, or the precision does not fit the graph.
        BackendUnavailable: tensorrt or cuda-python is not installed, or there is no GPU.
        ExportError: TensorRT's parser or builder failed.
    """
    onnx_path, output = Path(onnx_path), Path(output)
    if not onnx_path.is_file():
        raise InputError(f"ONNX model {onnx_path} does not exist; export one with `corr-export onnx`")
    if output.resolve() == onnx_path.resolve():
        raise ConfigError(f"the engine must not overwrite its ONNX model {onnx_path}; choose another output")
    check_build_options(max_batch, opt_level, workspace_mb)
    facts = read_onnx(onnx_path)
    contract = facts.contract
    check_precision_request(fp16, int8, contract.precision, facts.has_qdq, str(onnx_path))
    if int8:
        check_tensorrt_quantisation(facts.uint8_zero_points, str(onnx_path))
    low, opt, high = resolve_hw(contract, min_hw, opt_hw, max_hw)
    profile = default_profile(contract, low, opt, high, batch=(1, 1, max_batch))
    trt = load_tensorrt(PURPOSE)
    machine = machine_info(PURPOSE)  # also checks cuda-python and that a CUDA device exists
    plan = build_plan(
        fp16,
        int8,
        contract.precision,
        enum_names(trt.BuilderFlag),
        enum_names(trt.NetworkDefinitionCreationFlag),
        machine.tensorrt_version,
    )
    cache = timing_cache.read_bytes() if timing_cache is not None and timing_cache.is_file() else b""
    engine, new_cache = _build(trt, onnx_path, profile, plan, cache, opt_level, workspace_mb)
    precision = precision_label(fp16, int8)
    key = EngineKey(
        machine.gpu_name, machine.compute_capability, machine.tensorrt_version, precision, profile
    )
    _write_engine(output, engine, dataclasses.replace(contract, precision=precision), key)
    if timing_cache is not None:
        with atomic_output(timing_cache) as tmp:
            tmp.write_bytes(new_cache)
    return output


def _build(
    trt: ModuleType,
    onnx_path: Path,
    profile: Profile,
    plan: BuildPlan,
    cache: bytes,
    opt_level: int | None,
    workspace_mb: int | None,
) -> tuple[Any, Any]:
    """Parse and build; return (serialized engine, serialized timing cache), both buffer objects."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = _builder(trt, logger)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ExportError(
            f"TensorRT {trt.__version__}'s ONNX parser rejected {onnx_path}: "
            f"{'; '.join(errors) or 'no message'}. Expected a graph from `corr-export onnx`/`int8` whose "
            "operators TensorRT supports; check the operator named above or re-export the model"
        )
    problem = profile_input_problem(profile, [network.get_input(i).name for i in range(network.num_inputs)])
    if problem:
        raise ExportError(f"{onnx_path}: {problem}; re-export the model with `corr-export onnx`")
    config = builder.create_builder_config()
    _configure(trt, builder, config, plan, profile, opt_level, workspace_mb)
    _attach_timing_cache(config, cache)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise ExportError(
            f"TensorRT {trt.__version__} failed to build an engine from {onnx_path} (see its messages "
            "above); try a smaller --max-shape, a larger --workspace (MiB), or another precision"
        )
    return engine, config.get_timing_cache().serialize()


def _builder(trt: ModuleType, logger: Any) -> Any:
    """``trt.Builder(logger)``, or BackendUnavailable when TensorRT finds no usable GPU."""
    hint = (
        "it needs a working NVIDIA driver and a CUDA device (see the TensorRT messages above); "
        "run `nvidia-smi` to check the GPU"
    )
    try:
        builder = trt.Builder(logger)
    except (TypeError, RuntimeError) as err:  # pybind11 raises TypeError when the factory returns null
        raise BackendUnavailable(
            f"TensorRT could not create a builder ({type(err).__name__}: {err}): {hint}"
        ) from err
    if builder is None:
        raise BackendUnavailable(f"TensorRT could not create a builder: {hint}")
    return builder


def _configure(
    trt: ModuleType,
    builder: Any,
    config: Any,
    plan: BuildPlan,
    profile: Profile,
    opt_level: int | None,
    workspace_mb: int | None,
) -> None:
    for name in plan.set_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for name in plan.clear_flags:
        config.clear_flag(getattr(trt.BuilderFlag, name))
    if workspace_mb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if opt_level is not None:
        config.builder_optimization_level = opt_level
    trt_profile = builder.create_optimization_profile()
    for entry in profile:
        trt_profile.set_shape(entry.name, entry.min, entry.opt, entry.max)
    if config.add_optimization_profile(trt_profile) < 0:
        raise ExportError(f"TensorRT rejected the optimisation profile {profile} (see its messages above)")


def _attach_timing_cache(config: Any, cache: bytes) -> None:
    """Use the saved timing cache; start an empty one if there is none or it is from another TensorRT/GPU."""
    timing = config.create_timing_cache(cache) if cache else None
    if timing is not None and config.set_timing_cache(timing, False):
        return
    if cache:
        log.warning("the timing cache was made by another TensorRT version or GPU; starting a new one")
    config.set_timing_cache(config.create_timing_cache(b""), False)


def _write_engine(output: Path, engine: Any, contract: IOContract, key: EngineKey) -> None:
    """Write the engine atomically, then its sidecar; never pair an engine with a stale sidecar."""
    with atomic_output(output) as tmp:
        tmp.write_bytes(engine)
        sidecar_path(output).unlink(missing_ok=True)  # the old engine's sidecar must not outlive it
    try:
        write_sidecar(output, contract, key)
    except BaseException:
        output.unlink(missing_ok=True)  # an engine without its sidecar cannot be run: leave neither
        raise
