"""The configuration of a training run: frozen dataclasses filled from YAML and command-line overrides.

A YAML file mirrors :class:`RunConfig`::

    task: predict
    model: {name: edge-unet, options: {task: predict, base_channels: 16}}
    data: {sources: [{kind: synthetic}], crop: [96, 160]}
    loss: {base: l1, corrwise: true, flow: match}
    optim: {name: adam, lr: 1.0e-3, schedule: cosine, warmup_steps: 50, grad_clip: 1.0}
    steps: 2000
    batch_size: 8

``--set optim.lr=3e-4`` style overrides are applied to that data before the
dataclasses are built (values are parsed as YAML, so ``3e-4``, ``true`` and
``[96, 160]`` mean what they look like). Unknown keys are errors that list the
known ones.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from corrwise.errors import ConfigError
from corrwise.train.data import DataConfig

TASKS = ("predict", "interpolate")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")
DEVICES = ("auto", "cpu", "cuda")


class YamlLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, reading ``3e-4`` as a number (as YAML 1.2 does) rather than a string."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


@dataclass(frozen=True)
class ModelSection:
    """Which network to train: a registry name and its options (see ``corrwise.models``).

    Attributes:
        name: registered model name.
        options: the model's config fields.
        init: a checkpoint (``model.safetensors``) of the same model and options whose
            weights start the run (fine-tuning); None starts from random weights.
            Optimiser state, step count and schedule start afresh.
    """

    name: str = "edge-unet"
    options: Mapping[str, Any] = field(default_factory=dict)
    init: str | None = None


@dataclass(frozen=True)
class LossSection:
    """The training loss.

    Attributes:
        base: base loss by name, composable with ``+`` (``l1``, ``mse``, ``l1+vgg``, ...).
        corrwise: wrap the base loss in the correspondence-wise loss (the method);
            False trains with the plain, pixel-wise base loss.
        flow: flow estimator of the corr-wise loss (``match``, ``dis``, ``raft``).
        epsilon: the corr-wise epsilon; the flow is scaled by (1 - epsilon). 0.1 as in the paper.
        detach: estimate the flow without gradients (the paper's default).
        flow_options: options of the flow estimator.
        reg_flow_mag, reg_flow_grad, edge_aware, edge_penalty: the corr-wise regularisers
            (need ``detach: false``); 0 turns each off.
    """

    base: str = "l1"
    corrwise: bool = False
    flow: str = "match"
    epsilon: float = 0.1
    detach: bool = True
    flow_options: Mapping[str, Any] = field(default_factory=dict)
    reg_flow_mag: float = 0.0
    reg_flow_grad: float = 0.0
    edge_aware: int = 0
    edge_penalty: float = 0.0

    @property
    def label(self) -> str:
        """Short name for logs and checkpoints, e.g. ``corrwise-l1/match`` or ``l1``."""
        return f"corrwise-{self.base}/{self.flow}" if self.corrwise else self.base


@dataclass(frozen=True)
class OptimSection:
    """Optimiser, learning-rate schedule and gradient clipping.

    Attributes:
        name: ``adam`` or ``adamw``.
        lr: peak learning rate; 1e-4 is the paper's, 1e-3 suits small networks trained briefly.
        betas: Adam's moment decay rates.
        weight_decay: decoupled with ``adamw``, L2 with ``adam``.
        schedule: ``constant``, ``cosine`` (to ``min_lr_ratio`` x lr at the last step) or
            ``step`` (x ``gamma`` every ``step_size`` steps).
        warmup_steps: linear warm-up from 0 over this many steps.
        min_lr_ratio: final learning rate of the cosine schedule, as a fraction of ``lr``.
        step_size, gamma: the step schedule.
        grad_clip: clip the global gradient norm to this value; None or 0 disables.
    """

    name: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    step_size: int = 1000
    gamma: float = 0.5
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        _choice("optim.name", self.name, OPTIMIZERS)
        _choice("optim.schedule", self.schedule, SCHEDULES)
        if not 0 < self.lr < 1:
            raise ConfigError(f"optim.lr must be in (0, 1), got {self.lr}")
        if self.warmup_steps < 0 or self.step_size < 1 or not 0 < self.gamma <= 1:
            raise ConfigError("optim.warmup_steps must be >= 0, step_size >= 1 and gamma in (0, 1]")
        if self.grad_clip is not None and self.grad_clip < 0:
            raise ConfigError(f"optim.grad_clip must be >= 0, got {self.grad_clip}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs; saved with every checkpoint.

    Attributes:
        task: ``predict`` (context frames -> next frame) or ``interpolate``.
        model, data, loss, optim: the sections above; ``data`` is ``corrwise.train.data.DataConfig``.
        val_data: held-out data for periodic validation, or None for the training data's
            kind with another seed (synthetic) / no validation (real footage).
        steps: optimisation steps in total (across resumes).
        batch_size: samples per step and process (the global batch is x world size).
        workers: DataLoader worker processes per training process.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        amp: mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling);
            ignored on the CPU.
        seed: seeds the weights, the data order and the augmentations.
        log_every: steps between CSV/TensorBoard rows.
        sample_every: steps between sample-grid PNGs (0 disables).
        checkpoint_every: steps between resumable checkpoints (0: only at the end).
        keep_checkpoints: resumable checkpoints kept on disk (the newest ones).
        val_every: steps between validations (0: only at the end).
        val_batches: batches per validation.
        max_seconds: stop (with a checkpoint) after this wall time, or None.
    """

    task: str = "interpolate"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossSection = field(default_factory=LossSection)
    optim: OptimSection = field(default_factory=OptimSection)
    val_data: DataConfig | None = None
    steps: int = 1000
    batch_size: int = 8
    workers: int = 0
    device: str = "auto"
    amp: bool = True
    seed: int = 0
    log_every: int = 10
    sample_every: int = 200
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    val_every: int = 0
    val_batches: int = 8
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        _choice("task", self.task, TASKS)
        _choice("device", self.device, DEVICES)
        if self.steps < 1 or self.batch_size < 1 or self.val_batches < 1 or self.keep_checkpoints < 1:
            raise ConfigError("steps, batch_size, val_batches and keep_checkpoints must be >= 1")
        for name in ("workers", "log_every", "sample_every", "checkpoint_every", "val_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.log_every == 0:
            raise ConfigError("log_every must be >= 1")
        object.__setattr__(self, "model", _with_task(self.model, self.task))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """Build from plain data (a parsed YAML file); unknown keys raise ConfigError."""
        data = dict(data)
        _reject_unknown(cls, data, "the run config")
        sections: dict[str, Any] = {}
        for name, section in (("model", ModelSection), ("loss", LossSection), ("optim", OptimSection)):
            if name in data:
                sections[name] = _section(section, data.pop(name), name)
        if "data" in data:
            sections["data"] = DataConfig.from_dict(_mapping(data.pop("data"), "data"))
        if data.get("val_data") is not None:
            sections["val_data"] = DataConfig.from_dict(_mapping(data.pop("val_data"), "val_data"))
        try:
            return cls(**data, **sections)
        except TypeError as err:
            raise ConfigError(f"invalid run config: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data that :meth:`from_dict` turns back into this config."""
        return _plain(dataclasses.asdict(self))


def load_run_config(path: str | Path | None, overrides: Sequence[str] = (), **fixed: Any) -> RunConfig:
    """The run config of a YAML file (or the defaults), with ``key.sub=value`` overrides applied.

    ``fixed`` entries (e.g. ``task="predict"``) are set last, after the overrides.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.load(path.read_text(), Loader=YamlLoader)  # a SafeLoader: no arbitrary objects
        except OSError as err:
            raise ConfigError(f"cannot read config {path}: {err.strerror}") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
        data = _mapping(loaded or {}, str(path))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key.sub=value, e.g. optim.lr=3e-4")
        try:
            value = yaml.load(text, Loader=YamlLoader)  # a SafeLoader: no arbitrary objects
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({err})") from err
        _assign(data, key.strip().split("."), value)
    data.update(fixed)
    return RunConfig.from_dict(data)


def _with_task(model: ModelSection, task: str) -> ModelSection:
    """Fill in the model's ``task`` option from the run's task when its config has one and it is unset."""
    from corrwise.models import model_class

    fields = {f.name for f in dataclasses.fields(model_class(model.name).config_class)}
    if "task" in fields and "task" not in model.options:
        return ModelSection(model.name, {**model.options, "task": task}, model.init)
    return model


def _assign(data: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set ``data[k0][k1]...[kn] = value``, creating nested mappings on the way."""
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {'.'.join(keys)}: {key} is {child!r}, not a section")
        node = child
    node[keys[-1]] = value


def _section(cls: type, value: Any, where: str) -> Any:
    data = _mapping(value, where)
    _reject_unknown(cls, data, where)
    try:
        return cls(**data)
    except TypeError as err:
        raise ConfigError(f"invalid {where} section: {err}") from err


def _reject_unknown(cls: type, data: Mapping[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; known keys: {sorted(known)}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(value).__name__}")
    return dict(value)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _plain(value: Any) -> Any:
    """Tuples to lists and mappings to dicts, recursively (JSON and YAML friendly)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
