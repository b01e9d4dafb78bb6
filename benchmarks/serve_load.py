"""corr-serve under load: 16 concurrent clients on loopback, dynamic batching on against off.

The interpolation checkpoint is exported to ONNX in a temporary folder (or
``--model`` names an exported model) and served by a ``corr-serve`` process
on 127.0.0.1, twice: with dynamic batching (``--max-batch 8``, a small
queue delay) and without (``--max-batch 1``). Each time, ``--clients``
threads, each with its own ``tritonclient.http`` client, send frame pairs
(two consecutive real frames of the bikes clip, centre-cropped to
``--size``, as binary tensors) back to back for ``--seconds`` after a
warm-up. Reported per mode: completed requests, errors, throughput
(requests/s = interpolated frames/s), latency p50/p90/p99 (ms), and the
histogram of model-call batch sizes from the server's /metrics; then the
throughput ratio of batching on to off. Model-only throughput of the same
graph in this process (batch 1 and 8) is measured alongside for reference.
Everything runs on this machine, stops by itself, and writes
``benchmarks/results/serve_load.json``.

    python benchmarks/serve_load.py                      # the experiment checkpoint, 30 s per mode
    python benchmarks/serve_load.py --model m.onnx --seconds 3 --size 128x224
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime
import tritonclient.http as triton
from corrwise.atomic import atomic_output
from corrwise.runtime import Interpolator
from corrwise.runtime.samples import sample_video
from corrwise.runtime.scene import SceneCutDetector
from corrwise.runtime.serve.served import frames_to_tensor
from corrwise.runtime.video import read_frames
from prometheus_client.parser import text_string_to_metric_families

DEFAULT_CHECKPOINT = Path("benchmarks/results/experiment/interpolate/corrwise-l1/model.safetensors")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
CLIENT_TIMEOUT_S = 60.0


@dataclass
class ClientLog:
    """What one client saw: (start, latency) of each answered request (seconds), and errors by kind."""

    done: list[tuple[float, float]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


def frame_pair(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two consecutive real frames (bikes clip), centre-cropped (edge-padded when smaller) to (H, W)."""
    f0, f1 = list(read_frames(sample_video("bikes"), max_frames=2))
    return fit(f0, size), fit(f1, size)


def fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    ph, pw = max(0, h - frame.shape[0]), max(0, w - frame.shape[1])
    frame = np.pad(frame, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="edge")
    top, left = (frame.shape[0] - h) // 2, (frame.shape[1] - w) // 2
    return np.ascontiguousarray(frame[top : top + h, left : left + w])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model_dir: Path, port: int, max_batch: int, delay_ms: float, log: Path) -> subprocess.Popen:
    """A corr-serve process on 127.0.0.1:``port``; returns once it is ready."""
    command = [sys.executable, "-m", "corrwise.runtime.serve.cli", str(model_dir), "--port", str(port)]
    command += ["--max-batch", str(max_batch), "--max-delay-ms", str(delay_ms), "--log-level", "warning"]
    with open(log, "w") as stream:
        process = subprocess.Popen(command, stderr=stream, stdout=stream)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"corr-serve did not become ready; its log:\n{log.read_text()}")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def client_loop(
    address: str, model: str, pair: tuple[np.ndarray, np.ndarray], until: float, log: ClientLog
) -> None:
    """Send the pair back to back until ``until`` (perf_counter seconds); record each answer."""
    inputs = [triton.InferInput(n, [1, *pair[0].shape], "UINT8") for n in ("frame0", "frame1")]
    for tensor, frame in zip(inputs, pair, strict=True):
        tensor.set_data_from_numpy(frame[None], binary_data=True)
    outputs = [triton.InferRequestedOutput("frame", binary_data=True)]
    with triton.InferenceServerClient(address, network_timeout=CLIENT_TIMEOUT_S) as client:
        while (start := time.perf_counter()) < until:
            try:
                out = client.infer(model, inputs, outputs=outputs).as_numpy("frame")
                if out is None or out.shape != (1, *pair[0].shape):
                    raise ValueError(f"unexpected output {None if out is None else out.shape}")
            except Exception as err:  # every failure counts as an error of the run
                log.errors[type(err).__name__] = log.errors.get(type(err).__name__, 0) + 1
                continue
            log.done.append((start, time.perf_counter() - start))


