"""engine_from_onnx: its pure decisions and refusals everywhere; real builds where a GPU is.

The tests marked ``requires_tensorrt`` build real engines; they skip, saying
what is missing, when tensorrt does not import or there is no CUDA device.
"""

import sys
from enum import IntEnum

import numpy as np
import onnx
import pytest
from corrwise.contract import IOContract
from corrwise.errors import BackendUnavailable, ConfigError, ContractError, ExportError, InputError
from corrwise.export.tensorrt_engine import (
    BuildPlan,
    build_plan,
    check_build_options,
    check_precision_request,
    check_tensorrt_quantisation,
    engine_from_onnx,
    enum_names,
    graph_has_qdq,
    precision_label,
    profile_input_problem,
    read_onnx,
    unsigned_zero_points,
)
from corrwise.runtime.backends.tensorrt_sidecar import default_profile
from corrwise.tolerances import compare
from onnx import TensorProto, helper

from tests.conftest import make_contract, requires_tensorrt

SIZES = {"min_hw": (32, 32), "opt_hw": (64, 96), "max_hw": (128, 192)}

# Member names of tensorrt.BuilderFlag / NetworkDefinitionCreationFlag in 10.x and 11.x.
TRT10_BUILDER = {"FP16", "INT8", "BF16", "TF32", "REFIT", "STRICT_TYPES", "DIRECT_IO"}
TRT10_NETWORK = {"EXPLICIT_BATCH", "STRONGLY_TYPED"}
TRT11_BUILDER = {"TF32", "REFIT", "DEBUG"}
TRT11_NETWORK = {"STRONGLY_TYPED"}


def add_contract(**changes) -> IOContract:
    return make_contract(
        **{"model_name": "tiny-add", "model_config": {}, "training_loss": "unknown", **changes}
    )


def tiny_onnx(path, contract: IOContract | None = None, op: str = "Add", qdq: str | None = None):
    """frame = frame0 (through Q/DQ when ``qdq``) <op> frame1, float32 (N, 3, H, W).

    ``contract`` goes into the metadata; None leaves the model without one. ``qdq``:
    ``"int8"`` (symmetric, as TensorRT takes) or ``"uint8"`` (ONNX Runtime CPU style).
    """
    dims = ["batch", 3, "height", "width"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, dims) for n in ("frame0", "frame1")]
    output = helper.make_tensor_value_info("frame", TensorProto.FLOAT, dims)
    nodes, inits, first = [], [], "frame0"
    if qdq:
        inits = [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [1.0 / 127]),
            helper.make_tensor("zero", getattr(TensorProto, qdq.upper()), [], [0 if qdq == "int8" else 128]),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["frame0", "scale", "zero"], ["q0"]),
            helper.make_node("DequantizeLinear", ["q0", "scale", "zero"], ["dq0"]),
        ]
        first = "dq0"
    domain = "" if op == "Add" else "corrwise.test"
    nodes.append(helper.make_node(op, [first, "frame1"], ["frame"], domain=domain))
    graph = helper.make_graph(nodes, "tiny", inputs, [output], initializer=inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    if contract is not None:
        helper.set_model_props(model, contract.to_metadata())
    onnx.save(model, str(path))
    return path


# ----------------------------------------------------------------------------- pure decisions


def test_precision_label():
    assert precision_label(False, False) == "fp32"
    assert precision_label(True, False) == "fp16"
    assert precision_label(False, True) == "int8"
    assert precision_label(True, True) == "int8"


def test_graph_has_qdq():
    assert graph_has_qdq(["Conv", "QuantizeLinear", "DequantizeLinear"])
    assert graph_has_qdq(["DequantizeLinear"])
    assert not graph_has_qdq(["Conv", "Relu", "Resize"])


def test_precision_requests_that_fit():
    check_precision_request(False, False, "fp32", False, "m.onnx")
    check_precision_request(True, False, "fp32", False, "m.onnx")
    check_precision_request(True, False, "fp16", False, "m.onnx")
    check_precision_request(False, True, "fp32", True, "m.onnx")
    check_precision_request(True, True, "int8", True, "m.onnx")


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (
            (False, True, "fp32", False),
            r"needs the Q/DQ model from `corr-export int8`.*corr-export int8 m\.onnx",
        ),
        ((False, False, "fp32", True), "is quantised.*build it with --int8"),
        ((True, False, "int8", True), "build it with --int8"),
        ((False, False, "fp16", False), "half-precision graph.*--fp16"),
    ],
    ids=["int8-without-qdq", "qdq-without-int8", "qdq-with-fp16-only", "fp16-graph-as-fp32"],
)
def test_precision_requests_that_do_not_fit(request_, match):
    with pytest.raises(ConfigError, match=match):
        check_precision_request(*request_, "m.onnx")


