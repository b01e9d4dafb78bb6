"""The TensorRT sidecar and the pure decisions around engines: no tensorrt, no GPU needed."""

import dataclasses
import json

import pytest
from corrwise.errors import ConfigError, ContractError
from corrwise.runtime.backends.tensorrt_sidecar import (
    DEFAULT_MAX_HW,
    DEFAULT_MIN_HW,
    DEFAULT_OPT_HW,
    EngineKey,
    InputProfile,
    MachineInfo,
    default_profile,
    key_mismatch,
    parse_hw,
    parse_shape,
    profile_violation,
    read_sidecar,
    resolve_hw,
    sidecar_path,
    write_sidecar,
)

from tests.conftest import fused_contract, make_contract


def make_key(**changes) -> EngineKey:
    profile = default_profile(make_contract(), (64, 64), (256, 448), (1088, 1920), batch=(1, 1, 4))
    base = EngineKey("NVIDIA GeForce RTX 4090", "8.9", "10.3.0", "fp16", profile)
    return dataclasses.replace(base, **changes)


MACHINE = MachineInfo("NVIDIA GeForce RTX 4090", "8.9", "10.3.0")


# ----------------------------------------------------------------------------- engine key


def test_engine_key_round_trips_through_json():
    key = make_key()
    data = json.loads(json.dumps(key.to_dict()))
    assert EngineKey.from_dict(data) == key
    assert all(isinstance(entry, InputProfile) for entry in EngineKey.from_dict(data).profile)


def test_engine_key_accepts_plain_tuples_as_profile():
    entry = ("frame0", (1, 3, 8, 8), (1, 3, 16, 16), (2, 3, 32, 32))
    key = EngineKey("gpu", "8.0", "10.0.1", "fp32", (entry,))
    assert key.profile == (InputProfile(*entry),)
    assert key.profile[0].max == (2, 3, 32, 32)


def test_digest_is_stable_hex_and_independent_of_construction():
    key = make_key()
    digest = key.digest()
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert EngineKey.from_dict(json.loads(json.dumps(key.to_dict()))).digest() == digest
    assert make_key().digest() == digest


@pytest.mark.parametrize(
    "change",
    [
        {"gpu_name": "NVIDIA A100-SXM4-80GB"},
        {"compute_capability": "8.0"},
        {"tensorrt_version": "10.4.0"},
        {"precision": "fp32"},
        {"profile": default_profile(make_contract(), (64, 64), (256, 448), (1088, 1920))},
        {"profile": default_profile(make_contract(), (64, 64), (256, 448), (2176, 3840), batch=(1, 1, 4))},
    ],
    ids=["gpu", "capability", "tensorrt", "precision", "batch", "max_hw"],
)
def test_digest_changes_with_every_field(change):
    assert make_key(**change).digest() != make_key().digest()


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("tensorrt_version"),
        lambda d: d.pop("profile"),
        lambda d: d["profile"][0].pop("opt"),
        lambda d: d["profile"][0].update(min=[1, 3, "64", 64]),
        lambda d: d["profile"][0].update(min=[1, 3, 512, 512]),  # min > opt
        lambda d: d.update(precision="bf16"),
        lambda d: d.update(profile="frame0"),
    ],
    ids=["no-version", "no-profile", "no-opt", "string-dim", "min-above-opt", "bad-precision", "profile-str"],
)
def test_malformed_engine_key_is_a_contract_error(breakage):
    data = make_key().to_dict()
    breakage(data)
    with pytest.raises(ContractError):
        EngineKey.from_dict(data)


# ----------------------------------------------------------------------------- sidecar file


def test_sidecar_path_appends_json():
    assert sidecar_path("out/model.engine").as_posix() == "out/model.engine.json"
    assert sidecar_path("model.plan").name == "model.plan.json"


def test_sidecar_round_trip(tmp_path):
    engine = tmp_path / "model.engine"
    contract = make_contract(timestep_input="t", precision="fp16", static_hw=(64, 96))
    key = make_key()
    path = write_sidecar(engine, contract, key)
    assert path == tmp_path / "model.engine.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.engine.json"]  # no temp file left
    document = json.loads(path.read_text())
    assert document["format"] == 1 and set(document) == {"format", "contract", "engine_key"}
    assert read_sidecar(engine) == (contract, key)


