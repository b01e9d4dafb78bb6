"""KServe v2 / Open Inference Protocol messages: JSON and binary tensors in, numpy arrays out, and back.

An inference request is a JSON object::

    {"id": "42", "parameters": {...},
     "inputs": [{"name": "frame0", "shape": [1, 256, 448, 3], "datatype": "UINT8", "data": [...]}],
     "outputs": [{"name": "frame", "parameters": {"binary_data": true}}]}

``data`` holds the elements in row-major order (flat or nested lists). With
the binary tensor extension, an input carries ``parameters.binary_data_size``
instead of ``data``; the header ``Inference-Header-Content-Length`` gives the
length of the JSON, and the raw little-endian tensors follow it, in the order
of the inputs that have a ``binary_data_size``. Outputs asked for with
``binary_data`` (or all of them, with the request parameter
``binary_data_output``) come back the same way.

Every malformed message raises :class:`~corrwise.errors.InputError` with what
was expected and what arrived; the server answers it with 400.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from corrwise.errors import InputError

HEADER_LENGTH = "Inference-Header-Content-Length"
# Protocol datatype -> little-endian numpy dtype (BYTES and BF16 are not served).
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
MAX_RANK = 8
MAX_ID_CHARS = 256


@dataclass(frozen=True)
class RequestedOutput:
    """One entry of a request's ``outputs``: the tensor's name and whether it comes back binary."""

    name: str
    binary: bool


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request.

    Attributes:
        id: the request's ``id``, echoed in the response (None when absent).
        parameters: the request-level ``parameters`` object.
        inputs: one array per input name, shaped as declared, dtype from the datatype.
        outputs: the requested outputs, or None for all of them.
        binary_output: the ``binary_data_output`` parameter: return outputs that
            are not listed explicitly as binary tensors.
    """

    id: str | None
    parameters: Mapping[str, Any]
    inputs: Mapping[str, np.ndarray]
    outputs: tuple[RequestedOutput, ...] | None
    binary_output: bool


@dataclass(frozen=True)
class SequenceParams:
    """A stateful request's parameters ``sequence_id``, ``sequence_start`` and ``sequence_end``."""

    id: int | str
    start: bool
    end: bool


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes | None:
    """Undo ``Content-Encoding`` (identity, gzip or deflate); None when it inflates past ``limit`` bytes."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return body
    if name not in ("gzip", "deflate"):
        raise InputError(f"Content-Encoding must be identity, gzip or deflate, got {encoding!r}")
    inflater = zlib.decompressobj(wbits=31 if name == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as err:
        raise InputError(f"the body is not valid {name} data ({err})") from err
    if len(out) > limit:
        return None
    if not inflater.eof:
        raise InputError(f"the {name} body is truncated")
    return out


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Parse a request body (JSON, or JSON then binary tensors when ``header_length`` is given)."""
    header, binary = _split_body(body, header_length)
    message = _load_json(header)
    parameters = _object(message.get("parameters", {}), "the request's 'parameters'")
    request_id = message.get("id")
    if request_id is not None and (not isinstance(request_id, str) or len(request_id) > MAX_ID_CHARS):
        raise InputError(
            f"'id' must be a string of at most {MAX_ID_CHARS} characters, got {request_id!r:.80}"
        )
    raw_inputs = message.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InputError("the request needs 'inputs': a non-empty list of tensors")
    inputs, offset = {}, 0
    for index, raw in enumerate(raw_inputs):
        name, array, offset = _parse_input(raw, index, binary, offset)
        if name in inputs:
            raise InputError(f"input {name!r} appears twice; send each input once")
        inputs[name] = array
    if offset != len(binary):
        raise InputError(
            f"{len(binary) - offset} bytes of binary data follow the JSON header that no input claims "
            "with parameters.binary_data_size"
        )
    return InferRequest(
        id=request_id,
        parameters=parameters,
        inputs=inputs,
        outputs=_parse_outputs(message.get("outputs")),
        binary_output=_flag(parameters, "binary_data_output", "request parameter"),
    )