def test_build_plan_tensorrt10_uses_builder_flags():
    plan = build_plan(False, False, "fp32", TRT10_BUILDER, TRT10_NETWORK)
    assert plan == BuildPlan(strongly_typed=False, set_flags=(), clear_flags=("TF32",))
    assert build_plan(True, False, "fp32", TRT10_BUILDER, TRT10_NETWORK).set_flags == ("FP16",)
    assert build_plan(True, False, "fp16", TRT10_BUILDER, TRT10_NETWORK).set_flags == ("FP16",)
    assert build_plan(False, True, "fp32", TRT10_BUILDER, TRT10_NETWORK).set_flags == ("INT8",)
    both = build_plan(True, True, "int8", TRT10_BUILDER, TRT10_NETWORK)
    assert both.set_flags == ("INT8", "FP16") and both.clear_flags == () and not both.strongly_typed


def test_build_plan_tensorrt11_is_strongly_typed():
    fp32 = build_plan(False, False, "fp32", TRT11_BUILDER, TRT11_NETWORK)
    assert fp32 == BuildPlan(True, network_flags=("STRONGLY_TYPED",), clear_flags=("TF32",))
    fp16 = build_plan(True, False, "fp16", TRT11_BUILDER, TRT11_NETWORK)
    assert fp16 == BuildPlan(True, network_flags=("STRONGLY_TYPED",))
    int8 = build_plan(False, True, "int8", TRT11_BUILDER, set())  # flag gone entirely: the default
    assert int8 == BuildPlan(True)


def test_build_plan_tensorrt11_refuses_fp16_from_a_float32_graph():
    with pytest.raises(
        ExportError, match=r"TensorRT 11\.0\.0 builds strongly typed.*corr-export onnx --fp16"
    ):
        build_plan(True, False, "fp32", TRT11_BUILDER, TRT11_NETWORK, "11.0.0")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ((0, None, None), "max_batch"),
        ((1, 6, None), "opt_level must be 0..5"),
        ((1, -1, None), "opt_level"),
        ((1, None, 0), "workspace_mb"),
    ],
)
def test_bad_build_options(options, match):
    with pytest.raises(ConfigError, match=match):
        check_build_options(*options)


def test_good_build_options():
    check_build_options(1, None, None)
    check_build_options(8, 0, 1)
    check_build_options(1, 5, 4096)


def test_profile_input_problem():
    profile = default_profile(add_contract(), **SIZES)
    assert profile_input_problem(profile, ["frame1", "frame0"]) is None
    problem = profile_input_problem(profile, ["frame0", "x"])
    assert "['frame0', 'frame1']" in problem and "['frame0', 'x']" in problem


class FakeFlag(IntEnum):
    FP16 = 0
    TF32 = 7


def test_enum_names():
    assert enum_names(FakeFlag) == {"FP16", "TF32"}


# ----------------------------------------------------------------------------- reading ONNX


def test_read_onnx_of_an_exported_model(onnx_path):
    facts = read_onnx(onnx_path)
    assert facts.contract.model_name == "edge-unet" and facts.contract.precision == "fp32"
    assert not facts.has_qdq and facts.uint8_zero_points == ()


