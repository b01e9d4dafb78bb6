"""corr-export onnx options: fused uint8 I/O, a static size, fp16 and simplification."""

import numpy as np
import onnx
import pytest
from corrwise.errors import ConfigError, InputError
from corrwise.export import OnnxOptions, onnx_from_checkpoint, read_contract, verify
from corrwise.runtime import Interpolator

from tests.conftest import moving_frames


@pytest.fixture(scope="module")
def exports(checkpoint_path, tmp_path_factory):
    """One export per option set, shared by the tests of this module."""
    root = tmp_path_factory.mktemp("options")
    options = {
        "uint8": OnnxOptions(io="uint8"),
        "static": OnnxOptions(static_hw=(48, 64)),
        "fp16": OnnxOptions(fp16=True),
        "fp16-uint8": OnnxOptions(fp16=True, io="uint8"),
        "simplified": OnnxOptions(simplify=True),
    }
    return {
        k: onnx_from_checkpoint(checkpoint_path, root / f"{k}.onnx", options=o) for k, o in options.items()
    }


def dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_uint8_graph_takes_and_returns_nhwc_bytes(exports):
    model = onnx.load(str(exports["uint8"]))
    for value in [*model.graph.input, *model.graph.output]:
        assert value.type.tensor_type.elem_type == onnx.TensorProto.UINT8
        assert dims(value) == ["batch", "height", "width", 3]
    contract = read_contract(exports["uint8"])
    assert (contract.layout, contract.dtype, contract.fused_io) == ("NHWC", "uint8", True)
    assert contract.value_range == (0.0, 255.0) and contract.precision == "fp32"


@pytest.mark.parametrize("size", [(45, 77), (64, 96)], ids=["odd", "aligned"])
def test_uint8_fused_export_matches_the_float_export_within_one_grey_level(onnx_path, exports, size):
    rng = np.random.default_rng(size[0])
    frames = moving_frames(3, *size)
    noisy = [np.clip(f.astype(int) + rng.integers(-20, 20, f.shape), 0, 255).astype(np.uint8) for f in frames]
    with Interpolator(onnx_path) as floats, Interpolator(exports["uint8"]) as fused:
        a = floats.interpolate(noisy[0], noisy[2])
        b = fused.interpolate(noisy[0], noisy[2])
    assert b.shape == (*size, 3) and b.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert np.abs(a.astype(int) - noisy[1].astype(int)).mean() > 0  # a real frame, not a copy


def test_static_export_fixes_the_size_and_the_runtime_pads_up_to_it(onnx_path, exports):
    model = onnx.load(str(exports["static"]))
    assert dims(model.graph.input[0]) == ["batch", 3, 48, 64]
    assert read_contract(exports["static"]).static_hw == (48, 64)
    frames = moving_frames(3, 37, 53)
    with Interpolator(exports["static"]) as fixed, Interpolator(onnx_path) as dynamic:
        out = fixed.interpolate(frames[0], frames[2])
        assert out.shape == (37, 53, 3)
        assert np.abs(out.astype(int) - dynamic.interpolate(frames[0], frames[2]).astype(int)).max() <= 40
        big = moving_frames(2, 60, 64)
        with pytest.raises(InputError, match="larger than the model's fixed size 48x64"):
            fixed.interpolate(big[0], big[1])


@pytest.mark.parametrize("static", [(50, 64), (48, 60)])
def test_static_size_that_does_not_suit_the_model_is_refused(checkpoint_path, tmp_path, static):
    with pytest.raises(ConfigError, match="multiples of 8"):
        onnx_from_checkpoint(checkpoint_path, tmp_path / "m.onnx", options=OnnxOptions(static_hw=static))
    assert not any(tmp_path.iterdir())


def test_bad_io_kind_is_refused():
    with pytest.raises(ConfigError, match="io must be one of"):
        OnnxOptions(io="rgb")


@pytest.mark.parametrize("name", ["fp16", "fp16-uint8"])
def test_fp16_keeps_io_types_and_passes_the_fp16_tolerance(exports, checkpoint_path, name):
    model = onnx.load(str(exports[name]))
    io_type = onnx.TensorProto.UINT8 if name.endswith("uint8") else onnx.TensorProto.FLOAT
    assert model.graph.input[0].type.tensor_type.elem_type == io_type
    halves = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) >= 10  # the weights are float16
    report = verify(exports[name], checkpoint_path)
    assert report.precision == "fp16" and report.passed, report
    assert all(45.0 <= r.psnr_db < 200 for r in report.results)


def test_simplified_graph_computes_the_same(exports, checkpoint_path):
    report = verify(exports["simplified"], checkpoint_path)
    assert report.precision == "fp32" and report.passed, report
