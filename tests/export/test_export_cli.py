"""corr-export commands end to end: exit codes, messages, files written and never half-written."""

import json

import numpy as np
import onnx
from click.testing import CliRunner
from corrwise.export.cli import main

from tests.conftest import write_clip


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def clip(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(48, 64, 3)).astype(np.uint8)
    return write_clip(tmp_path / "calib.mp4", [np.roll(base, 2 * i, axis=1) for i in range(12)])


def test_onnx_with_options(checkpoint_path, tmp_path):
    result = run("onnx", checkpoint_path, "-o", tmp_path / "m.onnx", "--io", "uint8", "--static", "48x64")
    assert result.exit_code == 0, result.output
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim][1:] == [48, 64, 3]
    bad = run("onnx", checkpoint_path, "-o", tmp_path / "b.onnx", "--static", "48by64")
    assert bad.exit_code == 2 and "HxW" in bad.output and not (tmp_path / "b.onnx").exists()


def test_int8_then_verify_pass_and_a_failing_verify_exits_1(onnx_path, checkpoint_path, tmp_path):
    calib = clip(tmp_path)
    q = tmp_path / "m.int8.onnx"
    result = run("int8", onnx_path, "--calib", calib, "-o", q, "--samples", "3")
    assert result.exit_code == 0, result.output
    report = tmp_path / "report.json"
    ok = run("verify", q, "--against", checkpoint_path, "--frames", calib, "--report", report)
    assert ok.exit_code == 0, ok.output
    assert "onnxruntime/int8" in ok.output and json.loads(report.read_text())["passed"] is True
    model = onnx.load(str(onnx_path))
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT and np.prod(init.dims) > 100:
            init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * 1.5, init.name))
    onnx.save(model, str(tmp_path / "broken.onnx"))
    failed = run("verify", tmp_path / "broken.onnx", "--against", checkpoint_path)
    assert failed.exit_code == 1 and "FAIL" in failed.output
    assert json.loads((tmp_path / "broken.onnx.parity.json").read_text())["passed"] is False


def test_bad_calibration_path_exits_2_and_writes_nothing(onnx_path, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = run("int8", onnx_path, "--calib", tmp_path / "notes.txt", "-o", tmp_path / "q.onnx")
    assert result.exit_code == 2 and "not a readable video" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_unknown_model_name_and_corrupt_checkpoint_exit_2(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    result = run("onnx", bad, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 2 and "error:" in result.output and not (tmp_path / "m.onnx").exists()


def test_trt_without_tensorrt_exits_2_with_the_install_hint(onnx_path, tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        import pytest

        pytest.skip("tensorrt is installed here; the real build is tested in test_tensorrt_engine.py")
    result = run("trt", onnx_path, "-o", tmp_path / "m.engine")
    assert result.exit_code == 2 and "pip install 'corrwise[gpu]'" in result.output
    assert not (tmp_path / "m.engine").exists()


def test_triton_from_a_checkpoint(checkpoint_path, tmp_path):
    result = run("triton", checkpoint_path, "--repo", tmp_path / "repo", "--name", "interp", "--io", "uint8")
    assert result.exit_code == 0, result.output
    config = (tmp_path / "repo" / "interp" / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"' in config and "TYPE_UINT8" in config
    assert (tmp_path / "repo" / "interp" / "1" / "model.onnx").is_file()


def test_all_writes_the_bundle(checkpoint_path, tmp_path):
    calib = clip(tmp_path)
    out = tmp_path / "bundle"
    result = run("all", checkpoint_path, "-o", out, "--calib", calib, "--name", "interp")
    assert result.exit_code == 0, result.output
    for name in ["model.onnx", "model.int8.onnx", "parity.json", "bundle.json"]:
        assert (out / name).is_file(), name
    assert (out / "triton" / "interp" / "config.pbtxt").is_file()
    assert (out / "triton" / "interp_int8" / "1" / "model.onnx").is_file()
    summary = json.loads((out / "bundle.json").read_text())
    assert summary["passed"] is True and set(summary["parity"]) == {"model.onnx", "model.int8.onnx"}
    assert [r["precision"] for r in json.loads((out / "parity.json").read_text())] == ["fp32", "int8"]
