"""The runtime against its baselines, in one run on one machine.

Three measurements of each edge interpolation model given (a trained
checkpoint, exported here to fp32 ONNX and to INT8 calibrated on Big Buck Bunny):

1. **engines** — model-only latency of one interpolation (batch 1) at 448x256
   and 1280x720 (padded to the model's alignment, as the runtime pads): PyTorch
   eager (the checkpoint's own module, inference mode) against ONNX Runtime CPU
   fp32 and INT8. The engines run round-robin, round after round, so machine
   noise hits all alike; a ratio is the median of the per-round ratios.
2. **video** — end-to-end `corr-run interpolate` throughput (decode, convert,
   pad, infer, crop, encode in the runtime's threaded pipeline; x2) against
   the same model alone on the same frames, both as synthesised frames per
   second, alternating round by round: a 448x256 clip (bikes, resized) and
   Big Buck Bunny at 1280x720; in two modes: one pair at a time on 2 threads
   (``latency``) and 2 pairs at once on 1 thread each (``throughput``,
   ``--workers 2 --threads 1``).
3. **quality** — `benchmarks/interp_quality.py`'s protocol at 448x256 (even
   frames in, odd frames held back): PSNR / SSIM and in-memory speed of the
   model (fp32, INT8, and fp32 with the uint8 conversions in the graph; 2
   pairs at once on 1 thread each) against ffmpeg `minterpolate` (mci, whose
   filter runs on one thread) and blending.

    python benchmarks/runtime_vs_baselines.py --checkpoint runs/edge-flow/model.safetensors \\
        --checkpoint runs/edge-unet/model.safetensors

Prints the tables and writes benchmarks/results/runtime_vs_baselines.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from corrwise.atomic import atomic_output
from corrwise.export import OnnxOptions, int8_from_onnx, onnx_from_checkpoint
from corrwise.export.int8 import Int8Options
from corrwise.models import load_checkpoint
from corrwise.runtime import Interpolator, PipelineOptions, VideoWriter, probe, upsample_video
from corrwise.runtime.ordered import ordered_map
from corrwise.runtime.padding import pad_for
from corrwise.runtime.samples import sample_video
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import interp_quality  # a sibling script

SIZES = {"448x256": (256, 448), "1280x720": (720, 1280)}
THREADS = 2  # intra-op threads of both engines: every core of the reference machine
# (pairs in flight, intra-op threads each) of the video modes; quality runs in throughput mode
MODES = {"latency": (1, THREADS), "throughput": (THREADS, 1)}
RESULTS = Path(__file__).resolve().parent / "results" / "runtime_vs_baselines.json"
DEFAULT_CHECKPOINT = Path("runs/edge-flow/model.safetensors")  # configs/edge-flow.yaml


def export_models(checkpoint: Path, folder: Path) -> dict[str, Path]:
    """fp32 ONNX, INT8 ONNX (calibrated on Big Buck Bunny frames) and fp32 with uint8 I/O of ``checkpoint``.

    ``fp32-u8`` is ``corr-export onnx --io uint8``: the same fp32 network with
    the uint8 <-> float conversions inside the graph (quality section only;
    the engines section feeds float tensors).
    """
    fp32 = onnx_from_checkpoint(checkpoint, folder / "model.onnx")
    int8 = int8_from_onnx(fp32, folder / "model.int8.onnx", sample_video("bigbuckbunny"), Int8Options())
    fused = onnx_from_checkpoint(checkpoint, folder / "model.u8.onnx", options=OnnxOptions(io="uint8"))
    return {"fp32": fp32, "int8": int8, "fp32-u8": fused}


def pair(size_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two real frames (bikes) at ``size_hw``: uint8 (H, W, 3) each."""
    frames = interp_quality.load_clip(sample_video("bikes"), 3, size_hw)
    return frames[0], frames[2]


