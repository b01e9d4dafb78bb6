"""TensorRTRunner: pure parts and missing-dependency errors everywhere; real engines where a GPU is.

The tests marked ``requires_tensorrt`` build engines from the session's small
exported model and compare the engine's outputs with the PyTorch original at
shapes other than the export shape (32x48). They skip, saying what is
missing, when tensorrt does not import or there is no CUDA device.
"""

import dataclasses
import re
import shutil
import subprocess
import sys
import textwrap
from enum import IntEnum

import numpy as np
import pytest
from corrwise.contract import IOContract
from corrwise.errors import BackendUnavailable, ContractError, CorrwiseError, InputError
from corrwise.runtime import open_runner
from corrwise.runtime.backends import BACKENDS, TensorRTRunner
from corrwise.runtime.backends.cuda_device import (
    cuda_check,
    decode_device_name,
    is_success,
    load_cudart,
)
from corrwise.runtime.backends.tensorrt_backend import (
    TensorInfo,
    buffers_to_grow,
    engine_io_problem,
    tensor_nbytes,
)
from corrwise.runtime.backends.tensorrt_sidecar import (
    EngineKey,
    default_profile,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from corrwise.tolerances import compare

from tests.conftest import make_contract, requires_tensorrt

INSTALL_HINT = "pip install 'corrwise[gpu]'"
# The engine's profile; the export traced 32x48, the runs use other sizes inside the profile.
MIN_HW, OPT_HW, MAX_HW = (32, 32), (64, 96), (128, 192)
SHAPES = [(1, 40, 64), (2, 72, 128)]


def fake_engine(tmp_path, **contract_changes):
    """An engine file with a valid sidecar: enough to reach the backend's imports."""
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not a serialized engine")
    c = make_contract(**contract_changes)
    key = EngineKey(
        "NVIDIA GeForce RTX 4090", "8.9", "10.3.0", "fp32", default_profile(c, MIN_HW, OPT_HW, MAX_HW)
    )
    write_sidecar(engine, c, key)
    return engine


# ----------------------------------------------------------------------------- pure parts


def io(*tensors):
    return [TensorInfo(name, is_input, np.dtype(dtype)) for name, is_input, dtype in tensors]


def test_engine_io_matching_the_contract():
    tensors = io(("frame0", True, "float32"), ("frame1", True, "float32"), ("frame", False, "float32"))
    assert engine_io_problem(make_contract(), tensors) is None
    with_time = [*tensors, TensorInfo("t", True, np.dtype("float16"))]  # the timestep is cast, any dtype
    assert engine_io_problem(make_contract(timestep_input="t"), with_time) is None
    extra_output = [*tensors, TensorInfo("flow", False, np.dtype("float32"))]
    assert engine_io_problem(make_contract(), extra_output) is None


@pytest.mark.parametrize(
    ("tensors", "match"),
    [
        ((("frame0", True, "float32"), ("frame", False, "float32")), r"inputs are \['frame0'\]"),
        ((("frame0", True, "float32"), ("frame1", True, "float32"), ("out", False, "float32")), "no output"),
        ((("frame0", True, "float16"), ("frame1", True, "float32"), ("frame", False, "float32")), "float16"),
        ((("frame0", True, "float32"), ("frame1", True, "float32"), ("frame", False, "uint8")), "uint8"),
    ],
    ids=["missing-input", "missing-output", "input-dtype", "output-dtype"],
)
def test_engine_io_mismatch_is_explained(tensors, match):
    problem = engine_io_problem(make_contract(), io(*tensors))
    assert problem is not None
    assert re.search(match, problem), problem


def test_buffers_grow_only_when_needed():
    assert buffers_to_grow({}, {"a": 10, "b": 0}) == {"a": 10, "b": 0}
    assert buffers_to_grow({"a": 10, "b": 8}, {"a": 10, "b": 4}) == {}
    assert buffers_to_grow({"a": 10, "b": 8}, {"a": 12, "b": 4}) == {"a": 12}


def test_tensor_nbytes():
    assert tensor_nbytes((2, 3, 40, 64), np.dtype("float32")) == 2 * 3 * 40 * 64 * 4
    assert tensor_nbytes((1, 40, 64, 3), np.dtype("uint8")) == 40 * 64 * 3
    with pytest.raises(ContractError, match="undetermined"):
        tensor_nbytes((1, 3, -1, 64), np.dtype("float32"))


class FakeCudaError(IntEnum):
    """Stands in for cuda-python's cudaError_t enum in the unwrapping helpers (pure functions)."""

    cudaSuccess = 0
    cudaErrorNoDevice = 100


def test_cuda_result_unwrapping():
    assert is_success(FakeCudaError.cudaSuccess) and is_success(0)
    assert not is_success(FakeCudaError.cudaErrorNoDevice)
    assert cuda_check((FakeCudaError.cudaSuccess,), "x") is None
    assert cuda_check((FakeCudaError.cudaSuccess, 42), "x") == 42
    assert cuda_check((0, 1, 2), "x") == (1, 2)
    with pytest.raises(CorrwiseError, match="cudaGetDeviceCount failed with cudaErrorNoDevice"):
        cuda_check((FakeCudaError.cudaErrorNoDevice, 0), "cudaGetDeviceCount")


def test_device_name_decoding():
    assert decode_device_name(b"NVIDIA H100 80GB HBM3\x00\x00\x00garbage") == "NVIDIA H100 80GB HBM3"
    assert decode_device_name("NVIDIA L4 ") == "NVIDIA L4"


# ----------------------------------------------------------------------------- without tensorrt


def test_registered_as_tensorrt_backend():
    assert BACKENDS["tensorrt"] is TensorRTRunner
    assert TensorRTRunner.backend == "tensorrt"


BLOCK_GPU = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockGpu(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorrt", "cuda"):
                raise ImportError(f"{name} is blocked in this test", name=name)
            return None

    sys.meta_path.insert(0, BlockGpu())
    """
)


def test_module_imports_and_refuses_cleanly_without_tensorrt(tmp_path):
    engine = fake_engine(tmp_path)
    code = BLOCK_GPU + textwrap.dedent(
        f"""
        import corrwise.runtime
        from corrwise.errors import BackendUnavailable
        from corrwise.runtime.backends import BACKENDS
        from corrwise.runtime.backends.tensorrt_backend import TensorRTRunner
        assert BACKENDS["tensorrt"] is TensorRTRunner
        assert not any(m.split(".")[0] in ("tensorrt", "cuda") for m in sys.modules)
        try:
            corrwise.runtime.open_runner({str(engine)!r}, backend="tensorrt")
        except BackendUnavailable as err:
            print(err)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "'tensorrt'" in proc.stdout and INSTALL_HINT in proc.stdout


def test_open_without_tensorrt_is_backend_unavailable(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # None in sys.modules: import fails as if absent
    engine = fake_engine(tmp_path)
    runner = TensorRTRunner(engine)
    with pytest.raises(BackendUnavailable, match=r"tensorrt backend needs 'tensorrt'.*corrwise\[gpu\]"):
        runner.open()
    assert not runner.is_open


def test_missing_cuda_python_names_the_extra(monkeypatch):
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(BackendUnavailable, match=r"needs cuda-python.*pip install 'corrwise\[gpu\]'"):
        load_cudart("the tensorrt backend")


def test_engine_without_sidecar_is_a_contract_error(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"engine bytes")
    with pytest.raises(ContractError, match=r"no sidecar.*corr-export trt"):
        TensorRTRunner(engine).open()


def test_missing_engine_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        TensorRTRunner(tmp_path / "absent.engine").open()


def test_infer_before_open_says_so(tmp_path):
    with pytest.raises(CorrwiseError, match="not open"):
        TensorRTRunner(fake_engine(tmp_path)).infer({})


# ----------------------------------------------------------------------------- real TensorRT


@pytest.fixture(scope="module")
def engines(onnx_path, checkpoint_path, tmp_path_factory):
    """fp32 and fp16 engines of the session model, profile 32x32 .. 128x192, batch up to 2."""
    from corrwise.export.onnx_export import OnnxOptions, onnx_from_checkpoint
    from corrwise.export.tensorrt_engine import engine_from_onnx, enum_names
    from corrwise.runtime.backends.cuda_device import load_tensorrt

    out = tmp_path_factory.mktemp("trt")
    fp16_source = onnx_path
    if "FP16" not in enum_names(load_tensorrt("tests").BuilderFlag):  # TensorRT 11: strongly typed only
        fp16_source = onnx_from_checkpoint(
            checkpoint_path, out / "model.fp16.onnx", options=OnnxOptions(fp16=True)
        )
    sizes = {"min_hw": MIN_HW, "opt_hw": OPT_HW, "max_hw": MAX_HW, "max_batch": 2}
    return {
        "fp32": engine_from_onnx(onnx_path, out / "model.fp32.engine", **sizes),
        "fp16": engine_from_onnx(fp16_source, out / "model.fp16.engine", fp16=True, **sizes),
    }


def random_inputs(c: IOContract, n: int, h: int, w: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {name: rng.uniform(-1, 1, size=(n, 3, h, w)).astype(np.float32) for name in c.input_names}
    if c.timestep_input:
        inputs[c.timestep_input] = np.full((n, 1, 1, 1), 0.25, dtype=np.float32)
    return inputs


def reference(checkpoint_path, c: IOContract, inputs: dict[str, np.ndarray]) -> np.ndarray:
    import torch
    from corrwise.models import load_checkpoint

    model = load_checkpoint(checkpoint_path).model
    names = [*c.input_names, *([c.timestep_input] if c.timestep_input else [])]
    with torch.no_grad():
        return model(*(torch.from_numpy(inputs[name]) for name in names)).numpy()


@requires_tensorrt
@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_engine_matches_pytorch(engines, checkpoint_path, precision, shape):
    with TensorRTRunner(engines[precision]) as runner:
        c = runner.contract
        assert c.precision == precision and runner.engine_key.precision == precision
        inputs = random_inputs(c, *shape, seed=sum(shape))
        out = runner.infer(inputs)[c.output_names[0]]
    ref = reference(checkpoint_path, c, inputs)
    assert out.shape == ref.shape == (shape[0], 3, shape[1], shape[2])
    result = compare(ref, out, "tensorrt", precision)
    assert result.passed, result


@requires_tensorrt
@pytest.mark.slow
def test_buffers_are_reused_and_grow(engines, checkpoint_path):
    with TensorRTRunner(engines["fp32"]) as runner:
        c = runner.contract
        small, large = random_inputs(c, 1, 40, 64, 1), random_inputs(c, 2, 72, 128, 2)
        runner.infer(small)
        first = {name: buffer.ptr for name, buffer in runner._buffers.items()}
        runner.infer(random_inputs(c, 1, 40, 64, 3))
        assert {name: buffer.ptr for name, buffer in runner._buffers.items()} == first  # reused
        out_large = runner.infer(large)[c.output_names[0]]
        out_small = runner.infer(small)[c.output_names[0]]  # smaller again: runs in the grown buffers
    assert compare(reference(checkpoint_path, c, large), out_large, "tensorrt", "fp32").passed
    assert compare(reference(checkpoint_path, c, small), out_small, "tensorrt", "fp32").passed


@requires_tensorrt
@pytest.mark.slow
def test_cuda_graph_replays_the_same_results(engines, checkpoint_path):
    with (
        TensorRTRunner(engines["fp32"]) as plain,
        TensorRTRunner(engines["fp32"], cuda_graph=True) as graphed,
    ):
        c = plain.contract
        for seed, shape in enumerate([SHAPES[0], SHAPES[0], SHAPES[1], SHAPES[1], SHAPES[0]]):
            inputs = random_inputs(c, *shape, seed=seed)
            expected = plain.infer(inputs)[c.output_names[0]]
            got = graphed.infer(inputs)[c.output_names[0]]
            assert graphed.graph_active, graphed._graph_failure  # captured after the first run at a shape
            assert compare(expected, got, "tensorrt", "fp32").passed
            assert compare(reference(checkpoint_path, c, inputs), got, "tensorrt", "fp32").passed


@requires_tensorrt
@pytest.mark.slow
def test_shape_outside_the_profile_is_an_input_error(engines):
    with TensorRTRunner(engines["fp32"]) as runner:
        inputs = random_inputs(runner.contract, 1, 40, 256, 0)  # max width is 192
        with pytest.raises(InputError, match=r"accepts shapes from .*--max-shape"):
            runner.infer(inputs)
        inputs = random_inputs(runner.contract, 3, 40, 64, 0)  # max batch is 2
        with pytest.raises(InputError, match="accepts shapes"):
            runner.infer(inputs)


@requires_tensorrt
@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"tensorrt_version": "0.0.1"}, "TensorRT version"),
        ({"compute_capability": "1.0"}, "compute capability"),
        ({"gpu_name": "Some Other GPU"}, "tunes its kernels"),
    ],
    ids=["tensorrt", "capability", "gpu"],
)
def test_engine_for_another_machine_is_refused(engines, tmp_path, change, match):
    engine = tmp_path / "copy.engine"
    shutil.copyfile(engines["fp32"], engine)
    c, key = read_sidecar(engines["fp32"])
    write_sidecar(engine, c, dataclasses.replace(key, **change))
    with pytest.raises(ContractError, match=match) as info:
        TensorRTRunner(engine).open()
    assert "corr-export trt" in str(info.value)


@requires_tensorrt
@pytest.mark.slow
def test_open_runner_and_corrupt_engine(engines, tmp_path):
    with open_runner(engines["fp16"], backend="tensorrt", cuda_graph=True) as runner:
        assert isinstance(runner, TensorRTRunner) and runner.cuda_graph
    engine = tmp_path / "corrupt.engine"
    engine.write_bytes(b"\x00" * 64)
    c, key = read_sidecar(engines["fp32"])
    write_sidecar(engine, c, key)
    with pytest.raises(InputError, match="could not deserialise"):
        TensorRTRunner(engine).open()
    assert sidecar_path(engine).exists()
