"""``corr-bench``: latency percentiles and throughput of an exported model on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import click
from corrwise.atomic import atomic_output
from corrwise.cli import SIZE, user_errors
from corrwise.errors import ConfigError
from corrwise.runtime.bench import (
    BACKEND_CHOICES,
    DEFAULT_ITERS,
    DEFAULT_SIZE,
    BenchConfig,
    BenchResult,
    LatencyStats,
    run_bench,
)

FILE = click.Path(dir_okay=False, path_type=Path)


def parse_providers(text: str | None) -> tuple[str, ...] | None:
    """``"tensorrt, cuda"`` -> ``("tensorrt", "cuda")``; None or blank -> None."""
    names = tuple(p.strip() for p in (text or "").split(",") if p.strip())
    return names or None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--model",
    "-m",
    required=True,
    type=FILE,
    help="Exported model: .onnx (corr-export onnx / int8), .pt2 (corr-export torch) or a TensorRT engine "
    "(corr-export trt, with its .json sidecar).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKEND_CHOICES),
    default="auto",
    show_default=True,
    help="auto: the fastest that really runs here (TensorRT, then CUDA, then CPU for .onnx). Or name one.",
)
@click.option(
    "--providers",
    default=None,
    help="ONNX Runtime execution providers in order, comma-separated: cpu, cuda, tensorrt "
    "(e.g. tensorrt,cuda). A trailing cpu accepts a fallback to the CPU. Default: the backend's choice.",
)
@click.option(
    "--size",
    type=SIZE,
    default=None,
    help=f"Frame size HxW in pixels before padding to the model's alignment. Default: the model's fixed "
    f"size, else {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}.",
)
@click.option("--batch", type=int, default=1, show_default=True, help="Frames per input per call (N >= 1).")
@click.option(
    "--warmup", type=int, default=3, show_default=True, help="Untimed calls before each measurement."
)
@click.option(
    "--iters", type=int, default=None, help=f"Timed calls per measurement (default {DEFAULT_ITERS})."
)
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="Time each measurement for this many seconds instead of --iters.",
)
@click.option("--threads", type=int, default=None, help="CPU threads of the backend (default: every core).")
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Calls in flight at once, each on its own thread; throughput is then calls over wall time. "
    "On a small CPU try --workers 2 --threads 1 (what corr-run interpolate --workers does).",
)
@click.option("--json", "json_path", type=FILE, default=None, help="Also write the full result as JSON here.")
def main(
    model: Path,
    backend: str,
    providers: str | None,
    size: tuple[int, int] | None,
    batch: int,
    warmup: int,
    iters: int | None,
    seconds: float | None,
    threads: int | None,
    workers: int,
    json_path: Path | None,
) -> None:
    """Measure how fast the --model runs here: latency percentiles (ms), throughput (calls/s, frames/s).

    \b
    model only   runner.infer on random tensors at the padded size
    end to end   uint8 frames in -> tensors, padding, model, crop -> uint8 frames out

    The JSON result also records the machine (CPU count, platform, library
    versions), what really ran the model (backend and execution providers) and
    the model's contract (name, task, precision, fused I/O).
    """
    with user_errors():
        config = BenchConfig(
            model=model,
            backend=backend,
            providers=parse_providers(providers),
            size=size,
            batch=batch,
            warmup=warmup,
            iters=iters,
            seconds=seconds,
            threads=threads,
            workers=workers,
        )
        result = run_bench(config, progress=True)
        if json_path is not None:
            write_json(json_path, result)
    click.echo(summary(result))
    if json_path is not None:
        click.echo(f"wrote {json_path}")


def write_json(path: Path, result: BenchResult) -> Path:
    """Write ``result.to_dict()`` as JSON, atomically."""
    try:
        with atomic_output(path, suffix=".json") as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err}") from err
    return path


def summary(result: BenchResult) -> str:
    """A few lines for the terminal: what ran, at which size, and both sections."""
    m, c = result.model, result.config
    io = "uint8 I/O" if m["fused_io"] else "float I/O"
    h, w = result.size
    ph, pw = result.padded_size
    calls = {result.model_only.calls, result.end_to_end.calls}
    lines = [
        f"{c.model.name}: {m['name']} ({m['task']}, {m['precision']}, {io})",
        f"runs on {result.machine['description']}",
        f"frames {h}x{w} (model runs at {ph}x{pw}), batch {c.batch}, "
        f"{' / '.join(str(n) for n in sorted(calls))} timed calls after {c.warmup} warm-up"
        + (f", {c.workers} in flight at once" if c.workers > 1 else ""),
        f"{'':12}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'calls/s':>10}{'frames/s':>10}",
        _row("model only", result.model_only),
        _row("end to end", result.end_to_end),
    ]
    return "\n".join(lines)


def _row(name: str, stats: LatencyStats) -> str:
    return (
        f"{name:12}{stats.p50_ms:>10.2f}{stats.p95_ms:>10.2f}{stats.p99_ms:>10.2f}"
        f"{stats.calls_per_s:>10.1f}{stats.frames_per_s:>10.1f}"
    )
