"""Triton model repositories: config.pbtxt parsed with Triton's own ModelConfig protobuf, files on disk."""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from corrwise.contract import METADATA_KEY, IOContract
from corrwise.errors import BackendUnavailable, ConfigError, ContractError, InputError
from corrwise.export import triton as triton_module
from corrwise.export.triton import triton_config, triton_repository
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tests.conftest import fused_contract, make_contract

TYPES = model_config_pb2.DataType
KINDS = model_config_pb2.ModelInstanceGroup.Kind


def parse(text):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def contract_of(config):
    return IOContract.from_dict(json.loads(config.parameters[METADATA_KEY].string_value))


def io_table(entries):
    return [(e.name, e.data_type, list(e.dims)) for e in entries]


def hidden_entries(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- triton_config (pure)


def test_nchw_float_config_parses_with_batching_and_the_contract():
    contract = make_contract()
    config = parse(triton_config(contract, "edge-unet", "onnxruntime_onnx", 8, True, 250, (4, 2, 8)))
    assert config.name == "edge-unet" and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 8
    assert io_table(config.input) == [
        ("frame0", TYPES.TYPE_FP32, [3, -1, -1]),
        ("frame1", TYPES.TYPE_FP32, [3, -1, -1]),
    ]
    assert io_table(config.output) == [("frame", TYPES.TYPE_FP32, [3, -1, -1])]
    assert config.HasField("dynamic_batching")
    assert config.dynamic_batching.max_queue_delay_microseconds == 250
    assert list(config.dynamic_batching.preferred_batch_size) == [2, 4, 8]
    assert len(config.instance_group) == 1
    assert config.instance_group[0].kind == KINDS.KIND_AUTO and config.instance_group[0].count == 1
    assert contract_of(config) == contract


def test_nhwc_uint8_fused_config_has_uint8_frames_and_a_float32_timestep():
    contract = fused_contract(timestep_input="timestep")
    config = parse(triton_config(contract, "fused", "onnxruntime_onnx", 4, True))
    assert io_table(config.input) == [
        ("frame0", TYPES.TYPE_UINT8, [-1, -1, 3]),
        ("frame1", TYPES.TYPE_UINT8, [-1, -1, 3]),
        ("timestep", TYPES.TYPE_FP32, [1, 1, 1]),
    ]
    assert io_table(config.output) == [("frame", TYPES.TYPE_UINT8, [-1, -1, 3])]
    assert config.dynamic_batching.max_queue_delay_microseconds == 100
    assert not config.dynamic_batching.preferred_batch_size
    assert contract_of(config) == contract


@pytest.mark.parametrize(("dtype", "triton_type"), [("float32", "TYPE_FP32"), ("float16", "TYPE_FP16")])
def test_timestep_of_a_float_graph_has_the_frame_type(dtype, triton_type):
    contract = make_contract(timestep_input="t", dtype=dtype)
    config = parse(triton_config(contract, "timed", "onnxruntime_onnx", 8, False))
    assert [i.name for i in config.input] == ["frame0", "frame1", "t"]
    assert {i.data_type for i in config.input} == {getattr(TYPES, triton_type)}
    assert list(config.input[2].dims) == [1, 1, 1]
    assert config.output[0].data_type == getattr(TYPES, triton_type)
    assert not config.HasField("dynamic_batching")
    assert contract_of(config).timestep_input == "t"


def test_max_batch_zero_puts_the_batch_axis_into_dims():
    contract = make_contract(timestep_input="t")
    config = parse(triton_config(contract, "nobatch", "onnxruntime_onnx", 0, False))
    assert config.max_batch_size == 0
    assert io_table(config.input) == [
        ("frame0", TYPES.TYPE_FP32, [-1, 3, -1, -1]),
        ("frame1", TYPES.TYPE_FP32, [-1, 3, -1, -1]),
        ("t", TYPES.TYPE_FP32, [-1, 1, 1, 1]),
    ]
    assert list(config.output[0].dims) == [-1, 3, -1, -1]
    assert not config.HasField("dynamic_batching")
    fixed = parse(triton_config(contract, "nobatch", "onnxruntime_onnx", 0, False, batch_dim=1))
    assert [i.dims[0] for i in [*fixed.input, *fixed.output]] == [1, 1, 1, 1]


def test_static_size_contract_writes_the_fixed_height_and_width():
    config = parse(triton_config(fused_contract(static_hw=(64, 96)), "static", "tensorrt_plan", 2, False))
    assert list(config.input[0].dims) == [64, 96, 3]
    assert list(config.output[0].dims) == [64, 96, 3]


def test_instance_group_defaults_by_platform_and_is_selectable():
    contract = make_contract()
    plan = parse(triton_config(contract, "m", "tensorrt_plan", 8, True))
    assert plan.platform == "tensorrt_plan" and plan.instance_group[0].kind == KINDS.KIND_GPU
    cpu = parse(
        triton_config(contract, "m", "onnxruntime_onnx", 8, True, instance_kind="cpu", instance_count=3)
    )
    assert cpu.instance_group[0].kind == KINDS.KIND_CPU and cpu.instance_group[0].count == 3
    gpu = parse(triton_config(contract, "m", "onnxruntime_onnx", 8, True, instance_kind="KIND_GPU"))
    assert gpu.instance_group[0].kind == KINDS.KIND_GPU
    with pytest.raises(ConfigError, match="GPU only"):
        triton_config(contract, "m", "tensorrt_plan", 8, True, instance_kind="KIND_CPU")
    with pytest.raises(ConfigError, match="instance kind"):
        triton_config(contract, "m", "onnxruntime_onnx", 8, True, instance_kind="tpu")


def test_strings_with_quotes_backslashes_newlines_and_unicode_round_trip():
    tricky = 'say "hi"\\path\nnext\tline \x01 é ✓ \U0001f600'
    contract = make_contract(model_config={"note": tricky}, training_loss='l1 "weighted"')
    config = parse(triton_config(contract, "edge.unet-v2_1", "onnxruntime_onnx", 1, True))
    assert config.name == "edge.unet-v2_1"
    back = contract_of(config)
    assert back == contract and back.model_config["note"] == tricky


@pytest.mark.parametrize("name", ["", "has space", "a/b", "..", ".hidden", "ünï", 'q"uote'])
def test_invalid_model_names_are_refused(name):
    with pytest.raises(ConfigError, match="Triton model name"):
        triton_config(make_contract(), name, "onnxruntime_onnx", 8, True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(platform="tensorflow_savedmodel"), "platform must be one of"),
        (dict(max_batch=-1), "max_batch must be >= 0"),
        (dict(max_batch=0, dynamic_batching=True), "dynamic batching needs max_batch >= 1"),
        (dict(preferred_batch_sizes=(4, 16)), r"1\.\.max_batch \(8\), got \[16\]"),
        (dict(dynamic_batching=False, preferred_batch_sizes=(4,)), "apply to dynamic batching only"),
        (dict(max_queue_delay_us=-5), "max_queue_delay_us must be >= 0"),
        (dict(instance_count=0), "instance_count must be >= 1"),
        (dict(batch_dim=2), "batch_dim"),
    ],
)
def test_contradictory_options_raise_config_error(kwargs, message):
    args = {"platform": "onnxruntime_onnx", "max_batch": 8, "dynamic_batching": True, **kwargs}
    with pytest.raises(ConfigError, match=message):
        triton_config(make_contract(), "m", **args)


