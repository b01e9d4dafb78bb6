import itertools
from fractions import Fraction

import numpy as np
import onnx
import pytest
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, ContractError, InputError
from corrwise.runtime import Interpolator, OnnxRuntimeRunner, open_runner
from corrwise.runtime.retime import output_count
from corrwise.tolerances import GREY_LEVEL
from onnx import TensorProto, helper
from skimage import data

from tests.conftest import CountingRunner, moving_frames

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
        (np.zeros((30, 40, 3), np.uint16), r"\(x >> 2\).astype\(np.uint8\) for 10-bit"),
        (np.zeros((30, 40, 2), np.uint8), r"\(H, W, 3\)"),
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
    # flat black and white frames are a scene cut by SSIM: detection off to reach the model
    with Interpolator(blend_onnx(tmp_path / "blend.onnx"), cut_threshold=0) as interp:
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


def average_onnx(path):
    """A midpoint-only graph: frame = (frame0 + frame1) / 2 (so halving gives the linear blend)."""
    nodes = [
        helper.make_node("Add", ["frame0", "frame1"], ["sum"]),
        helper.make_node("Mul", ["sum", "half"], ["frame"]),
    ]
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    vi = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", 3, "h", "w"])
        for n in ("frame0", "frame1", "frame")
    ]
    graph = helper.make_graph(nodes, "average", vi[:2], vi[2:], initializer=[half])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    contract = IOContract(
        task="interpolate",
        context_frames=2,
        input_names=("frame0", "frame1"),
        output_names=("frame",),
        align=4,
        model_name="average",
    )
    for k, v in contract.to_metadata().items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return path


def greys(n, h=12, w=20, step=10):
    """``n`` flat grey frames, frame i at level step * i: a blend at t shows up as level step * (i + t).

    Flat frames of different levels have a thumbnail SSIM near 0, a scene cut: use them with
    detection off.
    """
    return [np.full((h, w, 3), step * i, np.uint8) for i in range(n)]


def level(frame):
    assert (frame == frame[0, 0, 0]).all()
    return int(frame[0, 0, 0])


def cut_pair(h=48, w=64):
    """Two frames of unrelated real photos: a scene cut."""
    return data.astronaut()[100 : 100 + h, 200 : 200 + w].copy(), data.coffee()[100 : 100 + h, 200 : 200 + w]


@pytest.fixture
def average(tmp_path):
    return average_onnx(tmp_path / "average.onnx")


@pytest.fixture
def blend(tmp_path):
    return blend_onnx(tmp_path / "blend.onnx")


@pytest.mark.parametrize("factor", [2, 4])
def test_upsample_counts_and_passes_originals_through(onnx_path, factor):
    frames = moving_frames(5)
    runner = CountingRunner(onnx_path)
    with Interpolator(runner) as interp:
        out = list(interp.upsample(iter(frames), factor))
    assert len(out) == 5 + 4 * (factor - 1)
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in out)
    for i, frame in enumerate(frames):
        assert out[i * factor] is frame
    assert interp.cuts == 0
    # recursive halving, one batched call per level: N = 1, then 2
    assert runner.batches == [1, 2][: factor.bit_length() - 1] * 4


def test_upsample_by_halving_lands_on_the_blend(average):
    with Interpolator(average, cut_threshold=0) as interp:
        out = list(interp.upsample(greys(3, step=80), 4))
    assert [level(f) for f in out] == [0, 20, 40, 60, 80, 100, 120, 140, 160]


def test_upsample_with_a_time_input_makes_one_call_per_pair(blend):
    runner = CountingRunner(blend)
    with Interpolator(runner, cut_threshold=0) as interp:
        out = list(interp.upsample(greys(4, step=30), 3))
    assert [level(f) for f in out] == list(range(0, 91, 10))
    assert runner.batches == [2, 2, 2]


def test_upsample_matches_pairwise_interpolate(onnx_path):
    frames = moving_frames(3, 31, 45)
    with Interpolator(onnx_path) as interp:
        out = list(interp.upsample(frames, 2))
        np.testing.assert_array_equal(out[1], interp.interpolate(frames[0], frames[1]))
        np.testing.assert_array_equal(out[3], interp.interpolate(frames[1], frames[2]))


def test_upsample_factor_checks(onnx_path, blend):
    with Interpolator(onnx_path) as interp:
        with pytest.raises(ConfigError, match="power of two"):
            interp.upsample([], 3)
        with pytest.raises(ConfigError, match="integer >= 1"):
            interp.upsample([], 0)
        assert len(list(interp.upsample(greys(3), 1))) == 3
    with Interpolator(blend) as interp:
        assert len(list(interp.upsample(greys(3), 3))) == 7


def test_upsample_refuses_a_new_size_mid_stream(onnx_path):
    frames = [*moving_frames(2), moving_frames(1, 32, 32)[0]]
    with Interpolator(onnx_path) as interp, pytest.raises(InputError, match=r"frame 2 is 32x32.*64x48"):
        list(interp.upsample(frames, 2))


