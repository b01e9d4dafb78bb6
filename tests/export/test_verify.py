"""corr-export verify: the report, shapes other than the export's, failures caught, wrong pairings refused."""

import json

import numpy as np
import onnx
import pytest
from corrwise.errors import ConfigError, ContractError
from corrwise.export import read_contract, verify
from corrwise.export.onnx_export import example_size
from corrwise.export.parity import default_shapes, parse_shapes, synthetic_windows
from corrwise.models import build_model, export_spec, save_checkpoint


def test_report_covers_two_shapes_other_than_the_export_shape(onnx_path, checkpoint_path, tmp_path):
    report = verify(onnx_path, checkpoint_path)
    assert report.passed and report.backend == "onnxruntime" and report.precision == "fp32"
    assert len(report.results) == 2
    traced = example_size(export_spec("edge-unet", {"base_channels": 8}))
    assert all(r.shape[1:] != traced for r in report.results)
    assert all(r.max_abs <= report.tolerance["max_abs"] for r in report.results)
    data = json.loads(report.write(tmp_path / "r.json").read_text())
    assert data["passed"] is True and data["frames"] == "synthetic" and len(data["results"]) == 2
    assert data["tolerance"] == {"max_abs": 1e-4, "min_psnr_db": None}


def test_a_tampered_artifact_fails(onnx_path, checkpoint_path, tmp_path):
    model = onnx.load(str(onnx_path))
    weight = max(model.graph.initializer, key=lambda i: np.prod(i.dims))
    array = onnx.numpy_helper.to_array(weight).copy()
    array.flat[: array.size // 10] += 0.05
    weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
    onnx.save(model, str(tmp_path / "tampered.onnx"))
    report = verify(tmp_path / "tampered.onnx", checkpoint_path)
    assert not report.passed and all(r.max_abs > 1e-4 for r in report.results)


def test_artifact_from_another_model_is_refused(onnx_path, tmp_path):
    other = save_checkpoint(
        tmp_path / "other.safetensors", build_model("edge-unet", {"base_channels": 16}), "edge-unet", {}
    )
    with pytest.raises(ContractError, match="exported from edge-unet"):
        verify(onnx_path, other)


def test_shapes_are_parsed_and_malformed_ones_refused():
    assert parse_shapes("2x40x56, 1x144x176") == [(2, 40, 56), (1, 144, 176)]
    for bad in ["40x56", "2x0x56", "axbxc"]:
        with pytest.raises(ConfigError, match="NxHxW"):
            parse_shapes(bad)


def test_default_shapes_of_a_static_export_keep_its_size(onnx_path):
    from dataclasses import replace

    contract = replace(read_contract(onnx_path), static_hw=(48, 64))
    assert default_shapes(contract) == [(1, 48, 64), (2, 48, 64)]


def test_synthetic_windows_move_and_are_deterministic():
    a = synthetic_windows(3, 2, (24, 40), seed=1)
    b = synthetic_windows(3, 2, (24, 40), seed=1)
    assert len(a) == 2 and all(len(w) == 3 and w[0].shape == (24, 40, 3) for w in a)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert np.abs(a[0][0].astype(int) - a[0][2].astype(int)).mean() > 1  # the texture moves