def sequence_params(parameters: Mapping[str, Any]) -> SequenceParams | None:
    """The sequence parameters, or None when the request is not part of a sequence.

    As in Triton, a ``sequence_id`` of 0 or "" (or none) means no sequence.
    """
    seq_id = parameters.get("sequence_id", 0)
    valid_int = isinstance(seq_id, int) and not isinstance(seq_id, bool) and seq_id >= 0
    if not (valid_int or (isinstance(seq_id, str) and len(seq_id) <= MAX_ID_CHARS)):
        raise InputError(
            f"sequence_id must be a non-negative integer or a string of at most {MAX_ID_CHARS} characters, "
            f"got {seq_id!r:.80}"
        )
    start = _flag(parameters, "sequence_start", "request parameter")
    end = _flag(parameters, "sequence_end", "request parameter")
    if seq_id in (0, ""):
        if start or end:
            raise InputError(
                "sequence_start and sequence_end need a sequence_id (non-zero integer or string)"
            )
        return None
    return SequenceParams(seq_id, start, end)


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Sequence[tuple[str, np.ndarray, bool]],
) -> tuple[bytes, dict[str, str]]:
    """The response body and headers for ``outputs`` as (name, array, binary) triples.

    Binary outputs follow the JSON header as raw little-endian bytes and the
    header ``Inference-Header-Content-Length`` says where the JSON ends.
    """
    entries, chunks = [], []
    for name, array, binary in outputs:
        datatype = datatype_of(array.dtype)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = np.ascontiguousarray(array, DATATYPES[datatype]).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = array.reshape(-1).tolist()
        entries.append(entry)
    message: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": entries}
    if request_id is not None:
        message["id"] = request_id
    head = json.dumps(message, separators=(",", ":")).encode()
    if not chunks:
        return head, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
    return head + b"".join(chunks), headers


def datatype_of(dtype: np.dtype) -> str:
    """The protocol datatype of a numpy dtype (``uint8`` -> ``"UINT8"``)."""
    for name, candidate in DATATYPES.items():
        if candidate == np.dtype(dtype).newbyteorder("<"):
            return name
    raise InputError(f"no protocol datatype for numpy dtype {dtype}")


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """(JSON header, binary tail) of a body, from the ``Inference-Header-Content-Length`` header."""
    if header_length is None:
        return body, memoryview(b"")
    text = header_length.strip()
    if not text.isdigit() or len(text) > 18:
        raise InputError(f"{HEADER_LENGTH} must be a non-negative integer, got {header_length!r:.80}")
    length = int(text)
    if length > len(body):
        raise InputError(f"{HEADER_LENGTH} is {length} but the body has only {len(body)} bytes")
    view = memoryview(body)
    return bytes(view[:length]), view[length:]


def _load_json(header: bytes) -> dict[str, Any]:
    """The request's JSON object."""
    try:
        message = json.loads(header)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InputError(f"the request is not valid JSON ({str(err)[:200]})") from err
    return _object(message, "the request")


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _flag(parameters: Mapping[str, Any], key: str, what: str) -> bool:
    """A boolean parameter (absent: False)."""
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"{what} {key!r} must be true or false, got {value!r:.80}")
    return value


def _parse_input(raw: object, index: int, binary: memoryview, offset: int) -> tuple[str, np.ndarray, int]:
    """One input tensor: (name, array, offset of the next binary tensor)."""
    tensor = _object(raw, f"inputs[{index}]")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"inputs[{index}] needs a 'name' (a non-empty string)")
    dtype = _dtype(tensor.get("datatype"), name)
    shape = _shape(tensor.get("shape"), name)
    parameters = _object(tensor.get("parameters", {}), f"the parameters of input {name!r}")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise InputError(f"input {name!r} has neither 'data' nor parameters.binary_data_size")
        return name, _array_from_json(tensor["data"], dtype, shape, name), offset
    if "data" in tensor:
        raise InputError(f"input {name!r} has both 'data' and parameters.binary_data_size; send one")
    return name, _array_from_binary(binary, offset, size, dtype, shape, name), offset + size