def test_read_onnx_finds_qdq(tmp_path):
    facts = read_onnx(tiny_onnx(tmp_path / "q.onnx", add_contract(precision="int8"), qdq="int8"))
    assert facts.has_qdq and facts.contract.precision == "int8" and facts.uint8_zero_points == ()
    facts = read_onnx(tiny_onnx(tmp_path / "u.onnx", add_contract(precision="int8"), qdq="uint8"))
    assert facts.has_qdq and facts.uint8_zero_points == ("zero",)


def test_unsigned_zero_points():
    nodes = [
        ("QuantizeLinear", ["x", "s", "zp_u8"]),
        ("DequantizeLinear", ["q", "s", "zp_i8"]),
        ("DequantizeLinear", ["w", "s"]),  # no zero point: int8, 0
        ("Add", ["a", "zp_other"]),
    ]
    types = {"zp_u8": TensorProto.UINT8, "zp_i8": TensorProto.INT8, "zp_other": TensorProto.UINT8}
    assert unsigned_zero_points(nodes, types) == ("zp_u8",)
    check_tensorrt_quantisation((), "m.onnx")
    with pytest.raises(ConfigError, match=r"uint8 \(e\.g\. 'zp_u8'.*--target tensorrt"):
        check_tensorrt_quantisation(("zp_u8",), "m.onnx")