def test_missing_sidecar_says_what_to_do(tmp_path):
    with pytest.raises(ContractError, match=r"no sidecar.*model\.engine\.json.*corr-export trt"):
        read_sidecar(tmp_path / "model.engine")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "incomplete"),
        ('{"format": 1, "contract": {}}', "incomplete"),
        ('{"format": 99, "contract": {}, "engine_key": {}}', "format 99"),
        ('{"format": 1, "contract": [], "engine_key": {}}', "must be a JSON object"),
        ('{"format": 1, "contract": {"task": "interpolate"}, "engine_key": {}}', "incomplete or malformed"),
    ],
    ids=["not-json", "list", "no-key", "newer-format", "contract-list", "contract-incomplete"],
)
def test_corrupt_sidecar_is_a_contract_error_naming_the_fix(tmp_path, text, match):
    engine = tmp_path / "model.engine"
    sidecar_path(engine).write_text(text)
    with pytest.raises(ContractError, match=match) as info:
        read_sidecar(engine)
    assert "corr-export trt" in str(info.value)


def test_sidecar_with_a_broken_engine_key(tmp_path):
    engine = tmp_path / "model.engine"
    path = write_sidecar(engine, make_contract(), make_key())
    document = json.loads(path.read_text())
    del document["engine_key"]["gpu_name"]
    path.write_text(json.dumps(document))
    with pytest.raises(ContractError, match=r"engine key is incomplete.*gpu_name.*corr-export trt"):
        read_sidecar(engine)


# ----------------------------------------------------------------------------- key vs machine


def test_matching_machine_is_accepted():
    assert key_mismatch(make_key(), MACHINE) is None


def test_tensorrt_version_mismatch_is_named():
    message = key_mismatch(make_key(tensorrt_version="10.1.0"), MACHINE)
    assert "TensorRT version" in message and "10.1.0" in message and "10.3.0" in message
    assert "compute capability" not in message and "GPU:" not in message
    assert "corr-export trt" in message


def test_compute_capability_mismatch_is_named():
    message = key_mismatch(make_key(compute_capability="8.6", gpu_name="NVIDIA RTX A6000"), MACHINE)
    assert "compute capability" in message and "8.6" in message and "8.9" in message
    assert "TensorRT version" not in message


def test_same_capability_other_gpu_is_refused_with_the_reason():
    message = key_mismatch(make_key(gpu_name="NVIDIA L40S"), MACHINE)
    assert message is not None
    assert "NVIDIA L40S" in message and "NVIDIA GeForce RTX 4090" in message
    assert "same compute capability" in message and "tunes" in message


def test_every_differing_field_is_reported():
    machine = MachineInfo("NVIDIA H100 80GB HBM3", "9.0", "10.7.0")
    message = key_mismatch(make_key(), machine)
    assert "TensorRT version" in message and "10.7.0" in message
    assert "compute capability" in message and "9.0" in message and "NVIDIA H100 80GB HBM3" in message
    assert message.count(";") >= 2  # two differences and the hint


# ----------------------------------------------------------------------------- profiles


def test_nchw_profile():
    profile = default_profile(make_contract(), (32, 32), (64, 96), (128, 192), batch=(1, 2, 4))
    assert profile == (
        InputProfile("frame0", (1, 3, 32, 32), (2, 3, 64, 96), (4, 3, 128, 192)),
        InputProfile("frame1", (1, 3, 32, 32), (2, 3, 64, 96), (4, 3, 128, 192)),
    )


def test_nhwc_profile_puts_channels_last():
    profile = default_profile(fused_contract(), (32, 32), (64, 96), (128, 192))
    assert [p.name for p in profile] == ["frame0", "frame1"]
    assert profile[0] == InputProfile("frame0", (1, 32, 32, 3), (1, 64, 96, 3), (1, 128, 192, 3))


