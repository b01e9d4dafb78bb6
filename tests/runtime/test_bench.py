"""corr-bench: percentiles, timing, both sections on both tasks, the JSON result and bad input."""

import json
import threading
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from corrwise.errors import ConfigError
from corrwise.export import OnnxOptions, onnx_from_checkpoint, pt2_from_checkpoint
from corrwise.models import build_model, save_checkpoint
from corrwise.runtime.bench import (
    BenchConfig,
    LatencyStats,
    padded_size,
    percentile,
    run_bench,
    run_frames,
    time_calls,
    time_calls_concurrently,
)
from corrwise.runtime.bench_cli import main

from tests.conftest import make_contract

FAST = ["--iters", "3", "--warmup", "1", "--threads", "1"]


def bench(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def predict_pt2(tmp_path_factory):
    """A small three-frame prediction model as a .pt2 program."""
    folder = tmp_path_factory.mktemp("predict")
    model = build_model("video-predictor-3d", {"ngf": 4, "n_down": 2})
    ckpt = save_checkpoint(folder / "model.safetensors", model, "video-predictor-3d", {"loss": "l1"})
    return pt2_from_checkpoint(ckpt, folder / "model.pt2")


# ----------------------------------------------------------------------------- statistics


def test_percentile_on_known_data():
    data = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(data, 0) == 1.0 and percentile(data, 100) == 5.0
    assert percentile(data, 50) == 3.0 and percentile(data, 25) == 2.0
    assert percentile(data, 95) == pytest.approx(4.8) and percentile(data, 99) == pytest.approx(4.96)
    assert percentile([7.0], 99) == 7.0
    rng = np.random.default_rng(0)
    sample = list(rng.exponential(size=101))
    for q in (1, 50, 90, 95, 99):
        assert percentile(sample, q) == pytest.approx(np.percentile(sample, q))


def test_percentile_refuses_no_samples_and_bad_q():
    with pytest.raises(ConfigError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ConfigError, match=r"\[0, 100\]"):
        percentile([1.0], 101)


def test_latency_stats_from_known_durations():
    stats = LatencyStats.from_samples([0.001, 0.002, 0.003, 0.004], batch=4)
    assert stats.calls == 4 and stats.mean_ms == pytest.approx(2.5)
    assert (stats.min_ms, stats.max_ms) == pytest.approx((1.0, 4.0))
    assert stats.p50_ms == pytest.approx(2.5) and stats.p99_ms == pytest.approx(3.97)
    assert stats.calls_per_s == pytest.approx(400.0) and stats.frames_per_s == pytest.approx(1600.0)


def test_time_calls_counts_warmup_and_timed_calls():
    calls, ticks = [], []
    samples = time_calls(
        lambda: calls.append(1), warmup=2, iters=5, seconds=None, tick=lambda: ticks.append(1)
    )
    assert len(samples) == 5 and len(calls) == len(ticks) == 7 and all(s >= 0 for s in samples)
    timed = time_calls(lambda: None, warmup=0, iters=None, seconds=0.01, tick=lambda: None)
    assert len(timed) >= 1


def test_latency_stats_of_overlapping_calls_count_calls_over_wall_time():
    stats = LatencyStats.from_samples([0.002] * 4, batch=2, wall_s=0.004)  # two at a time
    assert stats.mean_ms == pytest.approx(2.0) and stats.calls_per_s == pytest.approx(1000.0)
    assert stats.frames_per_s == pytest.approx(2000.0)


def test_concurrent_timing_overlaps_calls_and_counts_them():
    meet = threading.Barrier(2, timeout=10)  # raises unless two calls are in flight together
    ticks = []
    samples, wall = time_calls_concurrently(
        meet.wait, warmup=0, iters=6, seconds=None, tick=lambda: ticks.append(1), workers=2
    )
    assert len(samples) == len(ticks) == 6 and wall > 0 and all(s >= 0 for s in samples)
    timed, _ = time_calls_concurrently(lambda: None, 1, None, 0.01, lambda: None, workers=3)
    assert len(timed) >= 1


def test_concurrent_timing_raises_a_call_error():
    calls = []

    def fail_third() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("third call fails")

    with pytest.raises(RuntimeError, match="third call fails"):
        time_calls_concurrently(fail_third, warmup=0, iters=100, seconds=None, tick=lambda: None, workers=2)
    assert len(calls) < 100


def test_padded_size_rounds_to_align_and_checks_a_static_size():
    assert padded_size(make_contract(), (250, 441)) == (256, 448)
    assert padded_size(make_contract(static_hw=(48, 64)), (40, 64)) == (48, 64)
    with pytest.raises(ConfigError, match="exported for 48x64 frames only"):
        padded_size(make_contract(static_hw=(48, 64)), (56, 64))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"batch": 0}, "batch must be >= 1"),
        ({"iters": 3, "seconds": 1.0}, "not both"),
        ({"backend": "tensorrt", "providers": ("cuda",)}, "providers apply to ONNX Runtime only"),
        ({"backend": "openvino"}, "backend must be one of"),
        ({"size": (1, 64)}, "at least 2x2"),
        ({"workers": 0}, "workers must be an integer >= 1"),
    ],
)
def test_bench_config_refuses_bad_settings(changes, match):
    with pytest.raises(ConfigError, match=match):
        BenchConfig(model=Path("m.onnx"), **changes)


# ----------------------------------------------------------------------------- sections


