"""Exported artifact -> Triton Inference Server model repository.

A Triton model repository holds one folder per model::

    repo/
      <name>/
        config.pbtxt          # ModelConfig in protobuf text format
        <version>/
          model.onnx          # or model.plan for a TensorRT engine

:func:`triton_config` turns an :class:`~corrwise.contract.IOContract` into the
``config.pbtxt`` text (pure, no I/O); :func:`triton_repository` reads the
contract from an ONNX model's ``metadata_props`` (or from the JSON sidecar
beside a TensorRT engine), checks that the artifact fits the requested
batching, and writes the model folder atomically.

The contract itself travels inside the config as the model parameter
``corrwise.contract`` (the same JSON as in the ONNX metadata), so a tool that
only sees the repository can recover it::

    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    contract = IOContract.from_dict(json.loads(config.parameters["corrwise.contract"].string_value))

Instance groups: a TensorRT plan runs on a GPU only, so ``tensorrt_plan``
defaults to ``KIND_GPU``; an ONNX model defaults to ``KIND_AUTO`` (Triton puts
the instance on a GPU when the server has one, else on the CPU), so the same
repository serves on a GPU box and on a CPU-only box.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from corrwise.contract import METADATA_KEY, IOContract
from corrwise.errors import BackendUnavailable, ConfigError, ContractError, InputError
from corrwise.export.artifact import ENGINE_SUFFIXES

if TYPE_CHECKING:  # onnx is imported where it is used: a TensorRT-only box may lack it
    from onnx import GraphProto, ModelProto, TensorProto

PLATFORMS = ("onnxruntime_onnx", "tensorrt_plan")
INSTANCE_KINDS = ("KIND_AUTO", "KIND_GPU", "KIND_CPU")
ONNX_SUFFIXES = (".onnx",)

# Triton's file name for the model inside a version folder, by platform.
MODEL_FILENAMES = {"onnxruntime_onnx": "model.onnx", "tensorrt_plan": "model.plan"}
# Contract dtype -> Triton data type.
TRITON_DTYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "uint8": "TYPE_UINT8"}
# Contract dtype -> ONNX TensorProto element type (FLOAT, FLOAT16, UINT8).
ONNX_ELEM_TYPES = {"float32": 1, "float16": 10, "uint8": 2}

_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
# Protobuf text-format escapes inside a double-quoted string.
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def check_model_name(name: str) -> str:
    """Return ``name`` if Triton accepts it as a model (folder) name; ConfigError otherwise.

    Allowed: letters, digits, ``_``, ``-`` and ``.``, not ``.`` or ``..`` and
    not starting with a dot (hidden folders are where staging happens).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.startswith("."):
        raise ConfigError(
            f"Triton model name must be letters, digits, '_', '-' or '.' and not start with '.', "
            f"got {name!r}; pick a name such as 'edge_unet' or 'edge-unet.v2'"
        )
    return name


