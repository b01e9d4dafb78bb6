"""corr-export int8: calibration sources, QDQ placement per target, the carried contract, and bad input."""

import json

import numpy as np
import onnx
import pytest
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, InputError
from corrwise.export import (
    Int8Options,
    OnnxOptions,
    int8_from_onnx,
    onnx_from_checkpoint,
    read_contract,
    verify,
)
from corrwise.export.calibration import fit_window, frame_windows, model_inputs
from corrwise.export.int8 import INT8_METADATA_KEY, _calibration_size, thin_convolutions
from corrwise.runtime import Interpolator

from tests.conftest import moving_frames, write_clip


@pytest.fixture(scope="module")
def calib_clip(tmp_path_factory):
    """A 24-frame clip of textured content moving 2 px a frame."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(64, 96, 3)).astype(np.uint8)
    frames = [np.roll(base, 2 * i, axis=1) for i in range(24)]
    return write_clip(tmp_path_factory.mktemp("calib") / "clip.mp4", frames)


@pytest.fixture(scope="module")
def quantised(onnx_path, calib_clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("int8")
    return {
        target: int8_from_onnx(
            onnx_path, root / f"{target}.onnx", calib_clip, Int8Options(target=target, samples=6)
        )
        for target in ("cpu", "tensorrt")
    }


def zero_points(model):
    """Element type -> zero-point values of the activation QuantizeLinear nodes."""
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    points = {}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and len(node.input) > 2 and node.input[0] not in inits:
            zp = inits[node.input[2]]
            points.setdefault(zp.dtype.name, []).extend(np.ravel(zp).tolist())
    return points


def test_cpu_target_uses_uint8_activations_and_tensorrt_target_symmetric_int8(quantised):
    cpu, trt = (onnx.load(str(quantised[t])) for t in ("cpu", "tensorrt"))
    assert set(zero_points(cpu)) == {"uint8"}
    trt_points = zero_points(trt)
    assert set(trt_points) == {"int8"} and set(trt_points["int8"]) == {0}


def quantised_convolutions(model):
    """(all Conv nodes, those whose input and weight both come through DequantizeLinear)."""
    dq_outputs = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    return convs, [n for n in convs if n.input[0] in dq_outputs and n.input[1] in dq_outputs]


def test_cpu_target_pads_thin_layers_and_quantises_every_convolution(onnx_path, quantised):
    assert len(thin_convolutions(onnx.load(str(onnx_path)))) == 2  # first layer (6 in), head (3 out)
    model = onnx.load(str(quantised["cpu"]))
    convs, quantised_convs = quantised_convolutions(model)
    assert len(convs) == len(quantised_convs) >= 10
    assert thin_convolutions(model) == []
    ops = [n.op_type for n in model.graph.node]
    weights = {i.name: tuple(i.dims) for i in onnx.load(str(onnx_path)).graph.initializer}
    narrow = [
        n for n in onnx.load(str(onnx_path)).graph.node if n.op_type == "Conv" and weights[n.input[1]][0] < 16
    ]
    slices = [n for n in model.graph.node if n.name.endswith("_channel_slice")]
    assert ops.count("Pad") == 1 and len(slices) == len(narrow) >= 1  # 6 -> 8 channels in; < 16 out


def test_tensorrt_target_keeps_thin_layers_float(quantised):
    model = onnx.load(str(quantised["tensorrt"]))
    convs, quantised_convs = quantised_convolutions(model)
    assert len(convs) - len(quantised_convs) == 2 and len(quantised_convs) >= 8
    assert not {"Pad", "Slice"} & {n.op_type for n in model.graph.node}


def test_contract_is_carried_with_int8_precision_and_calibration_facts(onnx_path, quantised, calib_clip):
    contract = read_contract(quantised["cpu"])
    assert contract.precision == "int8"
    assert contract.input_names == read_contract(onnx_path).input_names
    meta = {p.key: p.value for p in onnx.load(str(quantised["cpu"])).metadata_props}
    facts = json.loads(meta[INT8_METADATA_KEY])
    assert (
        facts["target"] == "cpu" and facts["calibration_source"] == calib_clip.name and facts["windows"] == 6
    )


@pytest.mark.parametrize("target", ["cpu", "tensorrt"])
def test_int8_runs_on_onnxruntime_within_the_int8_tolerance(quantised, checkpoint_path, calib_clip, target):
    report = verify(quantised[target], checkpoint_path, frames=calib_clip)
    assert report.precision == "int8" and report.passed, report
    assert all(r.psnr_db < 100 for r in report.results)  # really quantised, not a copy of fp32
    frames = moving_frames(3, 37, 53)
    with Interpolator(quantised[target]) as interp:
        assert interp.interpolate(frames[0], frames[2]).shape == (37, 53, 3)


def test_fused_uint8_export_quantises_too(checkpoint_path, calib_clip, tmp_path):
    fused = onnx_from_checkpoint(checkpoint_path, tmp_path / "u8.onnx", options=OnnxOptions(io="uint8"))
    out = int8_from_onnx(fused, tmp_path / "u8.int8.onnx", calib_clip, Int8Options(samples=4))
    report = verify(out, checkpoint_path, frames=calib_clip)
    assert report.passed, report


def test_fp16_model_is_refused(checkpoint_path, calib_clip, tmp_path):
    half = onnx_from_checkpoint(checkpoint_path, tmp_path / "h.onnx", options=OnnxOptions(fp16=True))
    with pytest.raises(ConfigError, match="starts from an fp32 export"):
        int8_from_onnx(half, tmp_path / "q.onnx", calib_clip)
    assert not (tmp_path / "q.onnx").exists()


@pytest.mark.parametrize("kind", ["text", "missing", "empty-folder", "short-clip"])
def test_calibration_path_that_is_not_video_or_frames(onnx_path, tmp_path, kind):
    source = tmp_path / "source"
    if kind == "text":
        source = tmp_path / "notes.txt"
        source.write_text("not a video")
    elif kind == "empty-folder":
        source.mkdir()
        (source / "readme.md").write_text("no images here")
    elif kind == "short-clip":
        source = write_clip(tmp_path / "two.mp4", moving_frames(2))
    message = {
        "text": "not a readable video",
        "missing": "does not exist",
        "empty-folder": "holds no images",
        "short-clip": "fewer than the 3 consecutive frames",
    }[kind]
    out = tmp_path / "out" / "q.onnx"
    with pytest.raises(InputError, match=message):
        int8_from_onnx(onnx_path, out, source)
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_folder_of_frames_is_a_source_and_sizes_must_agree(tmp_path):
    av = pytest.importorskip("av")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(moving_frames(7, 40, 56)):
        with av.open(str(folder / f"{i:03d}.png"), "w") as out:
            stream = out.add_stream("png")
            stream.width, stream.height, stream.pix_fmt = 56, 40, "rgb24"
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    windows = frame_windows(folder, 3, 2)
    assert len(windows) == 2 and all(len(w) == 3 and w[0].shape == (40, 56, 3) for w in windows)
    np.testing.assert_array_equal(windows[0][1], moving_frames(7, 40, 56)[1])


def test_windows_are_spread_and_fitted_to_the_graph(calib_clip, onnx_path):
    windows = frame_windows(calib_clip, 3, 4)
    assert len(windows) == 4
    fitted = fit_window(windows[0], (32, 128))  # crop height, pad width
    assert all(f.shape == (32, 128, 3) for f in fitted)
    inputs = model_inputs(fitted, read_contract(onnx_path))
    assert set(inputs) == {"frame0", "frame1"} and inputs["frame0"].shape == (1, 3, 32, 128)
    assert inputs["frame0"].min() >= -1 and inputs["frame0"].max() <= 1


def test_layers_fall_back_to_float_until_the_fidelity_floor_holds(onnx_path, calib_clip, tmp_path):
    convs = [n.name for n in onnx.load(str(onnx_path)).graph.node if n.op_type == "Conv"]
    strict, relaxed = Int8Options(samples=3, min_psnr_db=500.0), Int8Options(samples=3, min_psnr_db=0.0)
    out = int8_from_onnx(onnx_path, tmp_path / "q.onnx", calib_clip, strict)
    facts = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}[INT8_METADATA_KEY])
    assert sorted(facts["float_layers"]) == sorted(convs)  # an unreachable floor puts every layer back
    out = int8_from_onnx(onnx_path, tmp_path / "r.onnx", calib_clip, relaxed)
    facts = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}[INT8_METADATA_KEY])
    assert facts["float_layers"] == []  # no floor: every (padded) convolution is int8


def test_calibration_frames_are_never_smaller_than_the_graphs_minimum():
    def contract(align: int, min_size: int) -> IOContract:
        names = ("frame0", "frame1")
        return IOContract("interpolate", 2, names, ("frame",), align, "edge-flow", min_size=min_size)

    assert _calibration_size(contract(16, 48), Int8Options(size_hw=(100, 200))) == (96, 192)  # rounded down
    assert _calibration_size(contract(32, 96), Int8Options(size_hw=(64, 200))) == (96, 192)  # raised to 96
    assert _calibration_size(contract(32, 80), Int8Options(size_hw=(40, 40))) == (96, 96)  # aligned minimum
