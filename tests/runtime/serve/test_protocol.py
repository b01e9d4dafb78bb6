"""KServe v2 messages: tritonclient requests parse, tritonclient reads the responses, bad input is named."""

import gzip
import json
import zlib

import numpy as np
import pytest
import tritonclient.http as triton
from corrwise.errors import InputError
from corrwise.runtime.serve.protocol import (
    HEADER_LENGTH,
    RequestedOutput,
    SequenceParams,
    datatype_of,
    decode_content,
    encode_infer_response,
    parse_infer_request,
    sequence_params,
)

RNG = np.random.default_rng(0)
FRAMES = RNG.integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
TIMES = np.array([[0.25], [0.5]], np.float32)


def triton_body(binary: bool, **options) -> tuple[bytes, str | None]:
    """A request body as tritonclient.http builds it, and its header length (None for JSON only)."""
    frames = triton.InferInput("frame0", list(FRAMES.shape), "UINT8")
    frames.set_data_from_numpy(FRAMES, binary_data=binary)
    times = triton.InferInput("timestep", list(TIMES.shape), "FP32")
    times.set_data_from_numpy(TIMES, binary_data=binary)
    outputs = [triton.InferRequestedOutput("frame", binary_data=binary)]
    body, json_size = triton.InferenceServerClient.generate_request_body(
        [frames, times], outputs=outputs, request_id="r1", **options
    )
    return body, None if json_size is None else str(json_size)


@pytest.mark.parametrize("binary", [False, True])
def test_parses_what_tritonclient_sends(binary):
    body, header = triton_body(binary)
    assert (header is not None) == binary
    request = parse_infer_request(body, header)
    assert request.id == "r1"
    np.testing.assert_array_equal(request.inputs["frame0"], FRAMES)
    assert request.inputs["frame0"].dtype == np.uint8
    np.testing.assert_array_equal(request.inputs["timestep"], TIMES)
    assert request.outputs == (RequestedOutput("frame", binary),)
    assert sequence_params(request.parameters) is None


def test_sequence_parameters_from_tritonclient():
    body, header = triton_body(True, sequence_id=42, sequence_start=True)
    assert sequence_params(parse_infer_request(body, header).parameters) == SequenceParams(42, True, False)
    body, header = triton_body(True, sequence_id="cam-7", sequence_end=True)
    assert sequence_params(parse_infer_request(body, header).parameters) == SequenceParams(
        "cam-7", False, True
    )


def test_nested_json_data_and_no_outputs_means_all():
    message = {
        "inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]}],
        "parameters": {"binary_data_output": True},
    }
    request = parse_infer_request(json.dumps(message).encode(), None)
    np.testing.assert_array_equal(request.inputs["x"], [[1, 2], [3, 4]])
    assert request.inputs["x"].dtype == np.int32
    assert request.outputs is None and request.binary_output and request.id is None