def test_timestep_input_comes_last_with_batch_only():
    profile = default_profile(
        make_contract(timestep_input="t"), (32, 32), (64, 96), (128, 192), batch=(1, 1, 8)
    )
    assert [p.name for p in profile] == ["frame0", "frame1", "t"]
    assert profile[2] == InputProfile("t", (1, 1, 1, 1), (1, 1, 1, 1), (8, 1, 1, 1))


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        (((30, 32), (64, 96), (128, 192)), "min size 30x32 is not a multiple of the model's alignment 8"),
        (((32, 32), (64, 100), (128, 192)), "use e.g. 64x104"),
        (((32, 32), (256, 96), (128, 192)), "min <= opt <= max"),
        (((64, 64), (32, 96), (128, 192)), "min <= opt <= max"),
        (((0, 32), (64, 96), (128, 192)), "positive"),
        (((32,), (64, 96), (128, 192)), r"\(H, W\)"),
    ],
    ids=["unaligned-min", "unaligned-opt", "opt-above-max", "min-above-opt", "zero", "rank"],
)
def test_bad_sizes_are_config_errors(sizes, match):
    with pytest.raises(ConfigError, match=match):
        default_profile(make_contract(), *sizes)


@pytest.mark.parametrize("batch", [(0, 1, 1), (2, 1, 4), (1, 1), (1, 4, 2)])
def test_bad_batch_is_a_config_error(batch):
    with pytest.raises(ConfigError, match="batch"):
        default_profile(make_contract(), (32, 32), (64, 96), (128, 192), batch=batch)


def test_static_graph_takes_only_its_size():
    contract = make_contract(static_hw=(64, 96))
    profile = default_profile(contract, (64, 96), (64, 96), (64, 96))
    assert profile[0].min == profile[0].max == (1, 3, 64, 96)
    with pytest.raises(ConfigError, match="exported for 64x96 frames only"):
        default_profile(contract, (32, 32), (64, 96), (64, 96))


def test_resolve_hw_defaults_are_aligned():
    low, opt, high = resolve_hw(make_contract())
    assert (low, opt, high) == (DEFAULT_MIN_HW, DEFAULT_OPT_HW, DEFAULT_MAX_HW)
    low, opt, high = resolve_hw(make_contract(align=48))
    assert all(v % 48 == 0 for hw in (low, opt, high) for v in hw)
    assert default_profile(make_contract(align=48), low, opt, high)  # the defaults always validate


def test_resolve_hw_widens_defaults_around_given_sizes():
    low, opt, high = resolve_hw(make_contract(), opt_hw=(32, 2048))
    assert opt == (32, 2048) and low == (32, 64) and high == (1088, 2048)
    low, opt, high = resolve_hw(make_contract(), max_hw=(128, 192))
    assert (low, opt, high) == ((64, 64), (128, 192), (128, 192))
    default_profile(make_contract(), low, opt, high)


def test_resolve_hw_uses_the_static_size():
    assert resolve_hw(make_contract(static_hw=(64, 96))) == ((64, 96), (64, 96), (64, 96))


def test_profile_violation():
    profile = default_profile(
        make_contract(timestep_input="t"), (32, 32), (64, 96), (128, 192), batch=(1, 1, 2)
    )
    fits = {"frame0": (2, 3, 40, 64), "frame1": (2, 3, 40, 64), "t": (2, 1, 1, 1)}
    assert profile_violation(profile, fits) is None
    message = profile_violation(profile, {**fits, "frame1": (1, 3, 256, 64)})
    assert "'frame1'" in message and "(1, 3, 256, 64)" in message and "(2, 3, 128, 192)" in message
    assert "--max-shape" in message
    assert "'t'" in profile_violation(profile, {**fits, "t": (3, 1, 1, 1)})
    assert "(1, 40, 64)" in profile_violation(profile, {"frame0": (1, 40, 64)})  # wrong rank
    assert "not in the engine's profile" in profile_violation(profile, {"other": (1, 3, 40, 64)})


# ----------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("text", "shape"),
    [("1x3x256x448", (1, 3, 256, 448)), ("256x448", (256, 448)), (" 8 X 16 ", (8, 16)), ("7", (7,))],
)
def test_parse_shape(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["", "x", "1x", "1xx2", "-1x3", "1.5x2", "1x0x2", "256*448", "a", "1,3"])
def test_parse_shape_rejects(text):
    with pytest.raises(ConfigError):
        parse_shape(text)


def test_parse_hw():
    assert parse_hw("256x448") == (256, 448)
    assert parse_hw("1088X1920") == (1088, 1920)


@pytest.mark.parametrize("text", ["256", "1x3x256x448", "0x448", "256x", "wide"])
def test_parse_hw_rejects_with_the_expected_form(text):
    with pytest.raises(ConfigError, match=r"HxW in pixels such as 256x448"):
        parse_hw(text)