def _dtype(datatype: object, name: str) -> np.dtype:
    if datatype in DATATYPES:
        return DATATYPES[datatype]
    raise InputError(
        f"input {name!r} has datatype {datatype!r:.40}; expected one of {sorted(DATATYPES)} "
        "(frames are UINT8)"
    )


def _shape(shape: object, name: str) -> tuple[int, ...]:
    valid = (
        isinstance(shape, list)
        and len(shape) <= MAX_RANK
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    )
    if not valid:
        raise InputError(
            f"input {name!r} needs a 'shape': a list of at most {MAX_RANK} non-negative integers, "
            f"got {shape!r:.80}"
        )
    return tuple(shape)


def _array_from_binary(
    binary: memoryview, offset: int, size: object, dtype: np.dtype, shape: tuple[int, ...], name: str
) -> np.ndarray:
    """A tensor's raw little-endian bytes at ``offset`` of the binary tail, as an array of ``shape``."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InputError(
            f"binary_data_size of input {name!r} must be a non-negative integer, got {size!r:.40}"
        )
    expected = math.prod(shape) * dtype.itemsize
    if size != expected:
        raise InputError(
            f"input {name!r} of shape {list(shape)} and {dtype.name} needs {expected} bytes, "
            f"but binary_data_size is {size}"
        )
    if offset + size > len(binary):
        raise InputError(
            f"input {name!r} needs bytes {offset}..{offset + size} of the binary data, which has only "
            f"{len(binary)} bytes; check {HEADER_LENGTH} and the binary_data_size of each input"
        )
    return np.frombuffer(binary[offset : offset + size], dtype).reshape(shape)


def _array_from_json(data: object, dtype: np.dtype, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A tensor's JSON ``data`` (flat or nested, row-major) as an array of ``shape`` and ``dtype``."""
    if not isinstance(data, list):
        raise InputError(f"'data' of input {name!r} must be a list of numbers, got {type(data).__name__}")
    try:
        values = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as err:
        raise InputError(f"'data' of input {name!r} is not a regular array of numbers ({err})") from err
    if values.size != math.prod(shape):
        raise InputError(
            f"input {name!r} has shape {list(shape)} ({math.prod(shape)} elements) but 'data' holds "
            f"{values.size}"
        )
    if values.size and not _fits(values, dtype):
        raise InputError(
            f"'data' of input {name!r} does not fit {dtype.name}: expected "
            f"{'integers' if dtype.kind in 'iu' else 'numbers'} in the type's range, "
            f"got {values.dtype} values"
        )
    return values.astype(dtype).reshape(shape)


def _fits(values: np.ndarray, dtype: np.dtype) -> bool:
    """Whether every value can be stored as ``dtype`` without changing it (floats: any number)."""
    if dtype.kind == "b":
        return values.dtype.kind == "b"
    if dtype.kind == "f":
        return values.dtype.kind in "biuf"
    if values.dtype.kind not in "iu":
        return False
    info = np.iinfo(dtype)
    return bool(values.min() >= info.min and values.max() <= info.max)


def _parse_outputs(raw: object) -> tuple[RequestedOutput, ...] | None:
    """The requested outputs (None when the request names none)."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InputError(f"'outputs' must be a list of {{'name': ...}} objects, got {type(raw).__name__}")
    outputs = []
    for index, item in enumerate(raw):
        entry = _object(item, f"outputs[{index}]")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise InputError(f"outputs[{index}] needs a 'name' (a non-empty string)")
        parameters = _object(entry.get("parameters", {}), f"the parameters of output {name!r}")
        outputs.append(RequestedOutput(name, _flag(parameters, "binary_data", f"output {name!r} parameter")))
    return tuple(outputs)