def endless_frames(pulled):
    """An endless stream of frames that records in ``pulled`` how many were taken."""
    for i in itertools.count():
        pulled.append(i)
        yield moving_frames(1)[0]


def test_upsample_is_lazy(onnx_path):
    pulled = []

    with Interpolator(onnx_path) as interp:
        out = list(itertools.islice(interp.upsample(endless_frames(pulled), 2), 5))
    assert len(out) == 5 and len(pulled) == 3


@pytest.mark.parametrize("policy", ["repeat", "blend"])
def test_scene_cut_policy_skips_the_model(onnx_path, policy):
    frame0, frame1 = cut_pair()
    runner = CountingRunner(onnx_path)
    with Interpolator(runner, scene_cut=policy) as interp:
        out = interp.interpolate(frame0, frame1)
    assert runner.batches == [] and interp.cuts == 1
    if policy == "repeat":
        np.testing.assert_array_equal(out, frame0)
    else:
        expected = np.rint(0.5 * frame0.astype(np.float64) + 0.5 * frame1.astype(np.float64))
        np.testing.assert_array_equal(out, expected.astype(np.uint8))


def test_blend_policy_uses_t(blend):
    frame0, frame1 = cut_pair()
    with Interpolator(blend, scene_cut="blend") as interp:
        out = interp.interpolate(frame0, frame1, t=0.25)
    expected = np.rint(0.75 * frame0.astype(np.float64) + 0.25 * frame1.astype(np.float64))
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


def test_detection_off_runs_the_model_across_a_cut(onnx_path):
    runner = CountingRunner(onnx_path)
    with Interpolator(runner, cut_threshold=0) as interp:
        interp.interpolate(*cut_pair())
    assert runner.batches == [1] and interp.cuts == 0


def test_upsample_across_a_cut(onnx_path):
    a, b = cut_pair()
    frames = [a, a, b, b]
    runner = CountingRunner(onnx_path)
    with Interpolator(runner) as interp:
        out = list(interp.upsample(frames, 4))
    assert interp.cuts == 1 and runner.batches == [1, 2] * 2
    for j in (5, 6, 7):  # between a (frame 1) and b (frame 2): copies of a
        np.testing.assert_array_equal(out[j], a)
    assert out[8] is b


@pytest.mark.parametrize(
    "scene_cut, cut_threshold, message",
    [("fade", 0.2, "scene_cut must be one of"), ("repeat", 1.2, "threshold"), ("blend", -1, "threshold")],
)
def test_bad_scene_cut_options(onnx_path, scene_cut, cut_threshold, message):
    with pytest.raises(ConfigError, match=message):
        Interpolator(onnx_path, scene_cut=scene_cut, cut_threshold=cut_threshold)


def test_retime_24_to_60(onnx_path):
    frames = moving_frames(24)
    runner = CountingRunner(onnx_path)
    with Interpolator(runner) as interp:
        out = list(interp.retime(frames, 24, 60))
    assert len(out) == output_count(24, 24, 60) == 60
    for m in range(12):  # output 5m at 5m/60 s = input 2m at 2m/24 s
        np.testing.assert_array_equal(out[5 * m], frames[2 * m])
        assert out[5 * m] is not frames[2 * m]
    np.testing.assert_array_equal(out[59], frames[23])  # after the last input
    np.testing.assert_array_equal(out[58], frames[23])
    assert interp.cuts == 0 and 0 < len(runner.batches) <= 3 * 23


def test_retime_with_a_time_input_is_exact(blend):
    with Interpolator(blend, cut_threshold=0) as interp:
        out = list(interp.retime(greys(6, step=40), 24, 60))
    assert len(out) == 15
    expected = [min(200, 40 * Fraction(k * 24, 60)) for k in range(15)]
    assert all(abs(level(f) - e) <= 1 for f, e in zip(out, expected, strict=True)), [level(f) for f in out]


def test_retime_by_halving_rounds_t_to_eighths(average):
    with Interpolator(average, cut_threshold=0) as interp:
        out = list(interp.retime(greys(3, step=80), 24, 60))
    # t = 0, 2/5, 4/5, 1/5, 3/5 -> 0, 3/8, 6/8, 2/8, 5/8 of 80 levels
    assert [level(f) for f in out[:6]] == [0, 30, 60, 100, 130, 160]
    assert [level(f) for f in out[6:]] == [160, 160]


def test_retime_down_and_identity_never_call_the_model(onnx_path):
    frames = moving_frames(9)
    runner = CountingRunner(onnx_path)
    with Interpolator(runner) as interp:
        down = list(interp.retime(frames, 48, 24))
        same = list(interp.retime(frames, "30000/1001", Fraction(30000, 1001)))
    assert runner.batches == []
    assert [level_of(f, frames) for f in down] == [0, 2, 4, 6, 8]
    assert [level_of(f, frames) for f in same] == list(range(9))