# ---------------------------------------------------------------- triton_repository (files)


def test_onnx_repository_layout_config_and_model(onnx_path, tmp_path):
    before = onnx_path.read_bytes()
    repo = tmp_path / "repo"
    folder = triton_repository(onnx_path, repo, "edge-unet", version=3, preferred_batch_sizes=(4,))
    assert folder == repo / "edge-unet"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "3",
        "3/model.onnx",
        "config.pbtxt",
    ]
    assert hidden_entries(repo) == []
    assert onnx_path.read_bytes() == before  # copied, not moved
    config = parse((folder / "config.pbtxt").read_text())
    assert config.name == "edge-unet" and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 8 and list(config.dynamic_batching.preferred_batch_size) == [4]
    assert io_table(config.input) == [
        ("frame0", TYPES.TYPE_FP32, [3, -1, -1]),
        ("frame1", TYPES.TYPE_FP32, [3, -1, -1]),
    ]
    assert io_table(config.output) == [("frame", TYPES.TYPE_FP32, [3, -1, -1])]
    model = onnx.load(str(onnx_path))
    original = IOContract.from_metadata({p.key: p.value for p in model.metadata_props})
    assert contract_of(config) == original

    session = ort.InferenceSession(str(folder / "3" / "model.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert IOContract.from_metadata(meta) == original
    frames = {i.name: np.zeros((2, 3, 32, 48), np.float32) for i in session.get_inputs()}
    (out,) = session.run(None, frames)
    assert out.shape == (2, 3, 32, 48)


def test_existing_model_folder_is_kept_unless_overwrite(onnx_path, tmp_path):
    repo = tmp_path / "repo"
    folder = repo / "m"
    (folder / "7").mkdir(parents=True)
    (folder / "config.pbtxt").write_text("keep me")
    with pytest.raises(InputError, match=r"already exists.*overwrite=True"):
        triton_repository(onnx_path, repo, "m")
    assert (folder / "config.pbtxt").read_text() == "keep me" and (folder / "7").is_dir()
    assert hidden_entries(repo) == []

    triton_repository(onnx_path, repo, "m", overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["1", "config.pbtxt"]
    assert parse((folder / "config.pbtxt").read_text()).name == "m"
    assert hidden_entries(repo) == []


def test_unwritable_repository_folder(onnx_path, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(InputError, match="cannot write"):
        triton_repository(onnx_path, blocker / "repo", "m")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_repository_folder(onnx_path, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    repo.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write"):
            triton_repository(onnx_path, repo, "m")
    finally:
        repo.chmod(0o700)


def test_failure_while_writing_leaves_no_model_and_no_staging(onnx_path, tmp_path, monkeypatch):
    def broken_copy(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(triton_module.shutil, "copyfile", broken_copy)
    repo = tmp_path / "repo"
    with pytest.raises(InputError, match=r"cannot write.*No space left"):
        triton_repository(onnx_path, repo, "m")
    assert list(repo.iterdir()) == []


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("notes.txt", b"hello", "expected an exported model"),
        ("model.onnx", b"\xff\xff\xff\xff this is not protobuf", "is not an ONNX model"),
        ("empty.onnx", b"", "is not an ONNX model"),
    ],
)
def test_non_model_artifact_is_refused(tmp_path, filename, content, message):
    artifact = tmp_path / filename
    artifact.write_bytes(content)
    with pytest.raises(InputError, match=message):
        triton_repository(artifact, tmp_path / "repo", "m")
    assert not (tmp_path / "repo").exists()


def test_missing_artifact_is_refused(tmp_path):
    with pytest.raises(InputError, match="no model file"):
        triton_repository(tmp_path / "absent.onnx", tmp_path / "repo", "m")


def test_onnx_without_contract_raises_contract_error(onnx_path, tmp_path):
    model = onnx.load(str(onnx_path))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save_model(model, str(bare))
    with pytest.raises(ContractError, match="no corrwise I/O contract"):
        triton_repository(bare, tmp_path / "repo", "m")


def test_bad_name_and_version_are_refused_before_writing(onnx_path, tmp_path):
    with pytest.raises(ConfigError, match="Triton model name"):
        triton_repository(onnx_path, tmp_path / "repo", "../escape")
    with pytest.raises(ConfigError, match="version must be a positive integer"):
        triton_repository(onnx_path, tmp_path / "repo", "m", version=0)
    assert not (tmp_path / "repo").exists()


def test_static_batch_onnx_needs_max_batch_zero(onnx_path, tmp_path):
    model = onnx.load(str(onnx_path))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 1  # replaces the "batch" dim_param
    static = tmp_path / "static.onnx"
    onnx.save_model(model, str(static))
    with pytest.raises(ConfigError, match=r"static batch axis of 1.*export with dynamic batch"):
        triton_repository(static, tmp_path / "repo", "m")
    folder = triton_repository(static, tmp_path / "repo", "m", max_batch=0, dynamic_batching=False)
    config = parse((folder / "config.pbtxt").read_text())
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert [list(i.dims) for i in [*config.input, *config.output]] == [[1, 3, -1, -1]] * 3


def test_external_data_files_travel_with_the_model(onnx_path, tmp_path):
    model = onnx.load(str(onnx_path))
    source = tmp_path / "src"
    source.mkdir()
    onnx.save_model(
        model,
        str(source / "big.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="big.onnx.data",
        size_threshold=1024,  # weights go out; tiny shape constants stay inline for ORT
    )
    folder = triton_repository(source / "big.onnx", tmp_path / "repo", "big")
    assert (folder / "1" / "big.onnx.data").read_bytes() == (source / "big.onnx.data").read_bytes()
    session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["frame0", "frame1"]


def test_engine_without_the_sidecar_reader_is_backend_unavailable(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "corrwise.runtime.backends.tensorrt_sidecar", None)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not really an engine")
    with pytest.raises(BackendUnavailable, match="tensorrt_sidecar"):
        triton_repository(engine, tmp_path / "repo", "m")
    assert not (tmp_path / "repo").exists()


def test_engine_repository_uses_the_sidecar_contract(tmp_path, monkeypatch):
    sidecar = pytest.importorskip("corrwise.runtime.backends.tensorrt_sidecar")
    contract = fused_contract(timestep_input="t")
    engine = tmp_path / "model.plan"
    engine.write_bytes(b"\x00engine bytes\x01")
    monkeypatch.setattr(sidecar, "read_sidecar", lambda path: (contract, None))
    folder = triton_repository(engine, tmp_path / "repo", "trt", max_batch=4)
    assert (folder / "1" / "model.plan").read_bytes() == engine.read_bytes()
    config = parse((folder / "config.pbtxt").read_text())
    assert config.platform == "tensorrt_plan" and config.max_batch_size == 4
    assert config.instance_group[0].kind == KINDS.KIND_GPU
    assert io_table(config.input)[-1] == ("t", TYPES.TYPE_FP32, [1, 1, 1])
    assert contract_of(config) == contract
