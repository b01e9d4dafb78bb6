"""Fixtures of the server tests: a folder of tiny exported models and a live server on loopback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tritonclient.http as triton
from corrwise.runtime.serve import BackgroundServer, ServeConfig, create_server_app

from tests.runtime.serve.helpers import export_edge_unet


@pytest.fixture(scope="session")
def timestep_onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_edge_unet(tmp_path_factory.mktemp("timestep"), "interp_t", {"timestep": True})


@pytest.fixture(scope="session")
def model_dir(onnx_path, predict_onnx_path, timestep_onnx_path, tmp_path_factory) -> Path:
    """interp.onnx (midpoint only), interp_t.onnx (with a time input) and predict.onnx (3 context frames)."""
    folder = tmp_path_factory.mktemp("models")
    shutil.copy(onnx_path, folder / "interp.onnx")
    shutil.copy(timestep_onnx_path, folder / "interp_t.onnx")
    shutil.copy(predict_onnx_path, folder / "predict.onnx")
    (folder / "notes.txt").write_text("not a model: ignored")
    return folder


@pytest.fixture(scope="module")
def server(model_dir):
    """A live server on a free loopback port: small batches, a short batching delay."""
    config = ServeConfig(port=0, max_batch=4, max_delay_ms=2.0, max_body_mb=2.0)
    with BackgroundServer(create_server_app(model_dir, config), config) as running:
        yield running


@pytest.fixture
def client(server):
    with triton.InferenceServerClient(server.address) as connection:
        yield connection
