"""End-point error and time per call of each flow estimator at 256x448.

Cases:
  camera     known translations, a zoom and a rotation of real photos (exact flow);
  object     a small textured object jumping over a static photo (the toy
             experiment's situation), with a sharp and a blurred source frame;
  stereo     scikit-image's stereo_motorcycle pair: its disparity is the true
             horizontal flow from the left to the right view;
  blurred    the camera translations with the source frame blurred (sigma 2 px),
             as early predictions are.

EPE is the mean Euclidean error (pixels) over pixels whose true match lies
inside the frame (and, for stereo, has a finite disparity). For ``object`` the
median horizontal flow inside the object is also reported. Every estimator runs
on the same frames in one process, so the ratios are like for like.

    python benchmarks/flow_accuracy.py [--out benchmarks/results/flow_accuracy.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from corrwise.errors import BackendUnavailable, CheckpointError
from corrwise.train.flow import build_flow
from skimage import data as skdata
from tqdm import tqdm

HEIGHT, WIDTH = 256, 448
CAMERA = {
    "translate(7,-3)": [[1, 0, 7], [0, 1, -3]],
    "translate(2.5,1.5)": [[1, 0, 2.5], [0, 1, 1.5]],
    "translate(20,0)": [[1, 0, 20], [0, 1, 0]],
    "zoom 1.05": [[1.05, 0, 0], [0, 1.05, 0]],
    "rotate 3deg": [[math.cos(0.05), -math.sin(0.05), 3], [math.sin(0.05), math.cos(0.05), 0]],
}
PHOTOS = ("astronaut", "coffee", "chelsea")
ESTIMATORS = {
    "dis-ultrafast": ("dis", {"preset": "ultrafast"}),
    "dis-fast": ("dis", {"preset": "fast"}),
    "dis-medium": ("dis", {"preset": "medium"}),
    "match": ("match", {}),
    "raft-small": ("raft", {"size": "small"}),
}


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> (1, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1


def photo(name: str, scale: float = 1.6) -> np.ndarray:
    """A scikit-image photo resized to cover (HEIGHT, WIDTH) * scale, uint8 RGB."""
    image = getattr(skdata, name)()
    image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
    s = max(HEIGHT * scale / image.shape[0], WIDTH * scale / image.shape[1])
    size = (int(image.shape[1] * s) + 1, int(image.shape[0] * s) + 1)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def affine_case(name: str, matrix: list[list[float]], blur: float = 0.0) -> dict:
    """Frames a, b with b(M x) = a(x) about the frame centre; flow a -> b = M x - x (exact)."""
    source = photo(name)
    oy, ox = (source.shape[0] - HEIGHT) // 2, (source.shape[1] - WIDTH) // 2
    a = source[oy : oy + HEIGHT, ox : ox + WIDTH]
    centre = np.array([WIDTH / 2 - 0.5, HEIGHT / 2 - 0.5])
    lin, shift = np.asarray(matrix, float)[:, :2], np.asarray(matrix, float)[:, 2]
    origin = np.array([ox, oy])
    full = np.hstack([lin, (centre + shift + origin - lin @ (origin + centre))[:, None]])
    warped = cv2.warpAffine(
        source, full, (source.shape[1], source.shape[0]), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    b = warped[oy : oy + HEIGHT, ox : ox + WIDTH]
    if blur:
        a = cv2.GaussianBlur(a, (0, 0), blur)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    points = np.stack([xs - centre[0], ys - centre[1]], -1)
    flow = (points @ lin.T + shift - points).transpose(2, 0, 1)
    return {"a": to_tensor(a), "b": to_tensor(b), "flow": torch.from_numpy(flow).float()[None], "mask": None}


def object_case(shift: int, blur: float = 0.0) -> dict:
    """A 56x112 textured object jumping ``shift`` px right over a static photo (toy scene x4)."""
    background = cv2.resize(skdata.coffee(), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    sprite = cv2.resize(skdata.chelsea()[100:200, 100:300], (112, 56), interpolation=cv2.INTER_AREA)
    y0, x0 = (HEIGHT - 56) // 2, WIDTH // 2 - 56 - shift // 2
    a, b = background.copy(), background.copy()
    a[y0 : y0 + 56, x0 : x0 + 112] = sprite
    b[y0 : y0 + 56, x0 + shift : x0 + shift + 112] = sprite
    if blur:
        a = cv2.GaussianBlur(a, (0, 0), blur)
    inside = np.zeros((HEIGHT, WIDTH), bool)
    inside[y0 : y0 + 56, x0 : x0 + 112] = True
    flow = np.zeros((2, HEIGHT, WIDTH), np.float32)
    flow[0][inside] = shift
    return {
        "a": to_tensor(a),
        "b": to_tensor(b),
        "flow": torch.from_numpy(flow)[None],
        "mask": None,
        "object": torch.from_numpy(inside),
    }


def stereo_case() -> dict:
    """Left -> right view of stereo_motorcycle at 256x448; flow = (-disparity, 0)."""
    left, right, disparity = skdata.stereo_motorcycle()
    sx = WIDTH / left.shape[1]
    a = cv2.resize(left, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    b = cv2.resize(right, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    disp = cv2.resize(
        np.where(np.isfinite(disparity), disparity, np.nan), (WIDTH, HEIGHT), interpolation=cv2.INTER_NEAREST
    )
    flow = np.zeros((2, HEIGHT, WIDTH), np.float32)
    flow[0] = -np.nan_to_num(disp) * sx
    return {
        "a": to_tensor(a),
        "b": to_tensor(b),
        "flow": torch.from_numpy(flow)[None],
        "mask": torch.from_numpy(np.isfinite(disp))[None],
    }


def cases() -> dict[str, dict]:
    """Every benchmark case by name, grouped by prefix."""
    out = {}
    for name in PHOTOS:
        for motion, matrix in CAMERA.items():
            out[f"camera/{name}/{motion}"] = affine_case(name, matrix)
    for shift in (40, 76):
        out[f"object/shift {shift}/sharp"] = object_case(shift)
        out[f"object/shift {shift}/blurred"] = object_case(shift, blur=2.0)
    out["stereo/motorcycle"] = stereo_case()
    for name in PHOTOS:
        for motion in ("translate(7,-3)", "translate(20,0)"):
            out[f"blurred/{name}/{motion}"] = affine_case(name, CAMERA[motion], blur=2.0)
    return out


def end_point_error(flow: torch.Tensor, case: dict) -> float:
    """Mean EPE (pixels) over pixels whose true match is inside the frame (and valid)."""
    truth = case["flow"]
    ys, xs = torch.meshgrid(torch.arange(HEIGHT), torch.arange(WIDTH), indexing="ij")
    x, y = xs + truth[:, 0], ys + truth[:, 1]
    valid = (x >= 0) & (x <= WIDTH - 1) & (y >= 0) & (y <= HEIGHT - 1)
    if case["mask"] is not None:
        valid &= case["mask"]
    return (flow - truth).norm(dim=1)[valid].mean().item()


def run(estimator: torch.nn.Module, case: dict, repeats: int) -> tuple[torch.Tensor, float]:
    """Flow a -> b and the median wall time per call (ms)."""
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            flow = estimator(case["a"], case["b"])
            times.append(time.perf_counter() - start)
    return flow, 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/flow_accuracy.json"))
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case (median reported)")
    args = parser.parse_args()
    torch.manual_seed(0)
    all_cases = cases()
    estimators, unavailable = {}, {}
    for label, (name, options) in ESTIMATORS.items():
        try:
            estimators[label] = build_flow(name, **options)
            if name == "raft":  # weights load on construction; a dry run proves the path works
                estimators[label](all_cases["stereo/motorcycle"]["a"], all_cases["stereo/motorcycle"]["b"])
        except (BackendUnavailable, CheckpointError) as err:
            unavailable[label] = str(err)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for case_name, case in tqdm(all_cases.items(), desc="cases"):
        results[case_name] = {}
        for label, estimator in estimators.items():
            estimator(case["a"], case["b"])  # warm-up
            flow, ms = run(estimator, case, args.repeats)
            row = {"epe_px": end_point_error(flow, case), "ms_per_call": ms}
            if "object" in case:
                row["object_median_dx_px"] = flow[0, 0][case["object"]].median().item()
                row["object_true_dx_px"] = case["flow"][0, 0][case["object"]].median().item()
            results[case_name][label] = row
    summary = summarise(results, list(estimators))
    report = {
        "size": [HEIGHT, WIDTH],
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform()},
        "unavailable": unavailable,
        "summary": summary,
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_table(results, list(estimators), summary)
    for label, why in unavailable.items():
        print(f"{label}: not measured ({why})")
    print(f"wrote {args.out}")


def summarise(results: dict, labels: list[str]) -> dict:
    """Mean EPE and time per group, and match's EPE ratio against DIS medium per group."""
    groups = sorted({name.split("/")[0] for name in results})
    summary: dict = {}
    for group in groups:
        names = [n for n in results if n.startswith(group + "/")]
        summary[group] = {
            label: {
                "mean_epe_px": float(np.mean([results[n][label]["epe_px"] for n in names])),
                "mean_ms_per_call": float(np.mean([results[n][label]["ms_per_call"] for n in names])),
            }
            for label in labels
        }
        if "match" in labels and "dis-medium" in labels:
            ratio = summary[group]["match"]["mean_epe_px"] / summary[group]["dis-medium"]["mean_epe_px"]
            summary[group]["match_over_dis_medium_epe"] = ratio
    return summary


