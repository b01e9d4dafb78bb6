import numpy as np
import pytest
from corrwise.errors import ContractError, InputError
from corrwise.export import onnx_from_checkpoint
from corrwise.export.onnx_export import OnnxOptions
from corrwise.runtime import Interpolator, open_runner
from corrwise.runtime.frames import to_frame, to_tensor
from corrwise.runtime.predictor import Predictor, PredictorStream
from skimage import data

from tests.conftest import CountingRunner

K = 3


@pytest.fixture(scope="module")
def fused_predict_onnx(predict_checkpoint_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("predict") / "predict_uint8.onnx"
    return onnx_from_checkpoint(predict_checkpoint_path, path, options=OnnxOptions(io="uint8"))


@pytest.fixture(scope="module")
def raw(predict_onnx_path):
    """The bare runner, for computing what the Predictor should give."""
    with open_runner(predict_onnx_path, threads=1) as runner:
        yield runner


def shot(n, h=48, w=64, image=None, top=100, left=200):
    """``n`` frames of a real photo panning 2 px right and 1 px down per frame: one shot, no cuts."""
    image = data.astronaut() if image is None else image
    return [image[top + i : top + i + h, left + 2 * i : left + 2 * i + w].copy() for i in range(n)]


def infer(runner, tensors):
    """The model on K context batches (no padding: sizes are multiples of the alignment)."""
    c = runner.contract
    return runner.infer(dict(zip(c.input_names, tensors, strict=True)))[c.output_names[0]]


def test_first_push_fills_the_context_with_copies(predict_onnx_path, raw):
    frame = shot(1)[0]
    with Predictor(predict_onnx_path, threads=1) as predictor:
        assert predictor.context_frames == K and predictor.contract.task == "predict"
        out = predictor.push(frame)
        assert predictor.stream.frames_seen == 1 and len(predictor.stream.context) == K
    x = to_tensor(frame, raw.contract)
    np.testing.assert_array_equal(out, to_frame(infer(raw, [x] * K), raw.contract))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frame)  # the model does more than copy the last frame