def test_mixed_json_and_binary_inputs():
    raw = np.arange(6, dtype="<f4")
    header = json.dumps(
        {
            "inputs": [
                {"name": "a", "shape": [2], "datatype": "UINT8", "data": [7, 9]},
                {"name": "b", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": 24}},
            ]
        }
    ).encode()
    request = parse_infer_request(header + raw.tobytes(), str(len(header)))
    np.testing.assert_array_equal(request.inputs["a"], [7, 9])
    np.testing.assert_array_equal(request.inputs["b"], raw.reshape(2, 3))


def tensor(**changes):
    base = {"name": "frame0", "shape": [1, 2], "datatype": "UINT8", "data": [1, 2]}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def body_of(*inputs, **fields):
    return json.dumps({"inputs": list(inputs), **fields}).encode()


@pytest.mark.parametrize(
    "body, header, message",
    [
        (b"{not json", None, "not valid JSON"),
        (b"\xff\xfe\x00garbage", None, "not valid JSON"),
        (b"[1, 2]", None, "must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, None, "not valid JSON"),
        (body_of(), None, "non-empty list"),
        (json.dumps({"inputs": {"a": 1}}).encode(), None, "non-empty list"),
        (body_of(5), None, r"inputs\[0\] must be a JSON object"),
        (body_of(tensor(name=None)), None, "needs a 'name'"),
        (body_of(tensor(datatype="BYTES")), None, "datatype 'BYTES'"),
        (body_of(tensor(datatype=None)), None, "datatype None"),
        (body_of(tensor(shape=[1, -2])), None, "non-negative integers"),
        (body_of(tensor(shape=[True, 2])), None, "non-negative integers"),
        (body_of(tensor(shape="1,2")), None, "non-negative integers"),
        (body_of(tensor(shape=[1] * 9)), None, "at most 8"),
        (body_of(tensor(data=[1, 2, 3])), None, "holds 3"),
        (body_of(tensor(data="12")), None, "must be a list"),
        (body_of(tensor(data=None)), None, "neither 'data' nor"),
        (body_of(tensor(data=["a", "b"])), None, "does not fit uint8"),
        (body_of(tensor(data=[1, 300])), None, "does not fit uint8"),
        (body_of(tensor(data=[1, -1])), None, "does not fit uint8"),
        (body_of(tensor(data=[1.5, 2])), None, "does not fit uint8"),
        (body_of(tensor(data=[[1], [2, 3]])), None, "not a regular array"),
        (body_of(tensor(data=[2**80, 1])), None, "does not fit uint8"),
        (body_of(tensor(data=[{"a": 1}, 2])), None, "does not fit uint8"),
        (body_of(tensor(datatype="BOOL", data=[1, 0])), None, "does not fit bool"),
        (body_of(tensor(), tensor()), None, "appears twice"),
        (body_of(tensor(), id=7), None, "'id' must be a string"),
        (body_of(tensor(), parameters=[1]), None, "'parameters' must be a JSON object"),
        (body_of(tensor(), parameters={"binary_data_output": "yes"}), None, "must be true or false"),
        (body_of(tensor(), outputs={"name": "frame"}), None, "'outputs' must be a list"),
        (body_of(tensor(), outputs=[{"name": ""}]), None, "needs a 'name'"),
        (body_of(tensor(), outputs=[{"name": "f", "parameters": {"binary_data": 1}}]), None, "true or false"),
        (body_of(tensor()), "abc", "must be a non-negative integer"),
        (body_of(tensor()), "-5", "must be a non-negative integer"),
        (body_of(tensor()), "99999999", "has only"),
        (body_of(tensor()) + b"\x00\x01", None, "not valid JSON"),
    ],
)
def test_malformed_requests_are_named(body, header, message):
    with pytest.raises(InputError, match=message):
        parse_infer_request(body, header)


@pytest.mark.parametrize(
    "size, tail, message",
    [
        (3, b"\x01\x02\x03", "needs 2 bytes"),
        (-1, b"", "non-negative integer"),
        ("2", b"\x01\x02", "non-negative integer"),
        (2, b"\x01", "has only 1 bytes"),
        (2, b"\x01\x02\x03", "1 bytes of binary data"),
    ],
)
def test_binary_sizes_must_add_up(size, tail, message):
    header = body_of(tensor(data=None, parameters={"binary_data_size": size}))
    with pytest.raises(InputError, match=message):
        parse_infer_request(header + tail, str(len(header)))


def test_data_and_binary_size_together_are_refused():
    header = body_of(tensor(parameters={"binary_data_size": 2}))
    with pytest.raises(InputError, match="both 'data' and"):
        parse_infer_request(header + b"\x01\x02", str(len(header)))


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_reads_the_response(binary):
    frames = RNG.integers(0, 256, size=(1, 4, 6, 3), dtype=np.uint8)
    body, headers = encode_infer_response("interp", "1", "abc", [("frame", frames, binary)])
    header_length = headers.get(HEADER_LENGTH)
    assert (header_length is not None) == binary
    assert headers["Content-Type"] == ("application/octet-stream" if binary else "application/json")
    result = triton.InferResult.from_response_body(
        body, header_length=None if header_length is None else int(header_length)
    )
    np.testing.assert_array_equal(result.as_numpy("frame"), frames)
    response = result.get_response()
    assert response["model_name"] == "interp" and response["model_version"] == "1" and response["id"] == "abc"


def test_response_without_id_has_no_id():
    body, _ = encode_infer_response("m", "1", None, [("y", np.zeros((1, 2), np.float32), False)])
    message = json.loads(body)
    assert "id" not in message and message["outputs"][0] == {
        "name": "y",
        "datatype": "FP32",
        "shape": [1, 2],
        "data": [0.0, 0.0],
    }


@pytest.mark.parametrize(
    "dtype, name", [(np.uint8, "UINT8"), (np.float32, "FP32"), (np.float16, "FP16"), (np.bool_, "BOOL")]
)
def test_datatype_names(dtype, name):
    assert datatype_of(np.dtype(dtype)) == name


def test_content_encodings():
    raw = b"x" * 1000
    assert decode_content(gzip.compress(raw), "gzip", 2000) == raw
    assert decode_content(zlib.compress(raw), "deflate", 2000) == raw
    assert decode_content(raw, None, 2000) == raw
    assert decode_content(raw, "identity", 2000) == raw


def test_a_compressed_body_may_not_inflate_past_the_limit():
    bomb = gzip.compress(b"\x00" * 10_000_000)
    assert len(bomb) < 20_000
    assert decode_content(bomb, "gzip", 1_000_000) is None


@pytest.mark.parametrize(
    "body, encoding, message",
    [
        (b"plain", "br", "identity, gzip or deflate"),
        (b"not gzip at all", "gzip", "not valid gzip"),
        (gzip.compress(b"abc" * 100)[:20], "gzip", "truncated"),
    ],
)
def test_bad_content_encodings_are_named(body, encoding, message):
    with pytest.raises(InputError, match=message):
        decode_content(body, encoding, 10_000)


@pytest.mark.parametrize(
    "parameters, expected",
    [
        ({}, None),
        ({"sequence_id": 0}, None),
        ({"sequence_id": ""}, None),
        ({"sequence_id": 3}, SequenceParams(3, False, False)),
        ({"sequence_id": "a", "sequence_start": True, "sequence_end": True}, SequenceParams("a", True, True)),
    ],
)
def test_sequence_params(parameters, expected):
    assert sequence_params(parameters) == expected


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"sequence_id": -1}, "non-negative integer"),
        ({"sequence_id": True}, "non-negative integer"),
        ({"sequence_id": 1.5}, "non-negative integer"),
        ({"sequence_id": "x" * 300}, "at most 256"),
        ({"sequence_id": 1, "sequence_start": 1}, "true or false"),
        ({"sequence_start": True}, "need a sequence_id"),
    ],
)
def test_bad_sequence_params_are_named(parameters, message):
    with pytest.raises(InputError, match=message):
        sequence_params(parameters)
