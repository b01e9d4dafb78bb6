"""Checkpoint -> .pt2: the PyTorch reference program, its contract, and `corr-export torch`."""

import json
import zipfile

import click
import numpy as np
import pytest
from click.testing import CliRunner
from corrwise.contract import IOContract
from corrwise.errors import ConfigError, ExportError
from corrwise.export import OnnxOptions, pt2_from_checkpoint
from corrwise.export.artifact import read_contract
from corrwise.export.cli import main
from corrwise.runtime.backends import PyTorchRunner
from corrwise.runtime.backends.pytorch_backend import CONTRACT_FILE


def archived_contract(path):
    with zipfile.ZipFile(path) as archive:
        return IOContract.from_dict(json.loads(archive.read(f"archive/extra/{CONTRACT_FILE}")))


def test_the_pt2_carries_the_same_contract_as_the_onnx_export(checkpoint_path, onnx_path, tmp_path):
    path = pt2_from_checkpoint(checkpoint_path, tmp_path / "model.pt2")
    assert path == tmp_path / "model.pt2" and path.is_file()
    assert archived_contract(path) == read_contract(onnx_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt2"]  # no temporary file left


def test_a_static_export_fixes_height_and_width_but_not_the_batch(checkpoint_path, tmp_path):
    path = pt2_from_checkpoint(checkpoint_path, tmp_path / "s.pt2", OnnxOptions(static_hw=(24, 32)))
    assert archived_contract(path).static_hw == (24, 32)
    rng = np.random.default_rng(0)
    with PyTorchRunner(path) as runner:
        for n in (1, 3):
            x = {k: rng.random((n, 3, 24, 32), dtype=np.float32) for k in ("frame0", "frame1")}
            assert runner.infer(x)["frame"].shape == (n, 3, 24, 32)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (OnnxOptions(io="uint8"), ExportError, "float32 NCHW"),
        (OnnxOptions(fp16=True), ExportError, "fp16=True"),
        (OnnxOptions(static_hw=(20, 32)), ConfigError, "multiples of 8"),
    ],
)
def test_options_the_program_cannot_have_are_refused(checkpoint_path, tmp_path, options, error, match):
    with pytest.raises(error, match=match):
        pt2_from_checkpoint(checkpoint_path, tmp_path / "m.pt2", options)
    assert list(tmp_path.iterdir()) == []


def test_corr_export_torch(checkpoint_path, tmp_path):
    result = CliRunner().invoke(main, ["torch", str(checkpoint_path), "-o", str(tmp_path / "m.pt2")])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'm.pt2'}" in result.output and (tmp_path / "m.pt2").is_file()
    help_text = CliRunner().invoke(main, ["torch", "--help"]).output
    assert "reference" in help_text and "corr-bench" in help_text and "pytorch backend" in help_text
    options = [p for p in main.commands["torch"].params if isinstance(p, click.Option)]
    assert [o.name for o in options if not o.help] == []
    assert "torch" in CliRunner().invoke(main, ["--help"]).output


def test_corr_export_torch_with_a_bad_checkpoint_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(main, ["torch", str(bad), "-o", str(tmp_path / "m.pt2")])
    assert result.exit_code == 2 and "error:" in result.output
    assert not (tmp_path / "m.pt2").exists()


@pytest.mark.slow
def test_the_bundle_holds_the_pt2_for_float_io_and_says_why_not_for_uint8(checkpoint_path, tmp_path):
    from corrwise.export.bundle import export_bundle

    from tests.conftest import moving_frames, write_clip

    calib = write_clip(tmp_path / "calib.mp4", moving_frames(8))
    result = export_bundle(checkpoint_path, tmp_path / "float", calib)
    assert result.files["torch"] == "model.pt2"
    folder = tmp_path / "float"
    assert archived_contract(folder / "model.pt2") == read_contract(folder / "model.onnx")
    summary = json.loads((folder / "bundle.json").read_text())
    assert summary["files"]["torch"] == "model.pt2"
    fused = export_bundle(checkpoint_path, tmp_path / "uint8", calib, io="uint8")
    assert "torch" not in fused.files and "float I/O only" in fused.skipped["torch"]
    assert not (tmp_path / "uint8" / "model.pt2").exists()