def test_context_is_the_last_k_frames(predict_onnx_path, raw):
    frames = shot(5)
    with Predictor(predict_onnx_path, threads=1) as predictor:
        outs = [predictor.push(f) for f in frames]
        context = list(predictor.stream.context)
    tensors = [to_tensor(f, raw.contract) for f in frames]
    for got, want in zip(context, tensors[-K:], strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(outs[-1], to_frame(infer(raw, tensors[2:5]), raw.contract))
    second = [tensors[0], tensors[0], tensors[1]]  # after two pushes: the first frame twice, then the second
    np.testing.assert_array_equal(outs[1], to_frame(infer(raw, second), raw.contract))


def test_rollout_feeds_predictions_back_and_keeps_the_state(predict_onnx_path, raw):
    frames, after = shot(5)[:4], shot(5)[4]
    with (
        Predictor(predict_onnx_path, threads=1) as predictor,
        Predictor(predict_onnx_path, threads=1) as twin,
    ):
        for f in frames:
            predictor.push(f)
            twin.push(f)
        seen = predictor.stream.frames_seen
        future = predictor.rollout(3)
        assert predictor.stream.frames_seen == seen
        np.testing.assert_array_equal(predictor.push(after), twin.push(after))
    context = [to_tensor(f, raw.contract) for f in frames[-K:]]
    for got in future:
        y = infer(raw, context)
        np.testing.assert_array_equal(got, to_frame(y, raw.contract))
        context = [*context[1:], y]
    assert len(future) == 3 and not np.array_equal(future[0], future[2])


def test_rollout_checks(predict_onnx_path):
    with Predictor(predict_onnx_path) as predictor:
        with pytest.raises(InputError, match="push"):
            predictor.rollout(1)
        predictor.push(shot(1)[0])
        for k in (0, -1, 1.5, True):
            with pytest.raises(InputError, match="k >= 1"):
                predictor.rollout(k)


def test_step_batches_by_size_and_matches_separate_pushes(predict_onnx_path):
    a, b, c = shot(4, 48, 64), shot(4, 37, 53, data.coffee()), shot(4, 48, 64, data.chelsea(), 50, 50)
    runner = CountingRunner(predict_onnx_path)
    with Predictor(runner) as batched:
        streams = [batched.new_stream() for _ in range(3)]
        separate = [Predictor(predict_onnx_path, threads=1) for _ in range(3)]
        for i in range(4):
            outs = batched.step(streams, [a[i], b[i], c[i]])
            refs = [p.push(f[i]) for p, f in zip(separate, (a, b, c), strict=True)]
            for out, ref in zip(outs, refs, strict=True):
                np.testing.assert_array_equal(out, ref)
        for p in separate:
            p.close()
    assert sorted(runner.batches) == [1, 1, 1, 1, 2, 2, 2, 2]  # two sizes: one call each per step
    assert [s.frames_seen for s in streams] == [4, 4, 4]


def test_push_is_step_on_the_default_stream(predict_onnx_path):
    frames = shot(3)
    with Predictor(predict_onnx_path) as p1, Predictor(predict_onnx_path) as p2:
        for f in frames:
            np.testing.assert_array_equal(p1.push(f), p2.step([p2.stream], [f])[0])


def test_step_checks(predict_onnx_path):
    frame = shot(1)[0]
    with Predictor(predict_onnx_path) as predictor:
        stream = predictor.new_stream()
        with pytest.raises(InputError, match="one frame per stream"):
            predictor.step([stream], [frame, frame])
        with pytest.raises(InputError, match="appears twice"):
            predictor.step([stream, stream], [frame, frame])
        with pytest.raises(InputError, match="new_stream"):
            predictor.step([PredictorStream(2)], [frame])
        fresh = predictor.new_stream()
        with pytest.raises(InputError, match="frame 1"):
            predictor.step([fresh, stream], [frame, frame[..., :2]])
        assert fresh.frames_seen == 0  # nothing changed when one frame was bad


def test_a_new_resolution_needs_a_reset(predict_onnx_path):
    with Predictor(predict_onnx_path) as predictor:
        predictor.push(shot(1)[0])
        with pytest.raises(InputError, match=r"32x24.*64x48.*reset\(\)"):
            predictor.push(shot(1, 24, 32)[0])
        assert predictor.stream.frames_seen == 1
        predictor.reset()
        assert predictor.push(shot(1, 24, 32)[0]).shape == (24, 32, 3)


def test_a_scene_cut_resets_the_stream(predict_onnx_path):
    first, second = shot(3), shot(2, image=data.coffee())
    with Predictor(predict_onnx_path) as predictor, Predictor(predict_onnx_path) as fresh:
        for f in first:
            predictor.push(f)
        assert predictor.cuts == 0
        out = predictor.push(second[0])
        assert predictor.cuts == 1 and predictor.stream.frames_seen == 1
        np.testing.assert_array_equal(out, fresh.push(second[0]))
        np.testing.assert_array_equal(predictor.push(second[1]), fresh.push(second[1]))
        assert predictor.cuts == 1


def test_no_reset_with_detection_off(predict_onnx_path):
    with Predictor(predict_onnx_path, cut_threshold=0) as predictor:
        for f in [*shot(3), shot(1, image=data.coffee())[0]]:
            predictor.push(f)
        assert predictor.cuts == 0 and predictor.stream.frames_seen == 4


def test_odd_sizes_round_trip(predict_onnx_path, raw):
    frames = shot(2, 37, 53)
    with Predictor(predict_onnx_path) as predictor:
        outs = [predictor.push(f) for f in frames]
        assert all(o.shape == (37, 53, 3) and o.dtype == np.uint8 for o in outs)
        y = predictor.run([to_tensor(f, raw.contract) for f in (frames[0], frames[0], frames[1])])
    assert y.shape == (1, 3, 37, 53)
    np.testing.assert_array_equal(outs[1], to_frame(y, raw.contract))


def test_gray_frames_are_accepted(predict_onnx_path):
    frames = shot(2)
    with Predictor(predict_onnx_path) as p1, Predictor(predict_onnx_path) as p2:
        gray = [p1.push(f[..., 0]) for f in frames]
        rgb = [p2.push(np.repeat(f[..., :1], 3, axis=2)) for f in frames]
    for g, r in zip(gray, rgb, strict=True):
        np.testing.assert_array_equal(g, r)


def test_run_checks_the_context(predict_onnx_path):
    x = np.zeros((1, 3, 8, 8), np.float32)
    with Predictor(predict_onnx_path) as predictor:
        with pytest.raises(InputError, match="takes 3 context frames"):
            predictor.run([x, x])
        with pytest.raises(InputError, match="one shape"):
            predictor.run([x, x, np.zeros((1, 3, 8, 16), np.float32)])
        assert predictor.run([x, x, x]).shape == x.shape


def test_models_for_the_other_task_are_refused(predict_onnx_path, onnx_path):
    with pytest.raises(ContractError, match=r"'interpolate' model.*use Interpolator"):
        Predictor(onnx_path)
    with pytest.raises(ContractError, match=r"'predict' model.*use Predictor"):
        Interpolator(predict_onnx_path)


def test_fused_uint8_model(fused_predict_onnx, predict_onnx_path):
    frames = shot(4)
    with Predictor(fused_predict_onnx) as fused, Predictor(predict_onnx_path) as plain:
        assert fused.contract.fused_io and fused.contract.layout == "NHWC"
        for f in frames:
            out, ref = fused.push(f), plain.push(f)
            assert out.shape == f.shape and out.dtype == np.uint8
            assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1  # one grey level of rounding
        frames[-1][:] = 0  # the caller reusing its buffer must not change the context
        future = fused.rollout(2)
        np.testing.assert_array_equal(fused.stream.context[-1][0], shot(4)[-1])
    assert len(future) == 2 and all(f.shape == (48, 64, 3) for f in future)


def test_stream_reset():
    stream = PredictorStream(K)
    frame = np.zeros((4, 6, 3), np.uint8)
    stream.add(frame, frame[None])
    assert len(stream.context) == K and stream.size == (4, 6) and stream.frames_seen == 1
    stream.add(frame, frame[None] + 1)
    assert stream.context[-1][0, 0, 0, 0] == 1 and stream.context[0][0, 0, 0, 0] == 0
    stream.reset()
    assert not stream.context and stream.size is None and stream.last_frame is None
    assert stream.frames_seen == 0
    with pytest.raises(InputError, match="context_frames"):
        PredictorStream(0)
