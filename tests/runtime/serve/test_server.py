"""A live server on loopback, driven by the real tritonclient.http client and raw HTTP requests."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.http as triton
from corrwise.runtime import Interpolator
from corrwise.runtime.frames import to_frame, to_tensor
from corrwise.runtime.predictor import Predictor
from corrwise.runtime.serve.served import FrameLimits
from tritonclient.utils import InferenceServerException

from tests.conftest import moving_frames
from tests.runtime.serve.helpers import (
    BlockingModel,
    FailingModel,
    get,
    metric,
    post,
    serve_folder,
    start_server,
    triton_request,
)

INFER = "/v2/models/{}/infer"


@pytest.fixture(scope="module")
def interpolator(onnx_path):
    with Interpolator(onnx_path) as interp:
        yield interp


def frame_inputs(names, arrays, binary):
    tensors = []
    for name, array in zip(names, arrays, strict=True):
        tensor = triton.InferInput(name, list(array.shape), "UINT8" if array.dtype == np.uint8 else "FP32")
        tensor.set_data_from_numpy(array, binary_data=binary)
        tensors.append(tensor)
    return tensors


def pairs(n, h=37, w=53):
    """``n`` pairs of consecutive moving frames, uint8 (n, h, w, 3) each (no scene cut between them)."""
    frames = moving_frames(n + 1, h, w)
    return np.stack(frames[:-1]), np.stack(frames[1:])


def test_health_and_server_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "corrwise" and "binary_tensor_data" in metadata["extensions"]
    assert "sequence" in metadata["extensions"]


def test_model_metadata_and_readiness(client):
    interp = client.get_model_metadata("interp")
    assert interp["versions"] == ["1"] and interp["platform"] == "onnxruntime_onnx"
    assert interp["inputs"] == [
        {"name": "frame0", "datatype": "UINT8", "shape": [-1, -1, -1, 3]},
        {"name": "frame1", "datatype": "UINT8", "shape": [-1, -1, -1, 3]},
    ]
    assert interp["outputs"] == [{"name": "frame", "datatype": "UINT8", "shape": [-1, -1, -1, 3]}]
    timed = client.get_model_metadata("interp_t", model_version="1")
    assert timed["inputs"][-1] == {"name": "timestep", "datatype": "FP32", "shape": [-1, 1]}
    assert client.get_model_metadata("predict")["inputs"] == [
        {"name": "frame", "datatype": "UINT8", "shape": [1, -1, -1, 3]}
    ]
    assert client.is_model_ready("interp") and client.is_model_ready("predict", "1")
    assert not client.is_model_ready("interp", "2") and not client.is_model_ready("nope")
    index = client.get_model_repository_index()
    assert sorted(m["name"] for m in index) == ["interp", "interp_t", "predict"]
    assert {m["state"] for m in index} == {"READY"}


def test_unknown_model_is_404(client):
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("nope")
    assert err.value.status() == "404" and "interp" in err.value.message()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_interpolation_equals_the_interpolator(client, interpolator, binary):
    f0, f1 = pairs(2)
    inputs = frame_inputs(["frame0", "frame1"], [f0, f1], binary)
    outputs = [triton.InferRequestedOutput("frame", binary_data=binary)]
    result = client.infer("interp", inputs, outputs=outputs, request_id="pair-1")
    out = result.as_numpy("frame")
    assert out.shape == f0.shape and out.dtype == np.uint8
    for i in range(2):
        np.testing.assert_array_equal(out[i], interpolator.interpolate(f0[i], f1[i]))
    assert not np.array_equal(out[0], f0[0])  # the model ran: no copy of an input
    assert result.get_response()["id"] == "pair-1"


def test_all_outputs_come_back_binary_when_none_is_named(client, interpolator):
    f0, f1 = pairs(1, 16, 24)
    out = client.infer("interp", frame_inputs(["frame0", "frame1"], [f0, f1], True)).as_numpy("frame")
    np.testing.assert_array_equal(out[0], interpolator.interpolate(f0[0], f1[0]))


def test_pairs_across_a_scene_cut_follow_the_interpolators_policy(client, interpolator):
    rng = np.random.default_rng(0)
    f0, f1 = (rng.integers(0, 256, size=(1, 24, 32, 3), dtype=np.uint8) for _ in range(2))
    out = client.infer("interp", frame_inputs(["frame0", "frame1"], [f0, f1], True)).as_numpy("frame")
    np.testing.assert_array_equal(out[0], interpolator.interpolate(f0[0], f1[0]))
    np.testing.assert_array_equal(out[0], f0[0])  # "repeat": the frame before the cut


def test_each_pair_gets_its_own_time(client, timestep_onnx_path):
    f0, f1 = pairs(3)
    t = np.array([[0.25], [0.5], [0.8]], np.float32)
    inputs = frame_inputs(["frame0", "frame1", "timestep"], [f0, f1, t], True)
    out = client.infer("interp_t", inputs).as_numpy("frame")
    with Interpolator(timestep_onnx_path) as interp:
        for i in range(3):
            np.testing.assert_array_equal(out[i], interp.interpolate(f0[i], f1[i], t=float(t[i, 0])))
    assert not np.array_equal(out[0], out[2])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_prediction_sequence_equals_predictor_push_frame_by_frame(client, predict_onnx_path, binary):
    frames = moving_frames(6, 40, 56)
    with Predictor(predict_onnx_path) as predictor:
        for i, frame in enumerate(frames):
            inputs = frame_inputs(["frame"], [frame[None]], binary)
            outputs = [triton.InferRequestedOutput("frame", binary_data=binary)]
            result = client.infer(
                "predict", inputs, outputs=outputs, sequence_id=11, sequence_start=i == 0, sequence_end=i == 5
            )
            np.testing.assert_array_equal(result.as_numpy("frame")[0], predictor.push(frame))
    with pytest.raises(InferenceServerException, match="sequence_start") as err:  # ended: freed
        client.infer("predict", frame_inputs(["frame"], [frames[0][None]], True), sequence_id=11)
    assert err.value.status() == "400"


def test_interleaved_sequences_keep_their_own_context(client, predict_onnx_path):
    streams = {"a": moving_frames(4, 24, 32), "b": [255 - f for f in moving_frames(4, 24, 32)]}
    with Predictor(predict_onnx_path) as predictor:
        reference = {key: predictor.new_stream() for key in streams}
        for i in range(4):
            for key, frames in streams.items():
                inputs = frame_inputs(["frame"], [frames[i][None]], True)
                result = client.infer(
                    "predict", inputs, sequence_id=key, sequence_start=i == 0, sequence_end=i == 3
                )
                expected = predictor.step([reference[key]], [frames[i]])[0]
                np.testing.assert_array_equal(result.as_numpy("frame")[0], expected)


def test_restarting_a_sequence_forgets_its_context(client, predict_onnx_path):
    frames = moving_frames(3, 24, 32)
    for frame in frames:
        client.infer(
            "predict", frame_inputs(["frame"], [frame[None]], True), sequence_id=5, sequence_start=True
        )
    with Predictor(predict_onnx_path) as predictor:
        expected = predictor.push(frames[-1])
    result = client.infer(
        "predict", frame_inputs(["frame"], [frames[-1][None]], True), sequence_id=5, sequence_start=True
    )
    np.testing.assert_array_equal(result.as_numpy("frame")[0], expected)


@pytest.mark.parametrize("h, w", [(2, 2), (3, 2), (2, 9), (9, 2), (8, 8)])
def test_the_smallest_frames_work(client, interpolator, predict_onnx_path, h, w):
    f0, f1 = pairs(1, h, w)
    out = client.infer("interp", frame_inputs(["frame0", "frame1"], [f0, f1], True)).as_numpy("frame")
    np.testing.assert_array_equal(out[0], interpolator.interpolate(f0[0], f1[0]))
    inputs = frame_inputs(["frame"], [f0], True)
    out = client.infer("predict", inputs, sequence_id="tiny", sequence_start=True, sequence_end=True)
    with Predictor(predict_onnx_path) as predictor:
        np.testing.assert_array_equal(out.as_numpy("frame")[0], predictor.push(f0[0]))


def test_stateless_prediction_from_all_context_inputs(client, predict_onnx_path):
    frames = [np.stack(moving_frames(5, 24, 32)[i : i + 2]) for i in range(3)]  # 3 inputs of 2 contexts
    out = client.infer("predict", frame_inputs(["frame0", "frame1", "frame2"], frames, True)).as_numpy(
        "frame"
    )
    with Predictor(predict_onnx_path) as predictor:
        c = predictor.contract
        for n in range(2):
            y = predictor.run([to_tensor(frames[k][n], c) for k in range(3)])
            np.testing.assert_array_equal(out[n], to_frame(y, c))


def send_pair(address, body, headers):
    return post(address, INFER.format("interp"), body, headers)


def test_concurrent_requests_share_model_calls(model_dir, interpolator):
    f0, f1 = pairs(8, 32, 48)
    requests = [triton_request({"frame0": f0[i : i + 1], "frame1": f1[i : i + 1]}) for i in range(8)]
    server = serve_folder(model_dir, max_batch=4, max_delay_ms=200.0)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send_pair, [server.address] * 8, *zip(*requests, strict=True)))
        calls = metric(server.address, 'corrwise_batch_size_count{model="interp"}')
        frames = metric(server.address, 'corrwise_batch_size_sum{model="interp"}')
        four = metric(server.address, 'corrwise_batch_size_bucket{le="4.0",model="interp"}')
        three = metric(server.address, 'corrwise_batch_size_bucket{le="3.0",model="interp"}')
    finally:
        server.stop()
    assert [status for status, _, _ in answers] == [200] * 8
    for i, (_, headers, body) in enumerate(answers):
        length = int(headers["Inference-Header-Content-Length"])
        out = triton.InferResult.from_response_body(body, header_length=length).as_numpy("frame")
        np.testing.assert_array_equal(out[0], interpolator.interpolate(f0[i], f1[i]))
    assert frames == 8 and calls < 8  # batched: fewer model calls than requests
    assert four - three >= 1  # at least one full batch of 4


@pytest.fixture
def blocking_server(onnx_path):
    model = BlockingModel("slow", Interpolator(onnx_path), FrameLimits(4, 8192))
    server = start_server({"slow": model}, max_batch=1, max_delay_ms=0.0, max_queue=1)
    yield server, model
    model.release.set()
    server.stop()


def slow_request():
    f0, f1 = pairs(1, 16, 16)
    return triton_request({"frame0": f0, "frame1": f1})


def test_a_full_queue_answers_503_with_retry_after(blocking_server):
    server, model = blocking_server
    body, headers = slow_request()
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(post, server.address, INFER.format("slow"), body, headers)
        assert model.started.wait(30)
        queued = pool.submit(post, server.address, INFER.format("slow"), body, headers)
        while metric(server.address, 'corrwise_queue_depth{model="slow"}') < 1:
            threading.Event().wait(0.01)
        status, answer_headers, answer = post(server.address, INFER.format("slow"), body, headers)
        model.release.set()
        assert running.result()[0] == 200 and queued.result()[0] == 200
    assert status == 503 and int(answer_headers["Retry-After"]) >= 1
    assert "waiting" in json.loads(answer)["error"]
    assert metric(server.address, 'corrwise_requests_total{model="slow",status="503"}') == 1


def test_shutdown_finishes_requests_in_flight(blocking_server):
    server, model = blocking_server
    body, headers = slow_request()
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(post, server.address, INFER.format("slow"), body, headers)
        assert model.started.wait(30)
        stopping = pool.submit(server.stop)
        threading.Event().wait(0.3)
        assert not stopping.done()  # waits for the request in flight
        model.release.set()
        status, _, answer = running.result()
        stopping.result()
    assert status == 200 and "outputs" in answer.decode(errors="replace")
    with pytest.raises(OSError):
        get(server.address, "/v2/health/live")


def test_idle_sequences_are_evicted(model_dir):
    frame = moving_frames(1, 16, 16)[0][None]
    server = serve_folder(model_dir, sequence_timeout_s=0.2)
    try:
        body, headers = triton_request({"frame": frame}, sequence_id=3, sequence_start=True)
        assert post(server.address, INFER.format("predict"), body, headers)[0] == 200
        assert metric(server.address, "corrwise_live_sequences ") == 1
        threading.Event().wait(0.6)
        body, headers = triton_request({"frame": frame}, sequence_id=3)
        status, _, answer = post(server.address, INFER.format("predict"), body, headers)
        evicted = metric(server.address, "corrwise_sequences_evicted_total ")
        live = metric(server.address, "corrwise_live_sequences ")
    finally:
        server.stop()
    assert status == 400 and "evicted" in json.loads(answer)["error"]
    assert evicted == 1 and live == 0


def send_frame(address, seq_id, **options):
    body, headers = triton_request(
        {"frame": moving_frames(1, 16, 16)[0][None]}, sequence_id=seq_id, **options
    )
    return post(address, INFER.format("predict"), body, headers)


def test_the_number_of_live_sequences_is_bounded(model_dir):
    server = serve_folder(model_dir, max_sequences=2)
    try:
        address = server.address
        assert send_frame(address, 1, sequence_start=True)[0] == 200
        assert send_frame(address, 2, sequence_start=True)[0] == 200
        status, headers, answer = send_frame(address, 3, sequence_start=True)
        assert send_frame(address, 1, sequence_end=True)[0] == 200
        after_end = send_frame(address, 3, sequence_start=True)[0]
    finally:
        server.stop()
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert "limit of 2 live sequences" in json.loads(answer)["error"]
    assert after_end == 200


def frames_request(**arrays):
    return triton_request(arrays)


F = moving_frames(2, 16, 24)
PAIR = {"frame0": F[0][None], "frame1": F[1][None]}
BAD_REQUESTS = {
    "malformed JSON": ("interp", b'{"inputs": [', {}, "not valid JSON"),
    "float frames": ("interp", *frames_request(frame0=F[0][None] / 255.0, frame1=F[1][None]), "UINT8 frames"),
    "four channels": (
        "interp",
        *frames_request(frame0=np.zeros((1, 8, 8, 4), np.uint8), frame1=F[1][None]),
        "UINT8",
    ),
    "no batch axis": ("interp", *frames_request(frame0=F[0], frame1=F[1]), "[N, H, W, 3]"),
    "missing input": ("interp", *frames_request(frame0=F[0][None]), "missing ['frame1']"),
    "unknown input": ("interp", *frames_request(**PAIR, extra=F[0][None]), "unknown ['extra']"),
    "shapes differ": ("interp", *frames_request(frame0=F[0][None], frame1=F[1][None, :8]), "one shape"),
    "too many frames": (
        "interp",
        *frames_request(frame0=np.stack(F * 3)[:5], frame1=np.stack(F * 3)[:5]),
        "1 to 4",
    ),
    "tiny frames": (
        "interp",
        *frames_request(frame0=F[0][None, :1, :1], frame1=F[1][None, :1, :1]),
        "2 to 8192",
    ),
    "time for a midpoint model": (
        "interp",
        *frames_request(**PAIR, timestep=np.array([[0.3]], np.float32)),
        "midpoint only",
    ),
    "time out of range": (
        "interp_t",
        *frames_request(**PAIR, timestep=np.array([[1.0]], np.float32)),
        "between 0",
    ),
    "time of the wrong shape": (
        "interp_t",
        *frames_request(**PAIR, timestep=np.ones((2, 1), np.float32)),
        "[1, 1]",
    ),
    "sequence for an interpolator": (
        "interp",
        *triton_request(PAIR, sequence_id=4, sequence_start=True),
        "without sequence_id",
    ),
    "prediction frame without a sequence": ("predict", *frames_request(frame=F[0][None]), "sequence_id"),
    "two frames in a sequence step": (
        "predict",
        *triton_request({"frame": np.stack(F)}, sequence_id=9, sequence_start=True),
        "1 to 1",
    ),
    "unknown output": (
        "interp",
        *triton_request(PAIR, outputs=[triton.InferRequestedOutput("mask")]),
        "asks for 'mask'",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_bad_requests_are_400_with_a_message(server, name):
    model, body, headers, message = BAD_REQUESTS[name]
    status, answer_headers, answer = post(server.address, INFER.format(model), body, headers)
    assert status == 400, answer
    assert answer_headers["content-type"] == "application/json"
    assert message in json.loads(answer)["error"]


def test_a_sequence_keeps_its_frame_size(server):
    body, headers = triton_request({"frame": F[0][None]}, sequence_id=77, sequence_start=True)
    assert post(server.address, INFER.format("predict"), body, headers)[0] == 200
    body, headers = triton_request({"frame": F[0][None, :8]}, sequence_id=77)
    status, _, answer = post(server.address, INFER.format("predict"), body, headers)
    assert status == 400 and "new frame size" in json.loads(answer)["error"]


def test_midpoint_time_is_accepted_by_a_midpoint_model(server, interpolator):
    body, headers = frames_request(**PAIR, timestep=np.array([[0.5]], np.float32))
    status, answer_headers, answer = post(server.address, INFER.format("interp"), body, headers)
    assert status == 200
    length = int(answer_headers["Inference-Header-Content-Length"])
    out = triton.InferResult.from_response_body(answer, header_length=length).as_numpy("frame")
    np.testing.assert_array_equal(out[0], interpolator.interpolate(F[0], F[1]))


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("POST", INFER.format("nope"), b"{}", 404),
        ("POST", "/v2/models/interp/versions/7/infer", b"{}", 404),
        ("GET", INFER.format("interp"), b"", 405),
        ("GET", "/v2/nothing/here", b"", 404),
        ("GET", "/v2/models/nope/ready", b"", 404),
    ],
)
def test_routing_errors_are_json(server, method, path, body, status):
    answer_status, _, answer = post(server.address, path, body, method=method)
    assert answer_status == status
    assert "error" in json.loads(answer)


def test_an_oversized_body_is_413(server):
    big = np.zeros((1, 700, 1000, 3), np.uint8)  # 2.1 MB each, the server takes 2 MiB
    body, headers = frames_request(frame0=big, frame1=big)
    status, _, answer = post(server.address, INFER.format("interp"), body, headers)
    assert status == 413 and "limit" in json.loads(answer)["error"]


def test_requests_are_compressed_transparently(client, interpolator):
    f0, f1 = pairs(1, 16, 24)
    inputs = frame_inputs(["frame0", "frame1"], [f0, f1], True)
    out = client.infer("interp", inputs, request_compression_algorithm="gzip").as_numpy("frame")
    np.testing.assert_array_equal(out[0], interpolator.interpolate(f0[0], f1[0]))


def test_each_request_is_counted_and_logged(server, caplog):
    before = metric(server.address, 'corrwise_requests_total{model="interp",status="400"}')
    with caplog.at_level("INFO", logger="corrwise.serve"):
        body, headers = frames_request(frame0=F[0][None])
        post(server.address, INFER.format("interp"), body, headers)
        body, headers = frames_request(**PAIR)
        post(
            server.address,
            INFER.format("interp"),
            body,
            headers,
        )
    after = metric(server.address, 'corrwise_requests_total{model="interp",status="400"}')
    assert after == before + 1
    records = [r.fields for r in caplog.records if r.getMessage() == "infer"]
    assert [r["status"] for r in records[-2:]] == [400, 200]
    assert (
        records[-1]["model"] == "interp" and records[-1]["batch_size"] == 1 and records[-1]["latency_ms"] > 0
    )


def test_a_backend_fault_is_500_and_the_server_carries_on(onnx_path):
    server = start_server({"broken": FailingModel("broken", Interpolator(onnx_path), FrameLimits(4, 8192))})
    try:
        body, headers = slow_request()
        answers = [post(server.address, INFER.format("broken"), body, headers) for _ in range(2)]
        counted = metric(server.address, 'corrwise_requests_total{model="broken",status="500"}')
        live = get(server.address, "/v2/health/live")[0]
    finally:
        server.stop()
    assert [status for status, _, _ in answers] == [500, 500]
    assert "RuntimeError" in json.loads(answers[0][2])["error"]
    assert counted == 2 and live == 200
