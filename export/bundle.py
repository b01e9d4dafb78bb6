"""``corr-export all``: the usual deployment bundle of a checkpoint, in one call.

DIR/
  model.onnx            fp32 ONNX (float or fused uint8 I/O)
  model.pt2             PyTorch reference program (torch.export) for the pytorch backend and corr-bench;
                        float I/O bundles only
  model.int8.onnx       INT8 QDQ for ONNX Runtime on CPUs, calibrated on real frames
  model.fp16.engine     TensorRT engine (+ .json sidecar), only where TensorRT and a GPU are present
  triton/<name>/        Triton model repository entry for model.onnx (and <name>_int8, <name>_trt)
  parity.json           verify reports of every artifact against the checkpoint
  bundle.json           what was written, the parity verdicts, and what was skipped and why
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corrwise.atomic import atomic_output
from corrwise.errors import BackendUnavailable, InputError
from corrwise.export.int8 import Int8Options, int8_from_onnx
from corrwise.export.onnx_export import OnnxOptions, onnx_from_checkpoint
from corrwise.export.parity import ParityReport, verify
from corrwise.export.torch_export import pt2_from_checkpoint
from corrwise.export.triton import triton_repository

# Stages in order, with their share of the progress display.
STAGES = ("onnx", "torch", "int8", "tensorrt", "verify", "triton")


@dataclass(frozen=True)
class BundleResult:
    """The files written (by role), the parity reports, and the stages skipped with the reason."""

    files: dict[str, str]
    parity: tuple[ParityReport, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every artifact matched the checkpoint within the tolerance table."""
        return all(r.passed for r in self.parity)


def triton_name(text: str) -> str:
    """A Triton-safe model name from ``text`` (a checkpoint stem or model name)."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("._") or "model"
    return name


def default_name(checkpoint: str | Path) -> str:
    """The checkpoint's file name, or its run folder's name for the trainer's ``model.safetensors``."""
    path = Path(checkpoint).resolve()
    return path.parent.name if path.stem == "model" and path.parent.name else path.stem


def export_bundle(
    checkpoint: str | Path,
    out_dir: str | Path,
    calib: str | Path,
    name: str | None = None,
    io: str = "float",
    max_batch: int = 8,
    stage: Callable[[str], None] | None = None,
) -> BundleResult:
    """Export, quantise, build (where possible), verify and package ``checkpoint`` into ``out_dir``.

    Args:
        checkpoint: corrwise checkpoint (.safetensors).
        out_dir: bundle folder (created; existing files of the same names are replaced atomically).
        calib: video or folder of frames for INT8 calibration and for the parity checks.
        name: Triton model name; default derived from the checkpoint's file name.
        io: ``"float"`` or ``"uint8"`` (fused pre/post-processing) for every artifact.
        max_batch: Triton max batch size (dynamic batching on).
        stage: called with each stage name as it starts (for a progress display).

    Returns:
        What was written; ``passed`` says whether every parity check held.
    """
    out = Path(out_dir)
    announce = stage or (lambda _: None)
    name = triton_name(name or default_name(checkpoint))
    files: dict[str, str] = {}
    skipped: dict[str, str] = {}
    announce("onnx")
    onnx_path = onnx_from_checkpoint(checkpoint, out / "model.onnx", options=OnnxOptions(io=io))
    files["onnx"] = onnx_path.name
    announce("torch")
    if io == "float":
        files["torch"] = pt2_from_checkpoint(checkpoint, out / "model.pt2").name
    else:
        skipped["torch"] = "the .pt2 reference program has float I/O only; this bundle has io=uint8"
    announce("int8")
    int8_path = int8_from_onnx(onnx_path, out / "model.int8.onnx", calib, Int8Options(target="cpu"))
    files["int8"] = int8_path.name
    announce("tensorrt")
    engine = _try_engine(onnx_path, out / "model.fp16.engine", skipped)
    if engine is not None:
        files["tensorrt"] = engine.name
    announce("verify")
    artifacts = [onnx_path, int8_path, *([engine] if engine else [])]
    reports = tuple(verify(a, checkpoint, frames=calib) for a in artifacts)
    _write_json(out / "parity.json", [r.to_dict() for r in reports])
    files["parity"] = "parity.json"
    announce("triton")
    repo = out / "triton"
    suffixes = {onnx_path: "", int8_path: "_int8", **({engine: "_trt"} if engine else {})}
    for artifact, suffix in suffixes.items():
        triton_repository(artifact, repo, name + suffix, max_batch=max_batch, overwrite=True)
    files["triton"] = "triton"
    result = BundleResult(files, reports, skipped)
    _write_json(out / "bundle.json", _summary(result, checkpoint))
    return result


def _try_engine(onnx_path: Path, output: Path, skipped: dict[str, str]) -> Path | None:
    """Build an fp16 TensorRT engine when TensorRT and a CUDA device are present; else record why not."""
    try:
        from corrwise.export.tensorrt_engine import engine_from_onnx

        return engine_from_onnx(onnx_path, output, fp16=True)
    except BackendUnavailable as err:
        skipped["tensorrt"] = str(err)
        return None


def _summary(result: BundleResult, checkpoint: str | Path) -> dict[str, Any]:
    return {
        "checkpoint": str(checkpoint),
        "files": result.files,
        "parity": {Path(r.artifact).name: r.passed for r in result.parity},
        "passed": result.passed,
        "skipped": result.skipped,
    }


def _write_json(path: Path, data: object) -> None:
    try:
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n")
    except OSError as err:
        raise InputError(f"cannot write {path}: {err}") from err
