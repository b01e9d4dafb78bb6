"""The JSON sidecar beside a TensorRT engine, and the pure decisions around it.

A serialized TensorRT engine carries no corrwise I/O contract and only runs on
the TensorRT version and GPU it was built for, so ``corr-export trt`` writes
``<engine>.json`` beside it::

    {
      "format": 1,
      "contract": {...},      # the IOContract as plain data (same as the ONNX metadata)
      "engine_key": {...}     # what the engine was built for: GPU, TensorRT, precision, profile
    }

Everything here is pure Python (no tensorrt, no CUDA), so it runs and is
tested on any machine: reading and writing the sidecar, comparing an engine's
key with the machine it is about to run on, and building the optimisation
profile (min/opt/max shapes per input) from a contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from corrwise.atomic import atomic_output
from corrwise.contract import PRECISIONS, IOContract
from corrwise.errors import ConfigError, ContractError

SIDECAR_FORMAT = 1
SIDECAR_SUFFIX = ".json"
REBUILD_HINT = "re-run `corr-export trt` on this machine to rebuild the engine and its sidecar"

# Default frame sizes (H, W) of an engine's optimisation profile, in pixels, rounded up to
# the contract's alignment. opt: the size TensorRT tunes kernels for (a 448-wide working
# size, common for interpolation); max: 1080p padded to a multiple of 64.
DEFAULT_MIN_HW = (64, 64)
DEFAULT_OPT_HW = (256, 448)
DEFAULT_MAX_HW = (1088, 1920)

Shape = tuple[int, ...]
HW = tuple[int, int]


class InputProfile(NamedTuple):
    """The shapes one engine input accepts: every dim of a shape lies between ``min`` and ``max``.

    Attributes:
        name: graph input name.
        min: smallest shape, e.g. (1, 3, 64, 64) for an NCHW frame.
        opt: the shape TensorRT tunes its kernels for.
        max: largest shape.
    """

    name: str
    min: Shape
    opt: Shape
    max: Shape


Profile = tuple[InputProfile, ...]


@dataclass(frozen=True)
class MachineInfo:
    """What decides whether a serialized engine runs here.

    Attributes:
        gpu_name: the device name as CUDA reports it, e.g. ``"NVIDIA GeForce RTX 4090"``.
        compute_capability: ``"major.minor"``, e.g. ``"8.9"``.
        tensorrt_version: ``tensorrt.__version__``, e.g. ``"10.3.0"``.
    """

    gpu_name: str
    compute_capability: str
    tensorrt_version: str


@dataclass(frozen=True)
class EngineKey:
    """What a TensorRT engine was built for; also a stable cache key (:meth:`digest`).

    Attributes:
        gpu_name: the GPU the builder tuned the kernels on.
        compute_capability: ``"major.minor"`` of that GPU, e.g. ``"8.9"``.
        tensorrt_version: the TensorRT version that built the engine.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"`` (explicit Q/DQ quantisation).
        profile: one :class:`InputProfile` per engine input, frames first, then the timestep.
    """

    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    precision: str
    profile: Profile

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ContractError(f"engine precision must be one of {PRECISIONS}, got {self.precision!r}")
        object.__setattr__(self, "profile", tuple(_as_input_profile(p) for p in self.profile))
        for entry in self.profile:
            problem = _profile_problem(entry)
            if problem:
                raise ContractError(f"engine profile of input {entry.name!r}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: the fields, with the profile as a list of {input, min, opt, max}."""
        return {
            "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability,
            "tensorrt_version": self.tensorrt_version,
            "precision": self.precision,
            "profile": [
                {"input": p.name, "min": list(p.min), "opt": list(p.opt), "max": list(p.max)}
                for p in self.profile
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "the engine sidecar") -> EngineKey:
        """Read a key back from :meth:`to_dict` data; ContractError when incomplete or malformed."""
        try:
            profile = tuple(
                InputProfile(
                    str(p["input"]),
                    _int_shape(p["min"]),
                    _int_shape(p["opt"]),
                    _int_shape(p["max"]),
                )
                for p in data["profile"]
            )
            return cls(
                gpu_name=str(data["gpu_name"]),
                compute_capability=str(data["compute_capability"]),
                tensorrt_version=str(data["tensorrt_version"]),
                precision=str(data["precision"]),
                profile=profile,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ContractError(
                f"{source}: the engine key is incomplete or malformed ({type(err).__name__}: {err}); "
                "expected gpu_name, compute_capability, tensorrt_version, precision and a profile of "
                f"{{input, min, opt, max}} entries; {REBUILD_HINT}"
            ) from err

    def digest(self) -> str:
        """16 hex digits of the SHA-256 of the canonical JSON: equal keys, equal digests."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    @property
    def machine(self) -> MachineInfo:
        """The machine facts of this key (without precision and profile)."""
        return MachineInfo(self.gpu_name, self.compute_capability, self.tensorrt_version)


def _int_shape(values: Iterable[Any]) -> Shape:
    """A shape from JSON: every entry must be an integer (bools and floats are refused)."""
    shape = tuple(values)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise ValueError(f"shape entries must be integers, got {list(shape)}")
    return shape


def _as_input_profile(entry: Sequence[Any]) -> InputProfile:
    name, low, opt, high = entry
    return InputProfile(str(name), tuple(low), tuple(opt), tuple(high))


def _profile_problem(entry: InputProfile) -> str | None:
    """Why (min, opt, max) is not a valid range of shapes, or None."""
    if not (len(entry.min) == len(entry.opt) == len(entry.max)) or not entry.min:
        return f"min, opt and max must have one non-zero rank, got {entry.min}, {entry.opt}, {entry.max}"
    if min(entry.min) < 1:
        return f"every dimension must be >= 1, got min {entry.min}"
    if not all(a <= b <= c for a, b, c in zip(entry.min, entry.opt, entry.max, strict=True)):
        return f"needs min <= opt <= max in every dimension, got {entry.min}, {entry.opt}, {entry.max}"
    return None


# ----------------------------------------------------------------------------- sidecar file


def sidecar_path(engine_path: str | Path) -> Path:
    """The sidecar of an engine: ``model.engine`` -> ``model.engine.json``."""
    path = Path(engine_path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecar(engine_path: str | Path, contract: IOContract, key: EngineKey) -> Path:
    """Write ``<engine>.json`` atomically; return its path."""
    document = {
        "format": SIDECAR_FORMAT,
        "contract": dataclasses.asdict(contract),
        "engine_key": key.to_dict(),
    }
    path = sidecar_path(engine_path)
    with atomic_output(path, suffix=SIDECAR_SUFFIX) as tmp:
        tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_sidecar(engine_path: str | Path) -> tuple[IOContract, EngineKey]:
    """Read the contract and engine key beside ``engine_path``.

    Raises:
        ContractError: the sidecar is missing, not JSON, of a newer format, or lacks
            a valid ``contract`` or ``engine_key``.
    """
    path = sidecar_path(engine_path)
    expected = (
        f"expected the JSON sidecar {path.name} that `corr-export trt` writes beside the engine "
        "(keys 'format', 'contract', 'engine_key')"
    )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(
            f"TensorRT engine {engine_path} has no sidecar: {expected}; {REBUILD_HINT}"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ContractError(f"cannot read {path} ({err}): {expected}; {REBUILD_HINT}") from err
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ContractError(f"{path} is not valid JSON ({err}): {expected}; {REBUILD_HINT}") from err
    if not isinstance(document, dict) or not {"contract", "engine_key"} <= set(document):
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise ContractError(f"{path} is incomplete (found {found}): {expected}; {REBUILD_HINT}")
    version = document.get("format", SIDECAR_FORMAT)
    if not isinstance(version, int) or version > SIDECAR_FORMAT:
        raise ContractError(
            f"{path} has sidecar format {version!r}; this corrwise reads format {SIDECAR_FORMAT}: "
            "upgrade corrwise, or rebuild the engine with this one (`corr-export trt`)"
        )
    return _sidecar_contract(document["contract"], path), EngineKey.from_dict(
        document["engine_key"], str(path)
    )


def _sidecar_contract(data: Any, path: Path) -> IOContract:
    if not isinstance(data, dict):
        raise ContractError(
            f"{path}: 'contract' must be a JSON object, got {type(data).__name__}; {REBUILD_HINT}"
        )
    try:
        return IOContract.from_dict(data, source=str(path))
    except ContractError as err:
        raise ContractError(f"{err}; {REBUILD_HINT}") from err


# ----------------------------------------------------------------------------- portability


def key_mismatch(key: EngineKey, machine: MachineInfo) -> str | None:
    """Why an engine built for ``key`` must not run on ``machine``, or None when it may.

    A serialized engine is only valid with the exact TensorRT version that built
    it and on a GPU of the same compute capability; even a different GPU of the
    same capability is refused, because TensorRT picks kernels by timing them on
    the build device.
    """
    differences = []
    if key.tensorrt_version != machine.tensorrt_version:
        differences.append(
            f"TensorRT version: engine built with {key.tensorrt_version}, this machine has "
            f"{machine.tensorrt_version} (engines only load in the TensorRT version that built them)"
        )
    if key.compute_capability != machine.compute_capability:
        differences.append(
            f"GPU compute capability: engine built for {key.compute_capability} ({key.gpu_name}), "
            f"this machine has {machine.compute_capability} ({machine.gpu_name})"
        )
    elif key.gpu_name != machine.gpu_name:
        differences.append(
            f"GPU: engine built on {key.gpu_name!r}, this machine has {machine.gpu_name!r} (same compute "
            f"capability {key.compute_capability}, but TensorRT tunes its kernels for the build device)"
        )
    if not differences:
        return None
    return "the engine does not fit this machine: " + "; ".join(differences) + f"; {REBUILD_HINT}"


# ----------------------------------------------------------------------------- profiles


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-value // multiple) * multiple


def resolve_hw(
    contract: IOContract, min_hw: HW | None = None, opt_hw: HW | None = None, max_hw: HW | None = None
) -> tuple[HW, HW, HW]:
    """Fill in the (H, W) of the profile the user left out, in pixels.

    A graph exported for one size (``contract.static_hw``) takes that size for
    min, opt and max. Otherwise a missing size takes the default
    (``DEFAULT_MIN_HW``, ``DEFAULT_OPT_HW``, ``DEFAULT_MAX_HW``, rounded up to the
    contract's alignment), widened per dimension so that it still brackets the
    sizes the user did give. The result is not validated: :func:`default_profile` does that.
    """
    if contract.static_hw is not None:
        static = (int(contract.static_hw[0]), int(contract.static_hw[1]))
        return min_hw or static, opt_hw or static, max_hw or static
    a = contract.align
    given = [hw for hw in (min_hw, opt_hw, max_hw) if hw is not None]
    low = min_hw or _per_dim(min, (round_up(v, a) for v in DEFAULT_MIN_HW), given)
    high = max_hw or _per_dim(max, (round_up(v, a) for v in DEFAULT_MAX_HW), given)
    opt = opt_hw or _per_dim(min, _per_dim(max, (round_up(v, a) for v in DEFAULT_OPT_HW), [low]), [high])
    return low, opt, high


def _per_dim(pick: Any, default: Iterable[int], others: Sequence[HW]) -> HW:
    h, w = default
    return (pick([h, *(o[0] for o in others)]), pick([w, *(o[1] for o in others)]))


def default_profile(
    contract: IOContract,
    min_hw: HW,
    opt_hw: HW,
    max_hw: HW,
    batch: tuple[int, int, int] = (1, 1, 1),
) -> Profile:
    """The optimisation profile of every input of ``contract``.

    Args:
        contract: the I/O contract of the ONNX graph.
        min_hw, opt_hw, max_hw: frame (H, W) in pixels; multiples of ``contract.align``,
            min <= opt <= max per dimension, equal to ``contract.static_hw`` when set.
        batch: (min, opt, max) batch size N.

    Returns:
        One :class:`InputProfile` per input, in contract order: each frame input
        (N, 3, H, W) for NCHW contracts or (N, H, W, 3) for NHWC (fused uint8)
        ones, then the timestep input (N, 1, 1, 1) when the contract has one.

    Raises:
        ConfigError: a size is not positive, not aligned, out of order, or not the static size.
    """
    sizes = {"min": _check_hw("min", min_hw, contract.align), "opt": _check_hw("opt", opt_hw, contract.align)}
    sizes["max"] = _check_hw("max", max_hw, contract.align)
    _check_order(sizes["min"], sizes["opt"], sizes["max"])
    _check_batch(batch)
    if contract.static_hw is not None and any(hw != tuple(contract.static_hw) for hw in sizes.values()):
        h, w = contract.static_hw
        raise ConfigError(
            f"the ONNX graph was exported for {h}x{w} frames only, got min {_fmt(sizes['min'])}, "
            f"opt {_fmt(sizes['opt'])}, max {_fmt(sizes['max'])}; build with {h}x{w} (leave the sizes out) "
            "or export without --static"
        )
    frames = [
        InputProfile(
            name, *(_frame_shape(contract, n, hw) for n, hw in zip(batch, sizes.values(), strict=True))
        )
        for name in contract.input_names
    ]
    if contract.timestep_input:
        frames.append(InputProfile(contract.timestep_input, *((n, 1, 1, 1) for n in batch)))
    return tuple(frames)


def _frame_shape(contract: IOContract, n: int, hw: HW) -> Shape:
    h, w = hw
    return (n, 3, h, w) if contract.layout == "NCHW" else (n, h, w, 3)


def _fmt(hw: Sequence[int]) -> str:
    return "x".join(str(v) for v in hw)


def _check_hw(label: str, hw: Sequence[int], align: int) -> HW:
    if len(hw) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in hw):
        raise ConfigError(f"{label} size must be (H, W), two positive integers in pixels, got {tuple(hw)}")
    h, w = hw
    if h % align or w % align:
        raise ConfigError(
            f"{label} size {h}x{w} is not a multiple of the model's alignment {align}; "
            f"use e.g. {round_up(h, align)}x{round_up(w, align)}"
        )
    return (h, w)


def _check_order(low: HW, opt: HW, high: HW) -> None:
    if not all(a <= b <= c for a, b, c in zip(low, opt, high, strict=True)):
        raise ConfigError(
            f"the profile needs min <= opt <= max in height and in width, got min {_fmt(low)}, "
            f"opt {_fmt(opt)}, max {_fmt(high)}"
        )


def _check_batch(batch: Sequence[int]) -> None:
    if (
        len(batch) != 3
        or not all(isinstance(v, int) and v >= 1 for v in batch)
        or not (batch[0] <= batch[1] <= batch[2])
    ):
        raise ConfigError(
            f"batch must be (min, opt, max) positive integers with min <= opt <= max, got {batch}"
        )


def profile_violation(profile: Profile, shapes: Mapping[str, Shape]) -> str | None:
    """Why input ``shapes`` fall outside an engine's profile, or None when they fit.

    Args:
        profile: the engine's profile (from its sidecar).
        shapes: input name -> the shape about to be fed.
    """
    by_name = {p.name: p for p in profile}
    for name, shape in shapes.items():
        entry = by_name.get(name)
        if entry is None:
            return f"input {name!r} is not in the engine's profile (inputs {sorted(by_name)})"
        shape = tuple(shape)
        if len(shape) != len(entry.min) or not all(
            a <= s <= b for a, s, b in zip(entry.min, shape, entry.max, strict=True)
        ):
            return (
                f"input {name!r} has shape {shape}; this engine accepts shapes from {entry.min} to "
                f"{entry.max}; rebuild it with a profile that covers the size (`corr-export trt "
                "--min-shape/--max-shape/--max-batch`) or feed frames within that range"
            )
    return None


# ----------------------------------------------------------------------------- command line

_DIMS = re.compile(r"\s*[0-9]+(\s*[xX]\s*[0-9]+)*\s*")


def parse_shape(text: str) -> Shape:
    """Parse ``"1x3x256x448"`` (any rank, ``x`` between positive integers) into ``(1, 3, 256, 448)``.

    Raises:
        ConfigError: not of that form, or a dimension is 0.
    """
    if not isinstance(text, str) or not _DIMS.fullmatch(text):
        raise ConfigError(
            f"expected a shape such as 1x3x256x448 (positive integers joined by 'x'), got {text!r}"
        )
    shape = tuple(int(part) for part in re.split(r"[xX]", text))
    if min(shape) < 1:
        raise ConfigError(f"every dimension of a shape must be >= 1, got {text!r}")
    return shape


def parse_hw(text: str) -> HW:
    """Parse a frame size ``"HxW"`` in pixels, e.g. ``"256x448"`` -> ``(256, 448)``.

    This is the form ``corr-export trt --min-shape/--opt-shape/--max-shape`` take;
    :func:`default_profile` expands it to each input's full shape (batch,
    channels, and the timestep input's (N, 1, 1, 1)).

    Raises:
        ConfigError: not two positive integers joined by ``x``.
    """
    try:
        shape = parse_shape(text)
    except ConfigError:
        shape = ()
    if len(shape) != 2:
        raise ConfigError(
            f"expected a frame size HxW in pixels such as 256x448, got {text!r}; "
            "batch and channels are added from the model's contract"
        )
    return shape[0], shape[1]
