import json

import pytest
from corrwise.contract import METADATA_KEY, IOContract
from corrwise.errors import ContractError


def make(**overrides):
    fields = dict(
        task="interpolate",
        context_frames=2,
        input_names=("frame0", "frame1"),
        output_names=("frame",),
        align=8,
        model_name="edge-unet",
        model_config={"base_channels": 16},
        training_loss="l1",
        version="0.1.0",
    )
    return IOContract(**{**fields, **overrides})


def test_metadata_round_trip_preserves_every_field():
    contract = make(timestep_input="t", value_range=(0.0, 1.0))
    assert IOContract.from_metadata(contract.to_metadata()) == contract


def test_missing_contract_names_the_key_and_the_fix():
    with pytest.raises(ContractError, match=f"{METADATA_KEY}.*corr-export onnx"):
        IOContract.from_metadata({"producer": "x"}, source="m.onnx")


@pytest.mark.parametrize("bad", ["{not json", json.dumps({"task": "interpolate"})])
def test_malformed_contract_is_a_contract_error(bad):
    with pytest.raises(ContractError):
        IOContract.from_metadata({METADATA_KEY: bad})


def test_newer_format_is_refused():
    data = json.loads(make().to_metadata()[METADATA_KEY])
    data["format_version"] = 99
    with pytest.raises(ContractError, match="newer"):
        IOContract.from_metadata({METADATA_KEY: json.dumps(data)})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"task": "segment"}, "task"),
        ({"context_frames": 3}, "context_frames"),
        ({"align": 0}, "align"),
        ({"layout": "CHW"}, "layout"),
        ({"dtype": "int32"}, "dtype"),
        ({"value_range": (1.0, -1.0)}, "value_range"),
    ],
)
def test_invalid_fields_are_rejected(overrides, message):
    with pytest.raises(ContractError, match=message):
        make(**overrides)


def test_precision_and_static_size_round_trip():
    contract = make(precision="int8", static_hw=(64, 96), layout="NHWC", dtype="uint8", fused_io=True)
    back = IOContract.from_metadata(contract.to_metadata())
    assert back == contract and back.static_hw == (64, 96)
    assert back.hw_axes == (1, 2) and back.time_dtype == "float32"
    assert make().hw_axes == (2, 3) and make().time_dtype == "float32"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"precision": "int4"}, "precision"),
        ({"static_hw": (60, 96)}, "static_hw"),
        ({"static_hw": (0, 8)}, "static_hw"),
    ],
)
def test_bad_precision_or_static_size_is_refused(overrides, message):
    with pytest.raises(ContractError, match=message):
        make(**overrides)


def test_contracts_written_before_precision_existed_still_load():
    data = json.loads(make().to_metadata()[METADATA_KEY])
    del data["precision"], data["static_hw"]
    contract = IOContract.from_metadata({METADATA_KEY: json.dumps(data)})
    assert contract.precision == "fp32" and contract.static_hw is None
