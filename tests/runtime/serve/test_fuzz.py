"""Fuzzing the HTTP surface: malformed bodies, headers, tensors and paths never get a 5xx; the server lives.

Three generators against one live server: JSON requests with random
structure (names, datatypes, shapes, data, parameters, binary tails, header
lengths, encodings); frame tensors of edge-case shapes and types that reach
the models (tiny frames, wrong channels, empty batches, odd times, sequence
parameters); and arbitrary bytes.
"""

import json
import urllib.parse

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.runtime.serve.helpers import get, post

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MODELS = ["interp", "interp_t", "predict"]
PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
names = st.sampled_from(["frame0", "frame1", "frame", "frame2", "timestep"]) | st.text(max_size=8)
datatypes = st.sampled_from(["UINT8", "FP32", "FP16", "INT64", "BOOL", "BYTES", "BF16"]) | st.text(max_size=6)
shapes = st.lists(st.integers(-2, 9), max_size=5) | st.just([1, 4, 6, 3]) | json_values
tensors = st.fixed_dictionaries(
    {"name": names, "datatype": datatypes, "shape": shapes},
    optional={
        "data": st.lists(st.integers(-5, 300), max_size=80) | json_values,
        "parameters": st.fixed_dictionaries(
            {}, optional={"binary_data_size": st.integers(-4, 200) | json_values}
        ),
    },
)
parameters = st.dictionaries(
    st.sampled_from(["sequence_id", "sequence_start", "sequence_end", "binary_data_output", "priority"])
    | st.text(max_size=5),
    json_values,
    max_size=4,
)
outputs = st.lists(
    st.fixed_dictionaries(
        {"name": names}, optional={"parameters": st.dictionaries(st.just("binary_data"), json_values)}
    ),
    max_size=2,
)
requests = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=4) | json_values},
    optional={
        "id": st.text(max_size=8) | json_values,
        "parameters": parameters,
        "outputs": outputs | json_values,
    },
)


def check_answer(status: int, body: bytes) -> None:
    event(f"HTTP {status}")  # --hypothesis-show-statistics shows how many requests got how far
    assert status < 500, body[:500]
    if status >= 400:
        assert "error" in json.loads(body)


@pytest.fixture(scope="module", autouse=True)
def still_alive(server):
    yield
    assert get(server.address, "/v2/health/live")[0] == 200
    assert get(server.address, "/v2/health/ready")[0] == 200


@FUZZ
@given(
    model=st.sampled_from(MODELS) | st.sampled_from(MODELS) | st.sampled_from(MODELS) | PRINTABLE,
    message=requests,
    tail=st.binary(max_size=256),
    header_length=st.none() | st.just("exact") | st.integers(-5, 10**6).map(str) | PRINTABLE,
    encoding=st.none() | st.sampled_from(["gzip", "deflate", "identity", "br", "gzip, deflate"]) | PRINTABLE,
)
def test_random_requests_never_fail_the_server(server, model, message, tail, header_length, encoding):
    head = json.dumps(message).encode()
    headers = {}
    if header_length is not None:
        headers["Inference-Header-Content-Length"] = (
            str(len(head)) if header_length == "exact" else header_length
        )
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    path = f"/v2/models/{urllib.parse.quote(model, safe='')}/infer"
    status, _, body = post(server.address, path, head + tail, headers)
    check_answer(status, body)


# Mostly shapes the models take (to reach them), sometimes the edges: empty batches, 1-pixel sides, RGBA.
sides = st.integers(2, 12) | st.integers(2, 12) | st.integers(0, 2)
frame_shapes = st.tuples(st.sampled_from([1, 1, 1, 2, 0, 5]), sides, sides, st.sampled_from([3] * 6 + [1, 4]))
MODEL_INPUTS = {
    "interp": ["frame0", "frame1"],
    "interp_t": ["frame0", "frame1", "timestep"],
    "predict": ["frame0", "frame1", "frame2"],
}


@st.composite
def frame_requests(draw):
    """A request of real tensors: frames of edge-case shapes and types, times, sequence parameters."""
    model = draw(st.sampled_from(MODELS))
    wanted = MODEL_INPUTS[model] if model != "predict" or draw(st.booleans()) else ["frame"]
    other_names = st.lists(st.sampled_from(["frame0", "frame1", "frame", "timestep"]), max_size=4)
    names = draw(other_names) if draw(st.integers(0, 3)) == 0 else wanted
    shape = draw(frame_shapes)
    dtype = draw(st.sampled_from([np.uint8] * 6 + [np.float32, np.int16]))
    rng = np.random.default_rng(draw(st.integers(0, 9)))
    inputs = {}
    for name in names:
        if name == "timestep":
            n = draw(st.sampled_from([shape[0], shape[0], 2]))
            values = draw(st.lists(st.floats(-1, 2) | st.just(0.5), min_size=n, max_size=n))
            inputs[name] = np.array(values, np.float32).reshape(n, 1)
        else:
            inputs[name] = rng.integers(0, 256, shape).astype(dtype)
    sequence = {"sequence_id": st.integers(0, 3) | st.sampled_from(["s", ""])}
    flags = {"sequence_start": st.booleans(), "sequence_end": st.booleans()}
    if draw(st.integers(0, 3)) == 0:  # anything
        params = draw(st.fixed_dictionaries({}, optional={**sequence, **flags}))
    elif names == ["frame"]:  # a sequence step, mostly a start
        params = {
            "sequence_id": draw(st.integers(1, 3)),
            "sequence_start": draw(st.booleans() | st.just(True)),
        }
    else:
        params = {}
    return model, inputs, params, draw(st.booleans())


def tensor_message(inputs, params, binary):
    entries, chunks = [], []
    for name, array in inputs.items():
        datatype = {"u": "UINT8", "f": "FP32", "i": "INT16"}[array.dtype.kind]
        entry = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            entry["parameters"] = {"binary_data_size": array.nbytes}
            chunks.append(array.tobytes())
        else:
            entry["data"] = array.reshape(-1).tolist()
        entries.append(entry)
    head = json.dumps({"inputs": entries, "parameters": params}).encode()
    headers = {"Inference-Header-Content-Length": str(len(head))} if binary else {}
    return head + b"".join(chunks), headers


@settings(FUZZ, max_examples=200)
@given(request=frame_requests())
def test_edge_case_tensors_never_fail_the_server(server, request):
    model, inputs, params, binary = request
    body, headers = tensor_message(inputs, params, binary)
    status, _, answer = post(server.address, f"/v2/models/{model}/infer", body, headers)
    check_answer(status, answer)


@settings(FUZZ, max_examples=60)
@given(body=st.binary(max_size=2048), header_length=st.none() | st.integers(0, 3000).map(str))
def test_arbitrary_bytes_never_fail_the_server(server, body, header_length):
    headers = {} if header_length is None else {"Inference-Header-Content-Length": header_length}
    status, _, answer = post(server.address, "/v2/models/interp/infer", body, headers)
    check_answer(status, answer)