def as_float(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (1, 3, H, W) in [-1, 1]."""
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(127.5) - 1


def engines(
    module: torch.nn.Module, onnx: dict[str, Path], size_hw: tuple[int, int], rounds: int, reps: int
) -> dict[str, object]:
    """Model-only latency (ms) of eager PyTorch, ORT fp32 and ORT int8, and the median per-round ratios."""
    interps = {name: Interpolator(onnx[name], threads=THREADS) for name in ("fp32", "int8")}
    # every engine gets the frames padded as the runtime pads them (720 -> 736 rows when 32-aligned)
    x0, x1 = (pad_for(as_float(f), interps["fp32"].contract)[0] for f in pair(size_hw))
    t0, t1 = torch.from_numpy(x0), torch.from_numpy(x1)
    calls: dict[str, Callable[[], object]] = {"pytorch": lambda: module(t0, t1)}
    calls.update({f"onnxruntime-{name}": _runner_call(interp, x0, x1) for name, interp in interps.items()})
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.inference_mode():
        for call in calls.values():
            call()  # warm-up: first-run allocations
        for _ in tqdm(range(rounds), desc=f"engines {size_hw[1]}x{size_hw[0]}", leave=False):
            for name, call in calls.items():
                start = time.perf_counter()
                for _ in range(reps):
                    call()
                times[name].append((time.perf_counter() - start) / reps)
    for interp in interps.values():
        interp.close()
    return {
        "ms": {name: round(1000 * statistics.median(t), 2) for name, t in times.items()},
        "ort_fp32_vs_pytorch": _ratio(times["pytorch"], times["onnxruntime-fp32"]),
        "ort_int8_vs_pytorch": _ratio(times["pytorch"], times["onnxruntime-int8"]),
        "ort_int8_vs_ort_fp32": _ratio(times["onnxruntime-fp32"], times["onnxruntime-int8"]),
    }


def _runner_call(interp: Interpolator, x0: np.ndarray, x1: np.ndarray) -> Callable[[], object]:
    inputs = dict(zip(interp.contract.input_names, (x0, x1), strict=True))
    return lambda: interp.runner.infer(inputs)


def _ratio(slow: Sequence[float], fast: Sequence[float]) -> float:
    """Median over rounds of slow/fast (how many times faster ``fast`` is)."""
    return round(statistics.median(a / b for a, b in zip(slow, fast, strict=True)), 3)


def clip_at(size_hw: tuple[int, int], frames: int, folder: Path) -> Path:
    """A real clip at ``size_hw``: bikes resized for 448x256, Big Buck Bunny itself at 1280x720."""
    if size_hw == (720, 1280):
        return sample_video("bigbuckbunny")
    path = folder / f"bikes_{size_hw[1]}x{size_hw[0]}.mp4"
    if not path.exists():
        info = probe(sample_video("bikes"))
        with VideoWriter(path, info.fps, crf=12) as writer:
            for frame in interp_quality.load_clip(sample_video("bikes"), frames, size_hw):
                writer.write(frame)
    return path


def video(onnx: Path, size_hw: tuple[int, int], rounds: int, frames: int, folder: Path) -> dict[str, object]:
    """End-to-end x2 video throughput against model-only, synthesised frames per second, per mode and round.

    Model-only feeds the padded float pairs straight to the interpolator (as
    many at once as the mode's workers); end to end is ``upsample_video``.
    """
    src = clip_at(size_hw, frames, folder)
    inputs = interp_quality.load_clip(src, frames, size_hw)
    pairs = [(as_float(a), as_float(b)) for a, b in itertools.pairwise(inputs)]
    options = PipelineOptions(max_frames=frames, progress=False, audio=False)
    model_fps: dict[str, list[float]] = {mode: [] for mode in MODES}
    e2e_fps: dict[str, list[float]] = {mode: [] for mode in MODES}
    split: dict[str, dict[str, float]] = {}
    interps = {
        mode: Interpolator(onnx, threads=threads, workers=workers, spinning=False)
        for mode, (workers, threads) in MODES.items()
    }
    try:
        for interp in interps.values():
            interp.run(*pairs[0])  # warm-up
        for _ in tqdm(range(rounds), desc=f"video {size_hw[1]}x{size_hw[0]}", leave=False):
            for mode, interp in interps.items():
                start = time.perf_counter()
                for _ in ordered_map(lambda p, i=interp: i.run(*p), pairs, interp.workers):
                    pass
                model_fps[mode].append(len(pairs) / (time.perf_counter() - start))
                report = upsample_video(src, folder / "out.mp4", interp, 2, options=options)
                e2e_fps[mode].append((report.frames_in - 1) / report.seconds)
                split[mode] = {
                    "decode_s": report.decode_s,
                    "infer_s": report.transform_s,
                    "encode_s": report.encode_s,
                }
    finally:
        for interp in interps.values():
            interp.close()
    result: dict[str, object] = {"frames_in": len(inputs)}
    for mode, (workers, threads) in MODES.items():
        ratios = [e / m for e, m in zip(e2e_fps[mode], model_fps[mode], strict=True)]
        result[mode] = {
            "workers": workers,
            "threads": threads,
            "model_only_fps": round(statistics.median(model_fps[mode]), 2),
            "end_to_end_fps": round(statistics.median(e2e_fps[mode]), 2),
            "end_to_end_vs_model_only": round(statistics.median(ratios), 3),
            "stage_seconds_last_round": {k: round(v, 2) for k, v in split[mode].items()},
        }
    return result


def quality(models: dict[str, dict[str, Path]]) -> dict[str, dict]:
    """interp_quality's protocol with mci, blend and every model in fp32, int8 and fp32 with uint8 I/O."""
    specs = [f"{name}-{k}={v}" for name, onnx in models.items() for k, v in onnx.items()]
    workers, threads = MODES["throughput"]
    methods, opened = interp_quality.methods_for(specs, threads, workers)
    try:
        return interp_quality.evaluate(methods, interp_quality.clip_paths())
    finally:
        for interp in opened:
            interp.close()


def measure(checkpoint: Path, folder: Path, rounds: int, frames: int) -> tuple[dict, dict[str, Path]]:
    """Engines and video measurements of one checkpoint; also its exported ONNX files."""
    folder.mkdir()
    onnx = export_models(checkpoint, folder)
    loaded = load_checkpoint(checkpoint)
    module = loaded.model.eval()
    result = {
        "checkpoint": checkpoint.name,
        "run": checkpoint.parent.name,
        "model": loaded.name,
        "engines": {k: engines(module, onnx, s, rounds, 5) for k, s in SIZES.items()},
        "video": {k: video(onnx["fp32"], s, rounds, frames, folder) for k, s in SIZES.items()},
    }
    return result, onnx


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        help=f"edge interpolation checkpoint (repeatable) [{DEFAULT_CHECKPOINT}]",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per measurement [5]")
    parser.add_argument("--frames", type=int, default=61, help="input frames of each video run [61]")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results [benchmarks/results/]")
    args = parser.parse_args(argv)
    checkpoints = args.checkpoint or [DEFAULT_CHECKPOINT]
    for checkpoint in checkpoints:
        if not checkpoint.is_file():
            raise SystemExit(
                f"no checkpoint at {checkpoint}; train one (see the README) or pass --checkpoint"
            )
    torch.set_num_threads(THREADS)
    report: dict[str, object] = {"machine": machine(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        exported = {}
        for i, checkpoint in enumerate(checkpoints):
            result, onnx = measure(checkpoint, Path(tmp) / str(i), args.rounds, args.frames)
            name = result["model"]
            if name in exported:  # a second checkpoint of one model: tell them apart by run folder
                name = f"{name}-{result['run']}"
            if name in exported:
                name = f"{name}-{i}"
            report["models"][name] = result
            exported[name] = onnx
        report["quality_448x256"] = quality(exported)
    with atomic_output(args.out, suffix=".json") as tmp_json:
        tmp_json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["models"], indent=2))
    print(interp_quality.table(report["quality_448x256"]))
    print(f"wrote {args.out}")


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    return {
        "cpus": os.cpu_count(),
        "processor": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "threads": THREADS,
        "modes": {mode: {"workers": w, "threads": t} for mode, (w, t) in MODES.items()},
    }


if __name__ == "__main__":
    main()
