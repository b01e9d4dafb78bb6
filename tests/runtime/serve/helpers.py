"""Helpers of the server tests: tiny exported models, servers on free ports, raw HTTP requests."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import numpy as np
import torch
import tritonclient.http as triton
from corrwise.export import onnx_from_checkpoint
from corrwise.models import build_model, save_checkpoint
from corrwise.runtime.serve import (
    BackgroundServer,
    ModelRepository,
    ServeConfig,
    create_app,
    create_server_app,
)
from corrwise.runtime.serve.interpolation import InterpolationModel
from tritonclient.utils import np_to_triton_dtype


def export_edge_unet(folder: Path, name: str, config: dict) -> Path:
    """A tiny edge-unet with a random head (outputs differ from the plain blend), exported to ONNX."""
    torch.manual_seed(0)
    model = build_model("edge-unet", {"base_channels": 8, **config})
    torch.nn.init.normal_(model.head.weight, std=0.05)
    checkpoint = save_checkpoint(
        folder / f"{name}.safetensors", model, "edge-unet", {"loss": "l1", "steps": 0}
    )
    return onnx_from_checkpoint(checkpoint, folder / f"{name}.onnx")


def start_server(models: dict, **options) -> BackgroundServer:
    """A started server for ``models`` (name -> ServedModel) with ServeConfig ``options``."""
    config = ServeConfig(port=0, **options)
    return BackgroundServer(create_app(ModelRepository(models), config), config).start()


class BlockingModel(InterpolationModel):
    """An interpolation model whose batches wait for :attr:`release`; :attr:`started` tells one waits."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.started = threading.Event()
        self.release = threading.Event()

    def run_batch(self, key, items):
        self.started.set()
        self.release.wait(60)
        return super().run_batch(key, items)


def post(address: str, path: str, body: bytes, headers: dict | None = None, method: str = "POST"):
    """(status, headers, body) of one raw HTTP request."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()  # headers: case-insensitive
    finally:
        connection.close()


def get(address: str, path: str):
    return post(address, path, b"", method="GET")


def json_request(inputs: dict[str, np.ndarray], **fields) -> bytes:
    """A JSON-only infer request for ``inputs`` (name -> array)."""
    tensors = [
        {
            "name": n,
            "shape": list(a.shape),
            "datatype": "FP32" if a.dtype.kind == "f" else "UINT8",
            "data": a.reshape(-1).tolist(),
        }
        for n, a in inputs.items()
    ]
    return json.dumps({"inputs": tensors, **fields}).encode()


def metric(address: str, line_start: str) -> float:
    """The value of the first /metrics line starting with ``line_start`` (0 when there is none)."""
    _, _, body = get(address, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def serve_folder(model_dir: Path, **options) -> BackgroundServer:
    """A started server for the models in ``model_dir`` with ServeConfig ``options``."""
    config = ServeConfig(port=0, **options)
    return BackgroundServer(create_server_app(model_dir, config), config).start()


def triton_request(inputs: dict[str, np.ndarray], binary: bool = True, **options) -> tuple[bytes, dict]:
    """(body, headers) of an infer request for ``inputs`` (name -> array), as tritonclient.http builds it."""
    tensors = []
    for name, array in inputs.items():
        tensor = triton.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array, binary_data=binary)
        tensors.append(tensor)
    body, json_size = triton.InferenceServerClient.generate_request_body(tensors, **options)
    return body, {} if json_size is None else {"Inference-Header-Content-Length": str(json_size)}


class FailingModel(InterpolationModel):
    """An interpolation model whose every batch fails as a backend fault would."""

    def run_batch(self, key, items):
        raise RuntimeError("the backend crashed")
