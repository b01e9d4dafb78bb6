import onnx
import pytest
from corrwise.contract import IOContract
from corrwise.errors import CheckpointError, ConfigError, InputError
from corrwise.export import onnx_from_checkpoint


def test_graph_has_named_dynamic_inputs_and_the_contract(onnx_path):
    model = onnx.load(str(onnx_path))
    for value in [*model.graph.input, *model.graph.output]:
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims == ["batch", 3, "height", "width"]
    assert [i.name for i in model.graph.input] == ["frame0", "frame1"]
    assert [o.name for o in model.graph.output] == ["frame"]
    contract = IOContract.from_metadata({p.key: p.value for p in model.metadata_props})
    assert contract.task == "interpolate" and contract.align == 8 and contract.context_frames == 2
    assert contract.model_name == "edge-unet" and contract.timestep_input is None
    assert contract.model_config == {
        "base_channels": 8,
        "depth": 3,
        "task": "interpolate",
        "context_frames": 3,
        "timestep": False,
    }
    assert contract.training_loss == "l1" and contract.value_range == (-1.0, 1.0)
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17


def test_opset_below_the_models_minimum_is_refused(checkpoint_path, tmp_path):
    with pytest.raises(ConfigError, match="opset 11 is too low"):
        onnx_from_checkpoint(checkpoint_path, tmp_path / "m.onnx", opset=11)
    assert not any(tmp_path.iterdir())


def test_corrupt_checkpoint_leaves_no_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        onnx_from_checkpoint(bad, tmp_path / "out" / "m.onnx")
    assert not (tmp_path / "out").exists()


def test_unwritable_output_folder(checkpoint_path, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(InputError, match="cannot write"):
        onnx_from_checkpoint(checkpoint_path, blocker / "m.onnx")