def test_cpu_quantised_model_is_refused_for_tensorrt(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # the refusal comes before TensorRT is needed
    model = tiny_onnx(tmp_path / "u.onnx", add_contract(precision="int8"), qdq="uint8")
    with pytest.raises(ConfigError, match="--target tensorrt"):
        engine_from_onnx(model, tmp_path / "u.engine", int8=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.onnx"]


# ----------------------------------------------------------------------------- refusals (no GPU needed)


def test_without_tensorrt_is_backend_unavailable_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # None in sys.modules: import fails as if absent
    model = tiny_onnx(tmp_path / "m.onnx", add_contract())
    with pytest.raises(
        BackendUnavailable, match=r"corr-export trt needs 'tensorrt'.*pip install 'corrwise\[gpu\]'"
    ):
        engine_from_onnx(model, tmp_path / "m.engine", **SIZES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_exported_model_without_tensorrt(onnx_path, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendUnavailable, match=r"pip install 'corrwise\[gpu\]'"):
        engine_from_onnx(onnx_path, tmp_path / "model.engine", fp16=True, timing_cache=tmp_path / "cache")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"int8": True}, ConfigError, "Q/DQ model"),
        ({"min_hw": (30, 32)}, ConfigError, "alignment 8"),
        ({"min_hw": (128, 128), "max_hw": (64, 64)}, ConfigError, "min <= opt <= max"),
        ({"opt_level": 9}, ConfigError, "opt_level"),
        ({"max_batch": 0}, ConfigError, "max_batch"),
    ],
    ids=["int8-without-qdq", "unaligned", "inverted", "opt-level", "batch"],
)
def test_bad_requests_fail_before_tensorrt(tmp_path, kwargs, error, match):
    model = tiny_onnx(tmp_path / "m.onnx", add_contract())
    with pytest.raises(error, match=match):
        engine_from_onnx(model, tmp_path / "m.engine", **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_quantised_model_needs_int8(tmp_path):
    model = tiny_onnx(tmp_path / "q.onnx", add_contract(precision="int8"), qdq="int8")
    with pytest.raises(ConfigError, match="--int8"):
        engine_from_onnx(model, tmp_path / "q.engine")


def test_missing_unreadable_and_contractless_models(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        engine_from_onnx(tmp_path / "absent.onnx", tmp_path / "m.engine")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\x00 not protobuf")
    with pytest.raises(InputError, match="not a readable ONNX model"):
        engine_from_onnx(garbage, tmp_path / "m.engine")
    with pytest.raises(ContractError, match="corr-export onnx"):
        engine_from_onnx(tiny_onnx(tmp_path / "bare.onnx"), tmp_path / "m.engine")
    model = tiny_onnx(tmp_path / "m.onnx", add_contract())
    with pytest.raises(ConfigError, match="must not overwrite"):
        engine_from_onnx(model, model)
    assert not (tmp_path / "m.engine").exists()


# ----------------------------------------------------------------------------- real TensorRT


@requires_tensorrt
@pytest.mark.slow
def test_fp32_build_writes_engine_sidecar_and_timing_cache(onnx_path, tmp_path):
    from corrwise.runtime.backends.cuda_device import machine_info
    from corrwise.runtime.backends.tensorrt_sidecar import key_mismatch, read_sidecar

    cache = tmp_path / "timing.cache"
    engine = engine_from_onnx(onnx_path, tmp_path / "model.engine", timing_cache=cache, max_batch=2, **SIZES)
    assert engine == tmp_path / "model.engine" and engine.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine", "model.engine.json", "timing.cache"]
    contract, key = read_sidecar(engine)
    source = read_onnx(onnx_path).contract
    assert contract == source and key.precision == "fp32"
    assert key.profile == default_profile(source, **SIZES, batch=(1, 1, 2))
    assert key_mismatch(key, machine_info()) is None
    assert cache.stat().st_size > 0
    rebuilt = engine_from_onnx(
        onnx_path, engine, timing_cache=cache, max_batch=2, **SIZES
    )  # reuses the cache
    assert read_sidecar(rebuilt)[1].digest() == key.digest()


@requires_tensorrt
@pytest.mark.slow
def test_fp16_build_records_the_engine_precision(onnx_path, checkpoint_path, tmp_path):
    from corrwise.export.onnx_export import OnnxOptions, onnx_from_checkpoint
    from corrwise.runtime.backends.cuda_device import load_tensorrt
    from corrwise.runtime.backends.tensorrt_sidecar import read_sidecar

    source = onnx_path
    if "FP16" not in enum_names(load_tensorrt("tests").BuilderFlag):  # TensorRT 11: precision from the graph
        source = onnx_from_checkpoint(checkpoint_path, tmp_path / "half.onnx", options=OnnxOptions(fp16=True))
    engine = engine_from_onnx(source, tmp_path / "model.fp16.engine", fp16=True, **SIZES)
    contract, key = read_sidecar(engine)
    assert contract.precision == key.precision == "fp16"


@requires_tensorrt
@pytest.mark.slow
def test_int8_build_from_a_qdq_graph_runs(tmp_path):
    from corrwise.runtime.backends.tensorrt_backend import TensorRTRunner

    model = tiny_onnx(tmp_path / "q.onnx", add_contract(precision="int8"), qdq="int8")
    engine = engine_from_onnx(model, tmp_path / "q.engine", int8=True, **SIZES)
    rng = np.random.default_rng(0)
    x0, x1 = (rng.uniform(-0.5, 0.5, size=(1, 3, 40, 64)).astype(np.float32) for _ in range(2))
    with TensorRTRunner(engine) as runner:
        assert runner.contract.precision == "int8"
        out = runner.infer({"frame0": x0, "frame1": x1})["frame"]
    result = compare(x0 + x1, out, "tensorrt", "int8")
    assert result.passed, result


@requires_tensorrt
@pytest.mark.slow
def test_parser_failure_is_an_export_error_and_writes_nothing(tmp_path):
    model = tiny_onnx(tmp_path / "odd.onnx", add_contract(), op="NoSuchOperator")
    with pytest.raises(ExportError, match=r"ONNX parser rejected .*NoSuchOperator"):
        engine_from_onnx(model, tmp_path / "odd.engine", **SIZES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.onnx"]


@requires_tensorrt
@pytest.mark.slow
def test_rebuild_replaces_engine_and_sidecar(tmp_path):
    from corrwise.runtime.backends.tensorrt_sidecar import read_sidecar

    model = tiny_onnx(tmp_path / "m.onnx", add_contract())
    engine = engine_from_onnx(model, tmp_path / "m.engine", **SIZES)
    first = read_sidecar(engine)[1]
    engine_from_onnx(model, engine, min_hw=(8, 8), opt_hw=(64, 96), max_hw=(256, 256))
    second = read_sidecar(engine)[1]
    assert second.profile[0].min == (1, 3, 8, 8) and second.digest() != first.digest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.engine", "m.engine.json", "m.onnx"]