def check_section(section, batch):
    assert section["calls"] >= 1
    assert 0 < section["min_ms"] <= section["p50_ms"] <= section["p95_ms"] <= section["p99_ms"]
    assert section["p99_ms"] <= section["max_ms"]
    assert section["calls_per_s"] > 0 and section["frames_per_s"] > 0
    assert section["frames_per_s"] == pytest.approx(batch * section["calls_per_s"], abs=0.001 * (batch + 1))


def test_corr_bench_writes_both_sections_and_the_facts_to_json(onnx_path, tmp_path):
    out = tmp_path / "bench.json"
    result = bench("--model", onnx_path, "--size", "37x61", "--batch", "2", *FAST, "--json", out)
    assert result.exit_code == 0, result.output
    assert "model only" in result.output and "end to end" in result.output and f"wrote {out}" in result.output
    data = json.loads(out.read_text())
    machine = data["machine"]
    assert machine["cpu_count"] >= 1 and machine["platform"] and machine["onnxruntime"]
    assert machine["providers"] == ["CPUExecutionProvider"]
    assert machine["description"].startswith("onnxruntime (CPUExecutionProvider, 1 thread)")
    model = data["model"]
    assert (model["name"], model["task"], model["precision"], model["fused_io"]) == (
        "edge-unet",
        "interpolate",
        "fp32",
        False,
    )
    assert data["size"] == [37, 61] and data["padded_size"] == [40, 64] and data["batch"] == 2
    assert data["settings"]["iters"] == 3
    for name in ("model_only", "end_to_end"):
        assert data[name]["calls"] == 3
        check_section(data[name], batch=2)


def test_corr_bench_with_workers_times_every_call_of_every_thread(onnx_path, tmp_path):
    out = tmp_path / "bench.json"
    result = bench("--model", onnx_path, "--size", "48x64", "--workers", "2", *FAST, "--json", out)
    assert result.exit_code == 0, result.output
    assert "2 in flight at once" in result.output
    data = json.loads(out.read_text())
    assert data["settings"]["workers"] == 2
    for name in ("model_only", "end_to_end"):
        assert data[name]["calls"] == 3
        check_section(data[name], batch=1)


def test_run_bench_on_a_prediction_model_with_the_pytorch_backend(predict_pt2):
    config = BenchConfig(model=predict_pt2, backend="pytorch", size=(30, 40), batch=3, warmup=1, iters=2)
    result = run_bench(config).to_dict()
    assert result["model"]["task"] == "predict" and result["model"]["inputs"] == [
        "frame0",
        "frame1",
        "frame2",
    ]
    assert result["machine"]["backend"] == "pytorch" and result["machine"]["torch"]
    assert result["padded_size"] == [32, 40]
    for name in ("model_only", "end_to_end"):
        check_section(result[name], batch=3)


def test_seconds_mode_times_at_least_one_call(onnx_path):
    config = BenchConfig(model=onnx_path, size=(24, 32), warmup=0, seconds=0.05, threads=1)
    result = run_bench(config)
    assert result.model_only.calls >= 1 and result.end_to_end.calls >= 1
    assert result.to_dict()["settings"]["seconds"] == 0.05 and result.to_dict()["settings"]["iters"] is None


def test_run_frames_returns_uint8_frames_of_the_input_size(onnx_path):
    from corrwise.runtime.backends import open_runner

    rng = np.random.default_rng(1)
    frames = {
        n: [rng.integers(0, 256, (37, 61, 3), dtype=np.uint8) for _ in range(2)] for n in ("frame0", "frame1")
    }
    with open_runner(onnx_path) as runner:
        out = run_frames(runner, frames)
    assert len(out) == 2 and all(f.shape == (37, 61, 3) and f.dtype == np.uint8 for f in out)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_exits_2_with_a_message(onnx_path, tmp_path):
    missing = bench("--model", tmp_path / "missing.onnx", *FAST)
    assert missing.exit_code == 2 and "does not exist" in missing.output
    size = bench("--model", onnx_path, "--size", "48by64", *FAST)
    assert size.exit_code == 2 and "HxW" in size.output
    batch = bench("--model", onnx_path, "--batch", "0", *FAST)
    assert batch.exit_code == 2 and "batch must be >= 1" in batch.output
    both = bench("--model", onnx_path, "--seconds", "1", *FAST)
    assert both.exit_code == 2 and "not both" in both.output
    provider = bench("--model", onnx_path, "--providers", "gpu", *FAST)
    assert provider.exit_code == 2 and "unknown execution provider 'gpu'" in provider.output
    suffix = tmp_path / "model.bin"
    suffix.write_bytes(b"x")
    unknown = bench("--model", suffix, *FAST)
    assert unknown.exit_code == 2 and "suffix" in unknown.output
    assert not list(tmp_path.glob("*.json"))


def test_a_size_larger_than_a_static_model_exits_2(checkpoint_path, tmp_path):
    static = onnx_from_checkpoint(
        checkpoint_path, tmp_path / "s.onnx", options=OnnxOptions(static_hw=(48, 64))
    )
    result = bench("--model", static, "--size", "56x64", *FAST)
    assert result.exit_code == 2 and "exported for 48x64 frames only" in result.output
    fits = bench("--model", static, "--size", "40x60", *FAST)
    assert fits.exit_code == 0, fits.output
    assert "model runs at 48x64" in fits.output


def test_help_explains_every_option():
    result = bench("--help")
    assert result.exit_code == 0 and "model only" in result.output and "end to end" in result.output
    options = [p for p in main.params if isinstance(p, click.Option)]
    names = {"model", "backend", "providers", "size", "batch", "warmup", "iters", "seconds", "json_path"}
    assert {o.name for o in options} >= names
    assert [o.name for o in options if not o.help] == []