def print_table(results: dict, labels: list[str], summary: dict) -> None:
    """EPE (px) per case and estimator, then the group means."""
    width = max(len(n) for n in results) + 2
    print("EPE in pixels (object cases: median dx inside the object / truth)")
    print("case".ljust(width) + "".join(label.rjust(16) for label in labels))
    for name, row in results.items():
        cells = []
        for label in labels:
            cell = f"{row[label]['epe_px']:.3f}"
            if "object_median_dx_px" in row[label]:
                cell = f"{row[label]['object_median_dx_px']:.1f}/{row[label]['object_true_dx_px']:.0f}"
            cells.append(cell.rjust(16))
        print(name.ljust(width) + "".join(cells))
    print()
    for group, stats in summary.items():
        means = "".join(f"{stats[label]['mean_epe_px']:.3f}".rjust(16) for label in labels)
        print(f"mean EPE {group}".ljust(width) + means)
        times = "".join(f"{stats[label]['mean_ms_per_call']:.1f}".rjust(16) for label in labels)
        print(f"ms/call {group}".ljust(width) + times)
        if "match_over_dis_medium_epe" in stats:
            print(f"  match / dis-medium EPE ratio on {group}: {stats['match_over_dis_medium_epe']:.2f}x")


if __name__ == "__main__":
    main()
