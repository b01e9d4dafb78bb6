"""Evaluation results: scores per method, per step and per clip, as a markdown table and strict JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corrwise.atomic import atomic_output
from corrwise.train.metrics import ms_ssim_weights

METRIC_LABELS = {"psnr": "PSNR", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "lpips": "LPIPS"}
METRIC_DIGITS = {"psnr": 2, "ssim": 4, "ms_ssim": 4, "lpips": 4}


@dataclass(frozen=True)
class ClipInfo:
    """One evaluated clip: its sequence, first frame index, evaluated size (pixels), MS-SSIM scales."""

    sequence: str
    start: int
    height: int
    width: int
    ms_ssim_scales: int


@dataclass(frozen=True)
class MethodScores:
    """The scores of one method (model or baseline).

    Attributes:
        name: the row label.
        kind: ``model`` or ``baseline``.
        mean: metric -> mean over all clips and steps.
        per_step: one dict per rolled-out step t+1 ... t+horizon (one entry for interpolation),
            each the mean over clips.
        per_clip: one dict per clip (the order of ``EvalResult.clips``), each the mean over steps.
    """

    name: str
    kind: str
    mean: dict[str, float]
    per_step: tuple[dict[str, float], ...]
    per_clip: tuple[dict[str, float], ...]


@dataclass(frozen=True)
class EvalResult:
    """Scores of every method on the same clips.

    Attributes:
        task: ``predict`` or ``interpolate``.
        metrics: metric names in column order (``psnr``, ``ssim``, ``ms_ssim``, ``lpips``).
        methods: one entry per method, models first.
        clips: the clips, in the order of ``MethodScores.per_clip``.
        context: prediction: context frames per clip (2 for interpolation: the end frames).
        horizon: steps per clip (1 for interpolation).
        notes: what was skipped and why, and anything else a reader of the table should know.
        seconds: wall time of the evaluation.
    """

    task: str
    metrics: tuple[str, ...]
    methods: tuple[MethodScores, ...]
    clips: tuple[ClipInfo, ...]
    context: int
    horizon: int
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def method(self, name: str) -> MethodScores:
        """The scores of the method called ``name``; KeyError listing the names otherwise."""
        for scores in self.methods:
            if scores.name == name:
                return scores
        raise KeyError(f"no method {name!r}; methods: {[m.name for m in self.methods]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (floats may be ``inf`` for identical images; see :func:`write_json`)."""
        return dataclasses.asdict(self)

    def to_markdown(self) -> str:
        """A markdown table: methods as rows; mean metrics and, for prediction, t+1 / t+horizon as columns."""
        columns: list[tuple[str, str, int | None]] = [(METRIC_LABELS[m], m, None) for m in self.metrics]
        if self.task == "predict":
            steps = sorted({0, self.horizon - 1})
            columns += [(f"{METRIC_LABELS[m]} t+{s + 1}", m, s) for m in self.metrics for s in steps]
        lines = [_summary(self), "", "| method | " + " | ".join(c[0] for c in columns) + " |"]
        lines.append("|---|" + "---:|" * len(columns))
        for scores in self.methods:
            cells = [
                _format(scores.mean[m] if step is None else scores.per_step[step][m], m)
                for _, m, step in columns
            ]
            lines.append(f"| {scores.name} | " + " | ".join(cells) + " |")
        lines += [f"\n{note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _summary(result: EvalResult) -> str:
    """One line above the table: what was evaluated on what."""
    sequences = len({clip.sequence for clip in result.clips})
    sizes = sorted({f"{clip.width}x{clip.height}" for clip in result.clips})
    scales = min((clip.ms_ssim_scales for clip in result.clips), default=0)
    what = (
        f"prediction, {result.context} context frames, rollout t+1..t+{result.horizon}"
        if result.task == "predict"
        else "interpolation of the middle frame of triplets"
    )
    scale_note = "" if scales == len(ms_ssim_weights(161, 161)) else f"; MS-SSIM on {scales} scales"
    return (
        f"**{what}**: {len(result.clips)} clips from {sequences} sequence(s), "
        f"frames {', '.join(sizes)}{scale_note}; {result.seconds:.1f} s"
    )


def _format(value: float, metric: str) -> str:
    """A table cell: fixed digits per metric, ``inf`` for identical images."""
    return f"{value:.{METRIC_DIGITS[metric]}f}" if math.isfinite(value) else str(value)


def _jsonable(value: Any) -> Any:
    """Non-finite floats become the strings ``"inf"``, ``"-inf"``, ``"nan"`` (strict JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_json(result: EvalResult, path: str | Path) -> Path:
    """Write ``result.to_dict()`` as strict JSON (``inf`` PSNR as the string ``"inf"``), atomically."""
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(result.to_dict()), indent=2, allow_nan=False) + "\n")
    return path


def write_markdown(result: EvalResult, path: str | Path) -> Path:
    """Write ``result.to_markdown()`` to ``path``, atomically."""
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(result.to_markdown())
    return path
