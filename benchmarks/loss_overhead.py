"""Training-step time of the correspondence-wise loss against its plain base loss.

One generator (the edge U-Net), 256x448 frames, batch 4, CPU, Adam. Each
configuration runs the same full step (forward, loss, backward, update); the
configurations are interleaved round by round so machine noise hits them
alike. The ratio to plain L1 is given two ways: of the median step times, and
the median of the ratios within each round (steadier when the machine's speed
drifts during the run).

    python benchmarks/loss_overhead.py [--rounds 10] [--out benchmarks/results/loss_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from corrwise.models import build_model
from corrwise.train import CorrWise
from tqdm import tqdm

HEIGHT, WIDTH, BATCH = 256, 448, 4


def make_losses() -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """Loss functions by label, each (pred, target) -> scalar."""
    dis = CorrWise("l1", flow="dis")
    dis_fast = CorrWise("l1", flow="dis", flow_options={"preset": "fast"})
    match = CorrWise("l1", flow="match")
    return {
        "l1": F.l1_loss,
        "corrwise-l1/dis-medium": lambda p, t: dis(p, t)[0],
        "corrwise-l1/dis-fast": lambda p, t: dis_fast(p, t)[0],
        "corrwise-l1/match": lambda p, t: match(p, t)[0],
    }


def step(model: torch.nn.Module, optimiser: torch.optim.Optimizer, loss_fn: Callable, batch: dict) -> float:
    """One full training step; returns its wall time (s)."""
    start = time.perf_counter()
    pred = model(batch["frame0"], batch["frame1"])
    loss = loss_fn(pred, batch["target"])
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rounds", type=int, default=10, help="timed steps per configuration (median reported)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/loss_overhead.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    frames = torch.rand(3, BATCH, 3, HEIGHT, WIDTH) * 2 - 1
    batch = {"frame0": frames[0], "target": frames[1], "frame1": frames[2]}
    losses = make_losses()
    models = {label: build_model("edge-unet", {}) for label in losses}
    optimisers = {label: torch.optim.Adam(m.parameters(), lr=1e-4) for label, m in models.items()}
    times: dict[str, list[float]] = {label: [] for label in losses}
    for label in losses:  # warm-up
        step(models[label], optimisers[label], losses[label], batch)
    for _ in tqdm(range(args.rounds), desc="rounds"):
        for label, loss_fn in losses.items():
            times[label].append(step(models[label], optimisers[label], loss_fn, batch))
    base = statistics.median(times["l1"])
    rows = {
        label: {
            "median_step_s": statistics.median(t),
            "ratio_to_l1": statistics.median(t) / base,
            "median_round_ratio_to_l1": statistics.median(s / b for s, b in zip(t, times["l1"], strict=True)),
            "steps_s": t,
        }
        for label, t in times.items()
    }
    report = {
        "generator": "edge-unet (base_channels 16, depth 3, 0.44 M parameters)",
        "size": [HEIGHT, WIDTH],
        "batch": BATCH,
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform()},
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"edge-unet, {BATCH}x3x{HEIGHT}x{WIDTH}, {args.rounds} interleaved rounds, median step time")
    for label, row in rows.items():
        print(
            f"{label:26s} {row['median_step_s']:.3f} s   {row['ratio_to_l1']:.2f}x l1"
            f"   (median of per-round ratios {row['median_round_ratio_to_l1']:.2f}x)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
