"""The model folder: every artifact by file stem, the right runtime class per task, clear errors."""

import shutil
from pathlib import Path

import onnx
import pytest
from corrwise.errors import ConfigError, ContractError, InputError
from corrwise.runtime.serve.config import ServeConfig
from corrwise.runtime.serve.interpolation import InterpolationModel
from corrwise.runtime.serve.prediction import PredictionModel
from corrwise.runtime.serve.repository import ModelRepository, artifacts, backend_for
from onnx import TensorProto, helper


def test_loads_every_artifact_by_stem(model_dir):
    repository = ModelRepository.load(model_dir, ServeConfig())
    try:
        assert sorted(m.name for m in repository) == ["interp", "interp_t", "predict"]
        assert isinstance(repository.find("interp"), InterpolationModel)
        assert isinstance(repository.find("predict", "1"), PredictionModel)
        assert repository.find("predict", "2") is None and repository.find("notes") is None
        assert repository.find("interp_t").contract.timestep_input == "timestep"
    finally:
        repository.close()


@pytest.mark.parametrize(
    "files, error, message",
    [
        ([], InputError, "no models in"),
        (["a.onnx", "a.pt2"], ConfigError, "both be served as model 'a'"),
        (["a b.onnx"], ConfigError, "rename it"),
    ],
)
def test_folder_errors(tmp_path, files, error, message):
    for name in files:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(error, match=message):
        artifacts(tmp_path)


def test_a_missing_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        artifacts(tmp_path / "nope")


def test_a_file_that_is_no_model_is_named(tmp_path, onnx_path):
    shutil.copy(onnx_path, tmp_path / "good.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    with pytest.raises(InputError, match=r"broken\.onnx"):
        ModelRepository.load(tmp_path, ServeConfig())


def test_a_model_without_contract_is_refused(tmp_path):
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", value[:1], value[1:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(tmp_path / "plain.onnx"))
    with pytest.raises(ContractError, match="no corrwise I/O contract"):
        ModelRepository.load(tmp_path, ServeConfig())


@pytest.mark.parametrize(
    "name, backend, expected",
    [
        ("m.onnx", "onnxruntime", "onnxruntime"),
        ("m.onnx", "auto", "auto"),
        ("m.engine", "onnxruntime", "tensorrt"),
        ("m.plan", "onnxruntime", "tensorrt"),
        ("m.pt2", "onnxruntime", "pytorch"),
        ("m.pt2", "auto", "auto"),
    ],
)
def test_backend_by_suffix(name, backend, expected):
    assert backend_for(Path(name), backend) == expected


def test_serves_a_triton_repository_by_entry_name_and_latest_version(tmp_path, onnx_path):
    import numpy as np
    from corrwise.export import triton_repository
    from corrwise.runtime import Interpolator

    repo = tmp_path / "triton"
    triton_repository(onnx_path, repo, "interp")
    (repo / "interp" / "2").mkdir()
    shutil.copy(onnx_path, repo / "interp" / "2" / "model.onnx")
    (repo / "interp" / "1" / "model.onnx").write_bytes(b"an older version that does not load")
    assert artifacts(repo) == {"interp": repo / "interp" / "2" / "model.onnx"}
    repository = ModelRepository.load(repo, ServeConfig())
    try:
        model = repository.find("interp")
        assert isinstance(model, InterpolationModel) and model.name == "interp"
        frames = np.random.default_rng(0).integers(0, 256, (2, 1, 24, 32, 3), dtype=np.uint8)
        with Interpolator(onnx_path) as reference:
            expected = reference.interpolate(frames[0, 0], frames[1, 0])
        assert np.array_equal(model.engine.interpolate(frames[0, 0], frames[1, 0]), expected)
    finally:
        repository.close()


def test_a_file_and_a_triton_entry_of_one_name_clash(tmp_path, onnx_path):
    from corrwise.export import triton_repository

    triton_repository(onnx_path, tmp_path, "interp")
    shutil.copy(onnx_path, tmp_path / "interp.onnx")
    with pytest.raises(ConfigError, match="both be served as model 'interp'"):
        artifacts(tmp_path)