def level_of(frame, frames):
    return next(i for i, f in enumerate(frames) if np.array_equal(f, frame))


def test_retime_is_lazy_and_holds_little(onnx_path):
    pulled = []

    with Interpolator(onnx_path) as interp:
        stream = interp.retime(endless_frames(pulled), 24, 60)
        first = list(itertools.islice(stream, 1))
        assert len(first) == 1 and pulled == [0]
        rest = list(itertools.islice(stream, 99))
    assert len(rest) == 99 and len(pulled) == 41  # output 99 lies between inputs 39 and 40


def test_retime_rates_are_checked(onnx_path):
    with Interpolator(onnx_path) as interp, pytest.raises(ConfigError, match="dst_fps"):
        interp.retime([], 24, 0)


def test_run_with_one_t_per_item(blend):
    x0, x1 = np.full((3, 3, 8, 8), -1.0, np.float32), np.ones((3, 3, 8, 8), np.float32)
    with Interpolator(blend) as interp:
        out = interp.run(x0, x1, t=np.array([0.25, 0.5, 0.75]))
        np.testing.assert_allclose(out[:, 0, 0, 0], [-0.5, 0.0, 0.5], atol=GREY_LEVEL)
        column = interp.run(x0, x1, t=np.array([[0.25], [0.5], [0.75]], np.float32))
        np.testing.assert_array_equal(column, out)
        with pytest.raises(InputError, match=r"shape \(3,\)"):
            interp.run(x0, x1, t=np.array([0.5, 0.5]))
        with pytest.raises(InputError, match="strictly between"):
            interp.run(x0, x1, t=np.array([0.5, 1.0, 0.5]))


def test_midpoint_model_takes_an_array_of_halves(interp):
    x = np.zeros((2, 3, 8, 8), np.float32)
    assert interp.run(x, x, t=np.array([0.5, 0.5])).shape == x.shape
    with pytest.raises(InputError, match="only synthesises the midpoint"):
        interp.run(x, x, t=np.array([0.5, 0.3]))


def test_gray_and_rgba_frames_are_accepted(interp):
    gray = moving_frames(2)
    rgb = interp.interpolate(gray[0], gray[1])
    out = interp.interpolate(gray[0][..., 0], gray[1][..., 0])
    np.testing.assert_array_equal(out, rgb)
    rgba = [np.dstack([f, np.full(f.shape[:2], 255, np.uint8)]) for f in gray]
    np.testing.assert_array_equal(interp.interpolate(*rgba), rgb)


def test_uint16_frames_are_refused(interp):
    with pytest.raises(InputError, match=r"uint8.*10-bit"):
        interp.interpolate(FRAME.astype(np.uint16), FRAME.astype(np.uint16))


def test_retime_across_a_cut_counts_it_once(onnx_path):
    a, b = cut_pair()
    runner = CountingRunner(onnx_path)
    with Interpolator(runner) as interp:
        out = list(interp.retime([a, a, b, b], 24, 60))
    assert len(out) == 10 and interp.cuts == 1
    # outputs 3 and 4 (t = 1/5, 3/5 after input 1) lie across the cut: repeats of input 1
    for j in (3, 4):
        np.testing.assert_array_equal(out[j], a)
    np.testing.assert_array_equal(out[5], b)
    assert len(runner.batches) == 3 * 2  # halving for the pairs (a, a) and (b, b) only


@pytest.mark.parametrize("factor", [2, 4])
def test_upsample_with_workers_gives_the_same_frames_in_order(onnx_path, factor):
    frames = moving_frames(7, 31, 45)
    with Interpolator(onnx_path, threads=1) as one, Interpolator(onnx_path, threads=1, workers=2) as two:
        expected, got = list(one.upsample(frames, factor)), list(two.upsample(iter(frames), factor))
    assert len(got) == len(expected) == 7 + 6 * (factor - 1)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_retime_with_workers_gives_the_same_frames_and_counts_cuts_once(onnx_path):
    a, b = cut_pair()
    frames = [a, a, b, b, b, a, a]
    with Interpolator(onnx_path) as one, Interpolator(onnx_path, workers=3) as three:
        expected, got = list(one.retime(frames, 24, 60)), list(three.retime(iter(frames), 24, 60))
    assert len(got) == len(expected) == 18
    for x, y in zip(expected, got, strict=True):
        np.testing.assert_array_equal(x, y)
    assert three.cuts == one.cuts == 2


def test_upsample_with_workers_stays_lazy(onnx_path):
    pulled = []
    with Interpolator(onnx_path, workers=2) as interp:
        out = list(itertools.islice(interp.upsample(endless_frames(pulled), 2), 5))
    assert len(out) == 5 and len(pulled) <= 3 + 3  # the 3 frames needed, and at most workers + 1 ahead


@pytest.mark.parametrize("workers", [0, 2.0, True])
def test_bad_worker_counts(onnx_path, workers):
    with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
        Interpolator(onnx_path, workers=workers)