def _quote(text: str) -> str:
    """``text`` as a protobuf text-format string literal: quoted, escaped, plain ASCII."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")  # control characters and UTF-8 bytes of non-ASCII text
    return '"' + "".join(out) + '"'


def _instance_kind(kind: str | None, platform: str) -> str:
    """Normalise ``kind`` (``"gpu"`` or ``"KIND_GPU"``, ...); default by platform (see module doc)."""
    if kind is None:
        return "KIND_GPU" if platform == "tensorrt_plan" else "KIND_AUTO"
    full = kind.upper() if kind.upper().startswith("KIND_") else f"KIND_{kind.upper()}"
    if full not in INSTANCE_KINDS:
        raise ConfigError(f"instance kind must be one of {INSTANCE_KINDS} (or auto/gpu/cpu), got {kind!r}")
    if full == "KIND_CPU" and platform == "tensorrt_plan":
        raise ConfigError(
            "a TensorRT plan runs on a GPU only, got instance kind KIND_CPU; use KIND_GPU, "
            "or serve the ONNX model for CPU instances"
        )
    return full


def _check_batching(
    max_batch: int, dynamic_batching: bool, preferred_batch_sizes: tuple[int, ...], batch_dim: int
) -> None:
    """ConfigError when the batching options contradict each other."""
    if max_batch < 0:
        raise ConfigError(f"max_batch must be >= 0 (0: no Triton batching), got {max_batch}")
    if dynamic_batching and max_batch == 0:
        raise ConfigError(
            "dynamic batching needs max_batch >= 1, got max_batch 0; pass a max_batch, or turn dynamic "
            "batching off for a model without a batch axis Triton can use"
        )
    if preferred_batch_sizes and not dynamic_batching:
        raise ConfigError(
            f"preferred_batch_sizes {preferred_batch_sizes} apply to dynamic batching only; "
            "turn dynamic batching on or drop them"
        )
    bad = [s for s in preferred_batch_sizes if not 1 <= s <= max_batch]
    if bad:
        raise ConfigError(f"preferred batch sizes must lie in 1..max_batch ({max_batch}), got {bad}")
    if batch_dim != -1 and (max_batch > 0 or batch_dim < 1):
        raise ConfigError(
            f"batch_dim is the fixed batch of a static-batch graph (>= 1, with max_batch 0) or -1, "
            f"got batch_dim {batch_dim} with max_batch {max_batch}"
        )


def _tensor_block(name: str, dtype: str, dims: list[int]) -> str:
    """One ``input`` / ``output`` entry of the config."""
    return (
        f"  {{\n    name: {_quote(name)}\n    data_type: {TRITON_DTYPES[dtype]}\n"
        f"    dims: [ {', '.join(str(d) for d in dims)} ]\n  }}"
    )


def _io_blocks(contract: IOContract, max_batch: int, batch_dim: int) -> tuple[list[str], list[str]]:
    """The ``input`` and ``output`` entries: frames, the timestep, the synthesised frame.

    Frame dims are [3, H, W] (NCHW) or [H, W, 3] (NHWC), H and W -1 unless the
    contract fixes them; the timestep is [1, 1, 1]. With ``max_batch == 0``
    every entry leads with the batch axis ``batch_dim``.
    """
    h, w = contract.static_hw or (-1, -1)
    frame = [3, h, w] if contract.layout == "NCHW" else [h, w, 3]
    time = [1, 1, 1]
    if max_batch == 0:
        frame, time = [batch_dim, *frame], [batch_dim, *time]
    inputs = [_tensor_block(n, contract.dtype, frame) for n in contract.input_names]
    if contract.timestep_input:
        inputs.append(_tensor_block(contract.timestep_input, contract.time_dtype, time))
    return inputs, [_tensor_block(contract.output_names[0], contract.dtype, frame)]


def triton_config(
    contract: IOContract,
    name: str,
    platform: str,
    max_batch: int,
    dynamic_batching: bool,
    max_queue_delay_us: int = 100,
    preferred_batch_sizes: tuple[int, ...] = (),
    *,
    instance_kind: str | None = None,
    instance_count: int = 1,
    batch_dim: int = -1,
) -> str:
    """The ``config.pbtxt`` text (protobuf text format of Triton's ModelConfig) for ``contract``.

    Pure: no file is read or written.

    Args:
        contract: the artifact's I/O contract; one input per frame input and one
            for the timestep, one output (the synthesised frame).
        name: the Triton model name (must equal the model folder's name).
        platform: ``"onnxruntime_onnx"`` or ``"tensorrt_plan"``.
        max_batch: Triton's ``max_batch_size``; > 0 lets Triton batch requests
            along the graph's (dynamic) first axis and dims omit it; 0 turns
            batching off and dims include the batch axis.
        dynamic_batching: add a ``dynamic_batching`` block (needs max_batch >= 1).
        max_queue_delay_us: how long the dynamic batcher may wait to fill a batch.
        preferred_batch_sizes: batch sizes the dynamic batcher aims for (1..max_batch).
        instance_kind: ``KIND_AUTO``/``KIND_GPU``/``KIND_CPU`` (or auto/gpu/cpu);
            None: KIND_GPU for tensorrt_plan, KIND_AUTO for onnxruntime_onnx.
        instance_count: model instances per device.
        batch_dim: with max_batch 0, the batch axis written into dims: -1, or the
            fixed batch of a static-batch graph (Triton rejects -1 against a fixed axis).

    Data types: frames ``TYPE_FP32``/``TYPE_FP16``/``TYPE_UINT8`` from
    ``contract.dtype``; the timestep is the frame type for float graphs and
    ``TYPE_FP32`` for fused uint8 graphs. The contract JSON is stored under
    ``parameters["corrwise.contract"]``. Raises ConfigError for bad options.
    """
    check_model_name(name)
    if platform not in PLATFORMS:
        raise ConfigError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    _check_batching(max_batch, dynamic_batching, tuple(preferred_batch_sizes), batch_dim)
    if max_queue_delay_us < 0:
        raise ConfigError(f"max_queue_delay_us must be >= 0 microseconds, got {max_queue_delay_us}")
    if instance_count < 1:
        raise ConfigError(f"instance_count must be >= 1, got {instance_count}")
    kind = _instance_kind(instance_kind, platform)
    inputs, outputs = _io_blocks(contract, max_batch, batch_dim)
    lines = [
        f"name: {_quote(name)}",
        f"platform: {_quote(platform)}",
        f"max_batch_size: {max_batch}",
        "input [\n" + ",\n".join(inputs) + "\n]",
        "output [\n" + ",\n".join(outputs) + "\n]",
    ]
    if dynamic_batching:
        preferred = sorted(set(preferred_batch_sizes))
        body = f"  preferred_batch_size: [ {', '.join(map(str, preferred))} ]\n" if preferred else ""
        lines.append(f"dynamic_batching {{\n{body}  max_queue_delay_microseconds: {max_queue_delay_us}\n}}")
    lines.append(f"instance_group [\n  {{\n    kind: {kind}\n    count: {instance_count}\n  }}\n]")
    contract_json = contract.to_metadata()[METADATA_KEY]
    lines.append(
        f"parameters {{\n  key: {_quote(METADATA_KEY)}\n  value {{\n"
        f"    string_value: {_quote(contract_json)}\n  }}\n}}"
    )
    return "\n".join(lines) + "\n"


def _onnx_tensors(graph: GraphProto) -> Iterator[TensorProto]:
    """Every TensorProto of ``graph``: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _onnx_tensors(attr.g)
            for sub in attr.graphs:
                yield from _onnx_tensors(sub)


def _external_files(model: ModelProto, artifact: Path) -> list[str]:
    """Relative paths of the external-data files the ONNX model refers to (they travel with it)."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    locations = sorted(
        {ExternalDataInfo(t).location for t in _onnx_tensors(model.graph) if uses_external_data(t)}
    )
    for location in locations:
        if Path(location).is_absolute() or ".." in Path(location).parts:
            raise InputError(
                f"{artifact} keeps weights in {location!r}, outside its folder; re-save the model "
                "with its external data beside it (onnx.save_model(..., save_as_external_data=True))"
            )
        if not (artifact.parent / location).is_file():
            raise InputError(
                f"{artifact} keeps weights in {location!r}, but {artifact.parent / location} does not "
                "exist; copy the data file beside the model"
            )
    return locations


def _onnx_batch_dim(model: ModelProto, contract: IOContract, artifact: Path) -> int:
    """The graph's batch axis: -1 when dynamic, else its fixed size.

    Also checks that the contract's inputs and first output exist in the graph
    with the contract's element types (ContractError otherwise).
    """
    graph = model.graph
    inputs = {v.name: v for v in graph.input}
    outputs = {v.name: v for v in graph.output}
    expected = {n: contract.dtype for n in contract.input_names}
    if contract.timestep_input:
        expected[contract.timestep_input] = contract.time_dtype
    expected_out = {contract.output_names[0]: contract.dtype}
    batch = -1
    for table, wanted in ((inputs, expected), (outputs, expected_out)):
        for tensor, dtype in wanted.items():
            if tensor not in table:
                raise ContractError(
                    f"{artifact}: its contract names the tensor {tensor!r}, but the graph has "
                    f"inputs {sorted(inputs)} and outputs {sorted(outputs)}; re-export the model"
                )
            ttype = table[tensor].type.tensor_type
            if ttype.elem_type != ONNX_ELEM_TYPES[dtype]:
                raise ContractError(
                    f"{artifact}: tensor {tensor!r} has ONNX element type {ttype.elem_type}, but the "
                    f"contract says {dtype} ({ONNX_ELEM_TYPES[dtype]}); re-export the model"
                )
            dims = ttype.shape.dim
            if table is inputs and dims and dims[0].HasField("dim_value"):
                batch = dims[0].dim_value
    return batch


def _read_onnx(artifact: Path) -> tuple[IOContract, int, list[str]]:
    """Contract, batch axis (-1: dynamic) and external-data files of an ONNX model."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(artifact), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as err:
        raise InputError(
            f"{artifact} is not an ONNX model ({err}); pass a model written by `corr-export onnx`"
        ) from err
    if not model.graph.input or not model.graph.output:
        raise InputError(
            f"{artifact} is not an ONNX model (no graph inputs or outputs); "
            "pass a model written by `corr-export onnx`"
        )
    metadata = {p.key: p.value for p in model.metadata_props}
    contract = IOContract.from_metadata(metadata, source=str(artifact))
    return contract, _onnx_batch_dim(model, contract, artifact), _external_files(model, artifact)


def _read_engine(artifact: Path) -> IOContract:
    """The contract of a TensorRT engine, from its JSON sidecar ``<engine>.json``."""
    try:
        from corrwise.runtime.backends.tensorrt_sidecar import read_sidecar
    except ImportError as err:
        raise BackendUnavailable(
            f"reading the contract of the TensorRT engine {artifact} needs "
            f"corrwise.runtime.backends.tensorrt_sidecar, which cannot be imported ({err}); "
            "install corrwise with the 'gpu' extra, or serve the ONNX model instead"
        ) from err
    contract, _key = read_sidecar(artifact)
    return contract


def _read_artifact(artifact: Path) -> tuple[str, IOContract, int, list[str]]:
    """Platform, contract, batch axis (-1: dynamic or unknown) and extra files of ``artifact``."""
    if not artifact.is_file():
        raise InputError(
            f"no model file at {artifact}; pass an exported .onnx model or a TensorRT .engine/.plan"
        )
    suffix = artifact.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        contract, batch, extra = _read_onnx(artifact)
        return "onnxruntime_onnx", contract, batch, extra
    if suffix in ENGINE_SUFFIXES:
        return "tensorrt_plan", _read_engine(artifact), -1, []
    raise InputError(
        f"expected an exported model (.onnx, or a TensorRT .engine/.plan), got {artifact.name!r}; "
        "export one with `corr-export onnx`"
    )


def _check_batch_axis(artifact: Path, batch: int, max_batch: int) -> None:
    """ConfigError when Triton batching is asked of a graph with a fixed batch axis."""
    if max_batch > 0 and batch != -1:
        raise ConfigError(
            f"{artifact} has a static batch axis of {batch}, but max_batch {max_batch} needs a dynamic "
            "one; export with dynamic batch (`corr-export onnx` keeps the batch dynamic), or use "
            "max_batch 0 without dynamic batching"
        )


def _fsync(path: Path) -> None:
    """Flush the file or folder at ``path`` to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fill_model_dir(
    folder: Path, config: str, artifact: Path, filename: str, version: int, extra: list[str]
) -> None:
    """Write config.pbtxt and ``<version>/<filename>`` (plus external data) into ``folder``."""
    version_dir = folder / str(version)
    version_dir.mkdir()
    (folder / "config.pbtxt").write_text(config, encoding="ascii")
    shutil.copyfile(artifact, version_dir / filename)
    for location in extra:
        target = version_dir / location
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact.parent / location, target)
    for path in [folder / "config.pbtxt", version_dir / filename, *(version_dir / x for x in extra)]:
        _fsync(path)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)  # mkdtemp made it 0700; the server may run as another user


def _exists_error(final: Path) -> InputError:
    """The error for a model folder that is already there."""
    return InputError(
        f"a Triton model already exists at {final}; pass overwrite=True to replace it, or choose another name"
    )


def _publish(staging: Path, final: Path, overwrite: bool) -> None:
    """Rename ``staging`` to ``final``; with ``overwrite`` move an existing ``final`` aside first."""
    if not (final.exists() or final.is_symlink()):
        try:
            os.rename(staging, final)
        except OSError as err:  # appeared meanwhile (non-empty folder) or a file is in the way
            raise InputError(
                f"cannot write {final}: {err.strerror}; remove it or pass overwrite=True"
            ) from err
        return
    if not overwrite:
        raise _exists_error(final)
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(final, old)
    try:
        os.rename(staging, final)
    except OSError:
        os.rename(old, final)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()


def triton_repository(
    artifact: str | Path,
    repo: str | Path,
    name: str,
    *,
    max_batch: int = 8,
    dynamic_batching: bool = True,
    version: int = 1,
    max_queue_delay_us: int = 100,
    preferred_batch_sizes: tuple[int, ...] = (),
    instance_kind: str | None = None,
    instance_count: int = 1,
    overwrite: bool = False,
) -> Path:
    """Write the Triton model ``repo/name`` for an exported artifact; return the model folder.

    ``artifact`` is a ``.onnx`` model (contract from its ``metadata_props``,
    copied to ``<version>/model.onnx`` with any external-data files) or a
    TensorRT ``.engine``/``.plan`` (contract from the sidecar ``<engine>.json``,
    copied to ``<version>/model.plan``). The artifact is copied, never moved.
    ``config.pbtxt`` comes from :func:`triton_config`; see it for the options.

    With ``max_batch > 0`` the ONNX graph's batch axis must be dynamic
    (ConfigError otherwise: export with dynamic batch, or use max_batch 0
    without dynamic batching; a fixed batch is then written into the dims).
    A TensorRT engine's optimisation profile is not inspected: build it with a
    batch range covering 1..max_batch, or Triton refuses to load it.

    The folder is built under a hidden temporary sibling and renamed into
    place, so a failure never leaves a half-written model under ``name``. An
    existing model folder is an InputError unless ``overwrite=True``, which
    replaces it whole (all its versions). InputError "cannot write ..." when
    ``repo`` cannot be created or written.
    """
    artifact, repo = Path(artifact), Path(repo)
    check_model_name(name)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(f"version must be a positive integer (Triton version folder), got {version!r}")
    if max_batch < 0:
        raise ConfigError(f"max_batch must be >= 0 (0: no Triton batching), got {max_batch}")
    platform, contract, batch, extra = _read_artifact(artifact)
    _check_batch_axis(artifact, batch, max_batch)
    config = triton_config(
        contract,
        name,
        platform,
        max_batch,
        dynamic_batching,
        max_queue_delay_us,
        preferred_batch_sizes,
        instance_kind=instance_kind,
        instance_count=instance_count,
        batch_dim=batch if max_batch == 0 else -1,
    )
    final = repo / name
    if (final.exists() or final.is_symlink()) and not overwrite:
        raise _exists_error(final)
    try:
        repo.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".staging", dir=repo))
    except OSError as err:
        raise InputError(
            f"cannot write the Triton repository {repo}: {err.strerror}; pass a writable folder"
        ) from err
    try:
        _fill_model_dir(staging, config, artifact, MODEL_FILENAMES[platform], version, extra)
        _publish(staging, final, overwrite)
        _fsync(repo)
    except OSError as err:
        raise InputError(f"cannot write the Triton model {final}: {err.strerror}") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already after a successful rename
    return final
