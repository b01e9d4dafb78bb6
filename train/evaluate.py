"""Evaluation of video prediction and frame interpolation: models and baselines on the same frames.

Prediction (the paper's protocol): from each clip's K context frames, roll out
``horizon`` frames autoregressively, each prediction fed back as the newest
context frame, and score step t+1 ... t+horizon against the real frames.
Interpolation: for each triplet (i, i+1, i+2) synthesise the middle frame from
frames i and i+2 (t = 0.5).

Every method (each model and each baseline of :mod:`corrwise.train.baselines`)
sees the same frames: decoded as uint8, shrunk so the longest side is at most
``max_side`` (antialiased bilinear, never enlarged), centre-cropped to a
multiple of ``align``, rounded back to 8-bit levels and mapped to [-1, 1].
Outputs are clamped to [-1, 1] and rounded to 8-bit levels before scoring,
as if written to image files. Metrics (:mod:`corrwise.train.metrics`): PSNR
(dB, [0, 1] scale), SSIM, MS-SSIM and, when its weights are at hand, LPIPS.

Frame sources are any objects with ``name: str``, ``__len__`` and
``frame(i) -> uint8 (H, W, 3) RGB`` (:class:`FrameSource`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError, InputError
from corrwise.extras import import_for
from corrwise.models import export_spec, load_checkpoint
from corrwise.train import baselines
from corrwise.train.eval_results import (
    ClipInfo,
    EvalResult,
    MethodScores,
)
from corrwise.train.flow import FlowEstimator, build_flow
from corrwise.train.metrics import LPIPS, load_lpips, ms_ssim_weights, psnr, ssim_and_ms_ssim
from torch import nn
from tqdm import tqdm

TASKS = ("predict", "interpolate")
BASELINES = {
    "predict": ("copy_last", "dis_extrapolate"),
    "interpolate": ("blend", "dis_midpoint", "minterpolate"),
}
BASELINE_CONTEXT = {"copy_last": 1, "dis_extrapolate": 2}  # frames each prediction baseline reads
INTERPOLATION_T = 0.5  # triplets: the middle frame


class FrameSource(Protocol):
    """What the evaluator reads: a named, indexable run of uint8 (H, W, 3) RGB frames."""

    name: str

    def __len__(self) -> int: ...

    def frame(self, index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation run.

    Attributes:
        task: ``predict`` (roll out ``horizon`` frames) or ``interpolate`` (middle of triplets).
        checkpoints: corrwise checkpoints (``.safetensors``) to evaluate; empty: baselines only.
        sources: ``corrwise.train.data.SourceConfig`` items that :func:`run_evaluation` opens
            when it is given no sequences.
        max_side: shrink frames so the longest side is at most this (pixels); 448 is the width
            of Vimeo-90K and keeps a CPU run short. None keeps the native size.
        align: crop frames (centred) to multiples of this many pixels; None: the least common
            multiple of the models' alignments (1 without models), so no model needs padding.
        horizon: prediction: frames rolled out per clip (5: t+1 ... t+5, as in the paper).
        context: prediction: context frames per clip; None: the most any method reads (the
            models' input count, 2 for ``dis_extrapolate``).
        stride: frames between the starts of consecutive clips; None: clips do not overlap.
        max_clips: evaluate at most this many clips, taken round-robin across the sequences so
            each contributes; None: all.
        baselines: baselines to run; None: all of the task's (``BASELINES``), () none.
        lpips: compute LPIPS when its weights are found (it is skipped with a note otherwise).
        lpips_alexnet, lpips_linear: LPIPS weight files; None looks in the torch hub cache.
        device: torch device for the models and metrics (``cpu``, ``cuda``, ``cuda:1``).
    """

    task: str = "predict"
    checkpoints: tuple[Path, ...] = ()
    sources: tuple[Any, ...] = ()
    max_side: int | None = 448
    align: int | None = None
    horizon: int = 5
    context: int | None = None
    stride: int | None = None
    max_clips: int | None = None
    baselines: tuple[str, ...] | None = None
    lpips: bool = True
    lpips_alexnet: Path | None = None
    lpips_linear: Path | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {self.task!r}")
        checkpoints = (self.checkpoints,) if isinstance(self.checkpoints, (str, Path)) else self.checkpoints
        object.__setattr__(self, "checkpoints", tuple(Path(p) for p in checkpoints))
        object.__setattr__(self, "sources", tuple(self.sources))
        for name in ("max_side", "align", "context", "stride", "max_clips"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be an integer >= 1 or None, got {value!r}")
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int) or self.horizon < 1:
            raise ConfigError(f"horizon must be an integer >= 1, got {self.horizon!r}")
        if self.baselines is not None:
            names = (self.baselines,) if isinstance(self.baselines, str) else self.baselines
            object.__setattr__(self, "baselines", tuple(names))
            unknown = sorted(set(self.baselines) - set(BASELINES[self.task]))
            if unknown:
                raise ConfigError(
                    f"unknown {self.task} baseline(s) {unknown}; choose from {list(BASELINES[self.task])}"
                )
        for name in ("lpips_alexnet", "lpips_linear"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ConfigError(
                f"device must be a torch device such as 'cpu' or 'cuda', got {self.device!r}"
            ) from err

    @property
    def baseline_names(self) -> tuple[str, ...]:
        """The baselines to run, in table order."""
        return BASELINES[self.task] if self.baselines is None else self.baselines


@dataclass(frozen=True)
class EvalModel:
    """A network to evaluate with what the evaluator needs to call it.

    Attributes:
        label: its row in the results.
        module: called as ``module(*frames)`` (predict, K frames oldest first) or
            ``module(frame0, frame1[, timestep])`` (interpolate); frames (B, 3, H, W) in [-1, 1].
        task: ``predict`` or ``interpolate``.
        context: number of frame inputs (K for prediction, 2 for interpolation).
        align: H and W must be multiples of this; frames are padded (replicate) and cropped back.
        timestep: interpolation only: the module takes a third input, t as (B, 1, 1, 1).
        min_size: smallest H and W the module accepts; smaller frames are padded up to it.
    """

    label: str
    module: nn.Module
    task: str
    context: int
    align: int = 1
    timestep: bool = False
    min_size: int = 1

    @classmethod
    def from_module(cls, module: nn.Module, label: str) -> EvalModel:
        """Read task, inputs, alignment and timestep from ``module.export_spec(module.config)``."""
        spec = type(module).export_spec(module.config)
        timestep = spec.timestep_input is not None
        return cls(label, module, spec.task, len(spec.input_names), spec.align, timestep, spec.min_size)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> EvalModel:
        """Load a corrwise checkpoint (CheckpointError when missing or invalid) in eval mode on ``device``."""
        checkpoint = load_checkpoint(path)
        spec = export_spec(checkpoint.name, checkpoint.config)
        return cls(
            f"{checkpoint.name} ({path})",
            checkpoint.model.to(device).eval(),
            spec.task,
            len(spec.input_names),
            spec.align,
            spec.timestep_input is not None,
            spec.min_size,
        )

    @torch.no_grad()
    def __call__(self, frames: Sequence[torch.Tensor], t: float = INTERPOLATION_T) -> torch.Tensor:
        """The module's frame for (B, 3, H, W) inputs in [-1, 1], clamped to [-1, 1].

        Inputs are padded (replicate, centred) up to ``min_size`` and to multiples of
        ``align``; the output is cropped back to H x W.
        """
        height, width = frames[0].shape[2:]
        padded_h, padded_w = (-(-max(n, self.min_size) // self.align) * self.align for n in (height, width))
        pad_h, pad_w = padded_h - height, padded_w - width
        top, left = pad_h // 2, pad_w // 2
        padding = (left, pad_w - left, top, pad_h - top)
        inputs = [F.pad(f, padding, mode="replicate") if pad_h or pad_w else f for f in frames]
        if self.timestep:
            inputs.append(frames[0].new_full((frames[0].shape[0], 1, 1, 1), t))
        output = self.module(*inputs)
        output = output[0] if isinstance(output, (tuple, list)) else output  # the frame comes first
        return output[:, :, top : top + height, left : left + width].clamp(-1, 1)  # (B, 3, H, W)

    def interpolate(self, frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
        """The frame at t = 0.5 between two (B, 3, H, W) frames in [-1, 1]."""
        return self([frame0, frame1], INTERPOLATION_T)


# ---------------------------------------------------------------- frames and scoring


def prepared_size(height: int, width: int, max_side: int | None, align: int) -> tuple[int, int, int, int]:
    """(resized H, resized W, cropped H, cropped W) for a frame of H x W pixels."""
    factor = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
    resized_h, resized_w = max(1, round(height * factor)), max(1, round(width * factor))
    return resized_h, resized_w, resized_h - resized_h % align, resized_w - resized_w % align


def prepare_frame(frame: np.ndarray, max_side: int | None, align: int, where: str) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> (1, 3, h, w) in [-1, 1] on 8-bit levels: shrunk, centre-cropped to ``align``."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InputError(f"{where}: expected a uint8 (H, W, 3) RGB frame, got {got}")
    resized_h, resized_w, height, width = prepared_size(*frame.shape[:2], max_side, align)
    if min(height, width) < 1:
        raise InputError(f"{where}: {frame.shape[1]}x{frame.shape[0]} is smaller than the alignment {align}")
    image = torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None].float()  # (1, 3, H, W), a copy
    if (resized_h, resized_w) != frame.shape[:2]:
        image = F.interpolate(image, size=(resized_h, resized_w), mode="bilinear", antialias=True)
        image = image.round().clamp(0, 255)
    top, left = (resized_h - height) // 2, (resized_w - width) // 2
    image = image[:, :, top : top + height, left : left + width]  # (1, 3, h, w) levels 0..255
    return image / 127.5 - 1


def quantize(frames: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> the same clamped to [-1, 1] and rounded to 8-bit levels, as saved images are."""
    return ((frames.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


@dataclass
class Scorer:
    """Scores predictions against a target with every available metric."""

    lpips: LPIPS | None = None
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.names = ("psnr", "ssim", "ms_ssim") + (("lpips",) if self.lpips is not None else ())

    def __call__(self, predictions: torch.Tensor, target: torch.Tensor) -> list[dict[str, float]]:
        """Args: predictions (M, 3, H, W), target (1, 3, H, W) in [-1, 1]. Returns: M dicts of metrics."""
        predictions = quantize(predictions)
        target = target.expand_as(predictions)
        values = {"psnr": psnr(predictions, target)}
        values["ssim"], values["ms_ssim"] = ssim_and_ms_ssim(predictions, target)
        if self.lpips is not None:
            values["lpips"] = self.lpips(predictions, target)
        return [{name: float(values[name][i]) for name in self.names} for i in range(len(predictions))]


# ---------------------------------------------------------------- clips


def clip_starts(
    lengths: Sequence[int], span: int, stride: int, max_clips: int | None
) -> list[tuple[int, int]]:
    """(sequence index, first frame) of every clip of ``span`` frames, ``stride`` apart.

    With ``max_clips``, clips are taken round-robin across sequences (first clip of
    each, then the second of each, ...) so every sequence is represented; the result
    is sorted by sequence, then start.
    """
    per_sequence = [[(s, start) for start in range(0, n - span + 1, stride)] for s, n in enumerate(lengths)]
    interleaved = [c for group in itertools.zip_longest(*per_sequence) for c in group if c is not None]
    return sorted(interleaved[:max_clips] if max_clips is not None else interleaved)


def _alignment(config: EvalConfig, models: Sequence[EvalModel]) -> int:
    """The crop multiple: ``config.align``, or the least common multiple of the models' alignments."""
    if config.align is not None:
        return config.align
    return math.lcm(1, *(model.align for model in models))


def _as_models(models: EvalModel | Sequence[EvalModel] | None, task: str) -> list[EvalModel]:
    """``models`` as a list of distinct labels; ConfigError for a model of the other task."""
    listed = [] if models is None else [models] if isinstance(models, EvalModel) else list(models)
    seen: dict[str, int] = {}
    out = []
    for model in listed:
        if not isinstance(model, EvalModel):
            raise ConfigError(
                f"expected EvalModel items (see EvalModel.from_checkpoint), got {type(model).__name__}"
            )
        if model.task != task:
            raise ConfigError(f"model {model.label!r} does the {model.task!r} task, not {task!r}")
        seen[model.label] = seen.get(model.label, 0) + 1
        label = model.label if seen[model.label] == 1 else f"{model.label} #{seen[model.label]}"
        out.append(dataclasses.replace(model, label=label))
    return out


def _load_frames(
    sequence: FrameSource, start: int, count: int, config: EvalConfig, align: int
) -> list[torch.Tensor]:
    """Frames start ... start + count - 1 prepared for evaluation, on ``config.device``."""
    return [
        prepare_frame(sequence.frame(i), config.max_side, align, f"{sequence.name} frame {i}").to(
            config.device
        )
        for i in range(start, start + count)
    ]


def _lpips_for(config: EvalConfig, lpips: LPIPS | None) -> tuple[LPIPS | None, list[str]]:
    """The LPIPS metric to use and the notes on it: ``lpips`` if given, else loaded per ``config``."""
    if not config.lpips:
        return None, ["LPIPS not computed (turned off)."]
    if lpips is not None:
        return lpips, []
    metric, reason = load_lpips(config.lpips_alexnet, config.lpips_linear)
    return metric, [] if reason is None else [reason]


def _aggregate(
    name: str, kind: str, values: list[list[dict[str, float]]], metrics: tuple[str, ...]
) -> MethodScores:
    """MethodScores from ``values[clip][step][metric]``."""
    steps = len(values[0])
    per_clip = tuple({m: float(np.mean([v[m] for v in clip])) for m in metrics} for clip in values)
    per_step = tuple(
        {m: float(np.mean([clip[s][m] for clip in values])) for m in metrics} for s in range(steps)
    )
    mean = {m: float(np.mean([v[m] for clip in values for v in clip])) for m in metrics}
    return MethodScores(name, kind, mean, per_step, per_clip)


def _finish(
    config: EvalConfig,
    methods: dict[str, tuple[str, Any]],
    scores: dict[str, list[list[dict[str, float]]]],
    clips: list[ClipInfo],
    scorer: Scorer,
    notes: list[str],
    context: int,
    started: float,
) -> EvalResult:
    """Aggregate the per-clip scores into an EvalResult."""
    if not clips:
        raise InputError("no clip was evaluated")
    aggregated = tuple(_aggregate(name, methods[name][0], scores[name], scorer.names) for name in methods)
    horizon = config.horizon if config.task == "predict" else 1
    seconds = time.monotonic() - started
    return EvalResult(
        config.task, scorer.names, aggregated, tuple(clips), context, horizon, tuple(notes), seconds
    )


def _no_clips(sequences: Sequence[FrameSource], span: int, what: str) -> InputError:
    lengths = ", ".join(f"{s.name}: {len(s)}" for s in sequences) or "no sequences"
    return InputError(f"no sequence is long enough for one clip of {span} frames ({what}); got {lengths}")


# ---------------------------------------------------------------- prediction


def _prediction_methods(
    models: list[EvalModel], config: EvalConfig, flow: FlowEstimator | None
) -> dict[str, tuple[str, Callable[[list[torch.Tensor]], torch.Tensor], int]]:
    """name -> (kind, next-frame function of the last frames, number of frames it reads)."""
    methods: dict[str, tuple[str, Callable[[list[torch.Tensor]], torch.Tensor], int]] = {
        model.label: ("model", model, model.context) for model in models
    }
    steps = {
        "copy_last": baselines.copy_last,
        "dis_extrapolate": partial(baselines.dis_extrapolate, flow=flow),
    }
    for name in config.baseline_names:
        methods[name] = ("baseline", steps[name], BASELINE_CONTEXT[name])
    return methods


def rollout(
    step: Callable[[list[torch.Tensor]], torch.Tensor],
    context: Sequence[torch.Tensor],
    reads: int,
    horizon: int,
) -> list[torch.Tensor]:
    """Autoregressive prediction: ``horizon`` frames, each fed back as the newest context frame.

    Args:
        step: next frame (B, 3, H, W) in [-1, 1] from the last ``reads`` frames, oldest first.
        context: the real frames, oldest first, each (B, 3, H, W) in [-1, 1]; at least ``reads``.
        reads: how many of the latest frames ``step`` takes.
        horizon: frames to predict.

    Returns:
        ``horizon`` frames (B, 3, H, W), clamped to [-1, 1] (unrounded: they are fed back as they are).
    """
    frames, outputs = list(context), []
    for _ in range(horizon):
        output = step(frames[-reads:]).clamp(-1, 1)
        outputs.append(output)
        frames.append(output)
    return outputs


@torch.no_grad()
def evaluate_prediction(
    models: EvalModel | Sequence[EvalModel] | None,
    sequences: Sequence[FrameSource],
    config: EvalConfig | None = None,
    lpips: LPIPS | None = None,
    progress: bool = True,
) -> EvalResult:
    """Score next-frame prediction by autoregressive rollout, models and baselines on the same clips.

    Each clip is ``context + horizon`` consecutive frames; every method reads the
    latest of the context frames it needs, predicts t+1, and continues from its own
    predictions up to t+horizon. Scores per step, per clip and overall.

    Args:
        models: prediction models (or None / [] for baselines only).
        sequences: frame sources (``name``, ``len``, ``frame(i)`` -> uint8 (H, W, 3)).
        config: options (task must be ``predict``); None: the defaults.
        lpips: an LPIPS metric to use; None loads it per ``config`` (skipped with a note when absent).
        progress: show a tqdm bar over clips.

    Raises:
        ConfigError: a model of another task or one that needs more context than ``config.context``.
        InputError: no sequence is long enough for a clip, or a frame is not uint8 RGB.
    """
    started = time.monotonic()
    config = config or EvalConfig(task="predict")
    if config.task != "predict":
        raise ConfigError(f"evaluate_prediction needs an EvalConfig with task='predict', got {config.task!r}")
    models = _as_models(models, "predict")
    flow = (
        build_flow("dis", preset=baselines.DIS_PRESET) if "dis_extrapolate" in config.baseline_names else None
    )
    methods = _prediction_methods(models, config, flow)
    if not methods:
        raise ConfigError("nothing to evaluate: no models and no baselines")
    needed = max(reads for _, _, reads in methods.values())
    context = config.context if config.context is not None else needed
    if context < needed:
        raise ConfigError(f"context={context} frames, but a method reads {needed}; raise context or drop it")
    metric, notes = _lpips_for(config, lpips)
    scorer, align, span = Scorer(metric), _alignment(config, models), context + config.horizon
    starts = clip_starts([len(s) for s in sequences], span, config.stride or span, config.max_clips)
    if not starts:
        raise _no_clips(sequences, span, f"{context} context + {config.horizon} predicted")
    scores: dict[str, list[list[dict[str, float]]]] = {name: [] for name in methods}
    clips = []
    for index, start in tqdm(starts, desc="eval predict", unit="clip", disable=not progress):
        frames = _load_frames(sequences[index], start, span, config, align)
        outputs = {
            name: rollout(fn, frames[:context], reads, config.horizon)
            for name, (_, fn, reads) in methods.items()
        }
        per_step = [
            scorer(torch.cat([outputs[name][s] for name in methods]), frames[context + s])
            for s in range(config.horizon)
        ]
        for m, name in enumerate(methods):
            scores[name].append([step[m] for step in per_step])
        height, width = frames[0].shape[2:]
        clips.append(
            ClipInfo(sequences[index].name, start, height, width, len(ms_ssim_weights(height, width)))
        )
    return _finish(
        config,
        {n: (k, f) for n, (k, f, _) in methods.items()},
        scores,
        clips,
        scorer,
        notes,
        context,
        started,
    )


# ---------------------------------------------------------------- interpolation


def minterpolate_midpoint(frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
    """FFmpeg minterpolate's frame halfway between two (B, 3, H, W) frames in [-1, 1] (8-bit levels)."""
    return baselines.minterpolate([frame0, frame1])[0]


def _interpolation_methods(
    models: list[EvalModel], config: EvalConfig, flow: FlowEstimator | None
) -> dict[str, tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]]:
    """name -> (kind, function of the two end frames giving the middle frame)."""
    t = INTERPOLATION_T
    methods: dict[str, tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]] = {
        model.label: ("model", model.interpolate) for model in models
    }
    every = {
        "blend": partial(baselines.blend, t=t),
        "dis_midpoint": partial(baselines.dis_midpoint, t=t, flow=flow),
        "minterpolate": minterpolate_midpoint,
    }
    for name in config.baseline_names:
        methods[name] = ("baseline", every[name])
    return methods


@torch.no_grad()
def evaluate_interpolation(
    models: EvalModel | Sequence[EvalModel] | None,
    sequences: Sequence[FrameSource],
    config: EvalConfig | None = None,
    lpips: LPIPS | None = None,
    progress: bool = True,
) -> EvalResult:
    """Score middle-frame interpolation on triplets (i, i+1, i+2): models against the baselines.

    Every method gets frames i and i+2 only (``minterpolate`` too) and synthesises
    frame i+1 at t = 0.5.

    Args:
        models: interpolation models (or None / [] for baselines only).
        sequences: frame sources (``name``, ``len``, ``frame(i)`` -> uint8 (H, W, 3)).
        config: options (task must be ``interpolate``); None: the defaults for it.
        lpips: an LPIPS metric to use; None loads it per ``config`` (skipped with a note when absent).
        progress: show a tqdm bar over triplets.

    Raises:
        ConfigError: a model of another task. InputError: no sequence has 3 frames, or bad frames.
    """
    started = time.monotonic()
    config = config or EvalConfig(task="interpolate")
    if config.task != "interpolate":
        raise ConfigError(
            f"evaluate_interpolation needs an EvalConfig with task='interpolate', got {config.task!r}"
        )
    models = _as_models(models, "interpolate")
    for model in models:
        if model.context != 2:
            raise ConfigError(f"model {model.label!r} takes {model.context} frames; interpolation needs 2")
    flow = build_flow("dis", preset=baselines.DIS_PRESET) if "dis_midpoint" in config.baseline_names else None
    methods = _interpolation_methods(models, config, flow)
    if not methods:
        raise ConfigError("nothing to evaluate: no models and no baselines")
    metric, notes = _lpips_for(config, lpips)
    scorer, align = Scorer(metric), _alignment(config, models)
    starts = clip_starts([len(s) for s in sequences], 3, config.stride or 3, config.max_clips)
    if not starts:
        raise _no_clips(sequences, 3, "a triplet")
    scores: dict[str, list[list[dict[str, float]]]] = {name: [] for name in methods}
    clips = []
    for index, start in tqdm(starts, desc="eval interpolate", unit="triplet", disable=not progress):
        frame0, target, frame1 = _load_frames(sequences[index], start, 3, config, align)
        outputs = torch.cat([fn(frame0, frame1) for _, fn in methods.values()])  # (M, 3, H, W)
        for name, values in zip(methods, scorer(outputs, target), strict=True):
            scores[name].append([values])
        height, width = target.shape[2:]
        clips.append(
            ClipInfo(sequences[index].name, start, height, width, len(ms_ssim_weights(height, width)))
        )
    return _finish(config, methods, scores, clips, scorer, notes, 2, started)


# ---------------------------------------------------------------- everything from a config


def open_sources(sources: Sequence[Any]) -> list[FrameSource]:
    """Open ``corrwise.train.data.SourceConfig`` items as frame sequences.

    Videos are split into shots at scene cuts (unless the source says ``scene_cuts: false``),
    so no clip spans a cut; shots too short for a clip simply contribute none.
    """
    data = import_for("corrwise.train.data", "train", "reading evaluation frames")
    return [sequence for source in sources for sequence in data.open_shots(source, 1)]


def run_evaluation(
    config: EvalConfig, sequences: Sequence[FrameSource] | None = None, progress: bool = True
) -> EvalResult:
    """Load ``config.checkpoints``, open ``config.sources`` (unless ``sequences`` is given) and evaluate."""
    if sequences is None:
        if not config.sources:
            raise ConfigError(
                "no frames to evaluate on: give sources (videos, frame folders, Vimeo-90K, clips)"
            )
        sequences = open_sources(config.sources)
    models = [EvalModel.from_checkpoint(path, config.device) for path in config.checkpoints]
    evaluate = evaluate_prediction if config.task == "predict" else evaluate_interpolation
    return evaluate(models, sequences, config, progress=progress)
