import numpy as np
import onnx
import pytest
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, ContractError, InputError
from corrwise.runtime import Interpolator, OnnxRuntimeRunner, open_runner
from onnx import TensorProto, helper

FRAME = np.zeros((30, 40, 3), np.uint8)


@pytest.fixture(scope="module")
def interp(onnx_path):
    with Interpolator(onnx_path) as it:
        yield it


def identity_onnx(path, contract=None):
    """A tiny valid ONNX graph (frame = frame0), optionally carrying a contract."""
    node = helper.make_node("Identity", ["frame0"], ["frame"])
    vi = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", 3, "h", "w"])
        for n in ("frame0", "frame1", "frame")
    ]
    graph = helper.make_graph([node], "g", vi[:2], vi[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if contract is not None:
        for k, v in contract.to_metadata().items():
            model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return path


def test_interpolates_any_size_and_keeps_it(interp):
    rng = np.random.default_rng(0)
    f0, f1 = (rng.integers(0, 256, size=(31, 45, 3), dtype=np.uint8) for _ in range(2))
    out = interp.interpolate(f0, f1)
    assert out.shape == (31, 45, 3) and out.dtype == np.uint8


def test_identical_frames_give_back_nearly_the_same_frame(interp):
    frame = np.full((24, 24, 3), 128, np.uint8)
    assert np.abs(interp.interpolate(frame, frame).astype(int) - 128).max() < 64


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((30, 40, 3), np.float32), "uint8"),
        (np.zeros((30, 40), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((30, 40, 4), np.uint8), "RGBA"),
        ([[0]], "numpy uint8 array"),
        (np.zeros((1, 40, 3), np.uint8), "at least 2x2"),
    ],
)
def test_bad_frames_are_named(interp, frame, message):
    with pytest.raises(InputError, match=message):
        interp.interpolate(FRAME, frame)


def test_frames_of_different_sizes(interp):
    with pytest.raises(InputError, match=r"same size.*40x30.*41x30"):
        interp.interpolate(FRAME, np.zeros((30, 41, 3), np.uint8))


def test_runner_checks_inputs(onnx_path):
    with open_runner(onnx_path) as runner:
        ok = np.zeros((1, 3, 8, 8), np.float32)
        with pytest.raises(InputError, match="takes inputs"):
            runner.infer({"frame0": ok})
        with pytest.raises(InputError, match="multiples of 8"):
            runner.infer(
                {"frame0": np.zeros((1, 3, 9, 8), np.float32), "frame1": np.zeros((1, 3, 9, 8), np.float32)}
            )
        with pytest.raises(InputError, match="float32"):
            runner.infer({"frame0": ok.astype(np.float64), "frame1": ok})
        assert runner.infer({"frame0": ok, "frame1": ok})["frame"].shape == (1, 3, 8, 8)
        assert runner.active_providers == ["CPUExecutionProvider"]


def test_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"this is not a protobuf")
    with pytest.raises(InputError, match="not a loadable ONNX model"):
        Interpolator(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        Interpolator(tmp_path / "absent.onnx")


def test_onnx_without_contract(tmp_path):
    with pytest.raises(ContractError, match="no corrwise I/O contract"):
        Interpolator(identity_onnx(tmp_path / "plain.onnx"))


def test_model_for_the_other_task(tmp_path):
    contract = IOContract(
        task="predict",
        context_frames=2,
        input_names=("frame0", "frame1"),
        output_names=("frame",),
        align=1,
        model_name="x",
    )
    with pytest.raises(ContractError, match="'predict' model"):
        Interpolator(identity_onnx(tmp_path / "predict.onnx", contract))


def test_unknown_backend(onnx_path):
    with pytest.raises(ConfigError, match="unknown backend"):
        Interpolator(onnx_path, backend="nope")


def test_runner_is_reusable_after_close(onnx_path):
    runner = OnnxRuntimeRunner(onnx_path, threads=1)
    with runner:
        assert runner.contract.task == "interpolate"
    assert not runner.is_open
    with pytest.raises(Exception, match="not open"):
        _ = runner.contract
    assert runner.open().is_open
    runner.close()


def blend_onnx(path):
    """A tiny graph with a time input: frame = frame0 + timestep * (frame1 - frame0)."""
    nodes = [
        helper.make_node("Sub", ["frame1", "frame0"], ["diff"]),
        helper.make_node("Mul", ["timestep", "diff"], ["step"]),
        helper.make_node("Add", ["frame0", "step"], ["frame"]),
    ]
    frame = ["b", 3, "h", "w"]
    inputs = [
        helper.make_tensor_value_info("frame0", TensorProto.FLOAT, frame),
        helper.make_tensor_value_info("frame1", TensorProto.FLOAT, frame),
        helper.make_tensor_value_info("timestep", TensorProto.FLOAT, ["b", 1, 1, 1]),
    ]
    outputs = [helper.make_tensor_value_info("frame", TensorProto.FLOAT, frame)]
    model = helper.make_model(
        helper.make_graph(nodes, "blend", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)]
    )
    contract = IOContract(
        task="interpolate",
        context_frames=2,
        input_names=("frame0", "frame1"),
        output_names=("frame",),
        align=4,
        model_name="blend",
        timestep_input="timestep",
    )
    for k, v in contract.to_metadata().items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("t, grey", [(0.25, 64), (0.5, 128), (0.75, 191)])
def test_time_input_receives_t(tmp_path, t, grey):
    black, white = np.zeros((30, 42, 3), np.uint8), np.full((30, 42, 3), 255, np.uint8)
    with Interpolator(blend_onnx(tmp_path / "blend.onnx")) as interp:
        assert interp.contract.timestep_input == "timestep"
        out = interp.interpolate(black, white, t=t)
    assert out.shape == (30, 42, 3) and np.abs(out.astype(int) - grey).max() <= 1


def test_time_input_gets_one_t_per_batch_item(tmp_path):
    x0, x1 = np.full((3, 3, 8, 8), -1.0, np.float32), np.ones((3, 3, 8, 8), np.float32)
    with Interpolator(blend_onnx(tmp_path / "blend.onnx")) as interp:
        out = interp.run(x0, x1, t=0.75)
    np.testing.assert_array_equal(out, np.full_like(x0, 0.5))


@pytest.mark.parametrize("t", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_time_outside_the_open_unit_interval(tmp_path, t):
    with (
        Interpolator(blend_onnx(tmp_path / "blend.onnx")) as interp,
        pytest.raises(InputError, match="t must be"),
    ):
        interp.interpolate(FRAME, FRAME, t=t)


@pytest.mark.parametrize("t", ["0.5", None, True])
def test_time_that_is_not_a_number(interp, t):
    with pytest.raises(InputError, match="t must be a number"):
        interp.interpolate(FRAME, FRAME, t=t)


def test_midpoint_model_refuses_other_times(interp):
    assert interp.contract.timestep_input is None
    with pytest.raises(InputError, match=r"only synthesises the midpoint \(t = 0.5\), got t = 0.3"):
        interp.interpolate(FRAME, FRAME, t=0.3)
    with pytest.raises(InputError, match="only synthesises the midpoint"):
        interp.run(np.zeros((1, 3, 8, 8), np.float32), np.zeros((1, 3, 8, 8), np.float32), t=0.7)
    assert interp.interpolate(FRAME, FRAME, t=0.5).shape == FRAME.shape