def batch_counts(address: str, model: str) -> dict[int, int]:
    """Model calls so far by batch size, from the server's cumulative batch-size histogram."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    cumulative = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            le = sample.labels.get("le", "+Inf")
            if (
                sample.name == "corrwise_batch_size_bucket"
                and sample.labels["model"] == model
                and le != "+Inf"
            ):
                cumulative[int(float(le))] = int(sample.value)
    sizes = sorted(cumulative)
    return {s: cumulative[s] - (cumulative[sizes[i - 1]] if i else 0) for i, s in enumerate(sizes)}


def measure(address: str, model: str, pair: tuple, clients: int, warmup_s: float, seconds: float) -> dict:
    """Run ``clients`` clients for warm-up + ``seconds``; statistics of requests answered in the window."""
    start = time.perf_counter()
    window = (start + warmup_s, start + warmup_s + seconds)
    logs = [ClientLog() for _ in range(clients)]
    threads = [
        threading.Thread(target=client_loop, args=(address, model, pair, window[1], log), daemon=True)
        for log in logs
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, window[0] - time.perf_counter()))
    before = batch_counts(address, model)
    time.sleep(max(0.0, window[1] - time.perf_counter()))
    after = batch_counts(address, model)
    for thread in threads:
        thread.join(CLIENT_TIMEOUT_S + 5)
    latencies = sorted(lat for log in logs for t, lat in log.done if window[0] <= t + lat <= window[1])
    errors: dict[str, int] = {}
    for log in logs:
        for kind, n in log.errors.items():
            errors[kind] = errors.get(kind, 0) + n
    histogram = {
        str(s): after.get(s, 0) - before.get(s, 0) for s in after if after.get(s, 0) - before.get(s, 0)
    }
    calls = sum(histogram.values())
    return {
        "requests": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "throughput_rps": round(len(latencies) / seconds, 2),
        "frames_per_s": round(len(latencies) / seconds, 2),
        "latency_ms": {p: round(1000 * percentile(latencies, q), 1) for p, q in PERCENTILES.items()},
        "batch_size_histogram": histogram,
        "mean_batch_size": round(sum(int(s) * n for s, n in histogram.items()) / calls, 2) if calls else 0.0,
    }


PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99}


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of sorted ``values`` (nearest rank); 0 for none."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, int(np.ceil(q * len(values))) - 1))]


def model_only(model_path: Path, pair: tuple, seconds: float) -> dict[str, float]:
    """Frames/s of Interpolator.run in this process at batch 1 and 8 (padding and graph; no HTTP)."""
    result = {}
    with Interpolator(model_path) as interp:
        for batch in (1, 8):
            x0 = frames_to_tensor(np.stack([pair[0]] * batch), interp.contract)
            x1 = frames_to_tensor(np.stack([pair[1]] * batch), interp.contract)
            interp.run(x0, x1)  # warm-up
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                interp.run(x0, x1)
                calls += 1
            result[f"batch_{batch}_frames_per_s"] = round(batch * calls / (time.perf_counter() - start), 2)
    return result


def export(checkpoint: Path, folder: Path) -> Path:
    from corrwise.export import onnx_from_checkpoint  # needs the export extra; not needed with --model

    return onnx_from_checkpoint(checkpoint, folder / "interp.onnx")


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW in pixels, e.g. 256x448, got {text!r}") from None
    if h < 2 or w < 2:
        raise argparse.ArgumentTypeError(f"size must be at least 2x2, got {text!r}")
    return h, w


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="interpolation checkpoint"
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="an exported .onnx instead of the checkpoint"
    )
    parser.add_argument(
        "--size", type=parse_size, default=(256, 448), help="frame size HxW (default 256x448)"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per mode (default 30)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of load before measuring (default 3)"
    )
    parser.add_argument("--max-batch", type=int, default=8, help="max batch with batching on (default 8)")
    parser.add_argument("--max-delay-ms", type=float, default=2.0, help="batching delay, ms (default 2)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serve_load.json"))
    args = parser.parse_args()
    source = args.model or args.checkpoint
    if not source.is_file():
        parser.error(f"{source} does not exist: pass --checkpoint or --model")
    if args.clients < 1 or args.seconds <= 0 or args.warmup < 0 or args.max_batch < 2:
        parser.error("need --clients >= 1, --seconds > 0, --warmup >= 0 and --max-batch >= 2")
    return args


def run_modes(args: argparse.Namespace, model_dir: Path, pair: tuple) -> dict[str, dict]:
    modes = {"batching_on": (args.max_batch, args.max_delay_ms), "batching_off": (1, 0.0)}
    results = {}
    for mode, (max_batch, delay_ms) in modes.items():
        port = free_port()
        process = start_server(model_dir, port, max_batch, delay_ms, model_dir / f"{mode}.log")
        try:
            result = measure(f"127.0.0.1:{port}", "interp", pair, args.clients, args.warmup, args.seconds)
        finally:
            stop_server(process)
        results[mode] = {"max_batch": max_batch, "max_delay_ms": delay_ms, **result}
        print(f"{mode}: {json.dumps(results[mode])}", flush=True)
    return results


def main() -> None:
    args = arguments()
    pair = frame_pair(args.size)
    if SceneCutDetector().is_cut(*pair):
        raise SystemExit("the benchmark frames look like a scene cut; the model would not run")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "models"
        model_dir.mkdir()
        if args.model is not None:
            os.symlink(args.model.resolve(), model_dir / "interp.onnx")
        else:
            export(args.checkpoint, model_dir)
        reference = model_only(model_dir / "interp.onnx", pair, min(args.seconds, 5.0))
        print(f"model only: {reference}", flush=True)
        modes = run_modes(args, model_dir, pair)
    source = args.model or args.checkpoint
    on, off = modes["batching_on"]["throughput_rps"], modes["batching_off"]["throughput_rps"]
    report = {
        "model": source.as_posix() if not source.is_absolute() else source.name,
        "size_hw": list(args.size),
        "clients": args.clients,
        "seconds_per_mode": args.seconds,
        "warmup_seconds": args.warmup,
        "tensors": "binary (tritonclient.http, binary_data=True), one frame pair per request",
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
        },
        "model_only_in_process": reference,
        **modes,
        "throughput_ratio_on_off": round(on / off, 3) if off else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.out) as tmp_path:
        tmp_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"batching on/off throughput ratio: {report['throughput_ratio_on_off']}\nwrote {args.out}")


if __name__ == "__main__":
    main()
