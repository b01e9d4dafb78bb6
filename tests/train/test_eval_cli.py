"""``corr-train eval``: help, baselines only, with checkpoints, real data, and error exits."""

import json
from fractions import Fraction
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from corrwise.models import build_model, save_checkpoint
from corrwise.runtime import VideoWriter
from corrwise.train.eval_cli import eval_command
from skimage import data

SHARED_VIMEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "vimeo_septuplet"
VELOCITY = (3, 1)  # (x, y) pixels per frame


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path, monkeypatch):
    """No LPIPS weights, whatever the machine's torch hub cache holds."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


@pytest.fixture
def clip(tmp_path) -> Path:
    """A 12-frame H.264 clip, 96x64, of a window panning over skimage's astronaut."""
    photo = data.astronaut()
    path = tmp_path / "pan.mp4"
    with VideoWriter(path, Fraction(24), crf=10) as writer:
        for i in range(12):
            top, left = 100 + VELOCITY[1] * i, 150 + VELOCITY[0] * i
            writer.write(np.ascontiguousarray(photo[top : top + 64, left : left + 96]))
    return path


@pytest.fixture
def interpolation_checkpoint(tmp_path) -> Path:
    model = build_model("edge-unet", {"base_channels": 4, "depth": 2})
    return save_checkpoint(tmp_path / "unet.safetensors", model, "edge-unet")


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(eval_command, [*args, "--quiet"])


def table_rows(markdown: str) -> list[str]:
    return [line.split("|")[1].strip() for line in markdown.splitlines() if line.startswith("| ")][1:]


def test_help_explains_every_option():
    result = CliRunner().invoke(eval_command, ["--help"])
    assert result.exit_code == 0 and "Usage: eval [OPTIONS] {predict|interpolate}" in result.output
    assert eval_command.help
    undocumented = [p.name for p in eval_command.params if isinstance(p, click.Option) and not p.help]
    assert undocumented == []


def test_predict_baselines_only_on_a_video(clip, tmp_path):
    out = tmp_path / "out"
    result = invoke("predict", "--video", str(clip), "--max-clips", "2", "--stride", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert table_rows(result.output) == ["copy_last", "dis_extrapolate"]
    assert "PSNR t+5" in result.output and "LPIPS skipped" in result.output
    assert (out / "results.md").read_text() in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "predict" and results["context"] == 2 and len(results["clips"]) == 2
    assert [c["start"] for c in results["clips"]] == [0, 3]
    copy, dis = results["methods"]
    assert len(copy["per_step"]) == 5 and dis["per_step"][0]["psnr"] > copy["per_step"][0]["psnr"]


def test_interpolate_with_checkpoints(clip, interpolation_checkpoint, tmp_path):
    out = tmp_path / "out"
    result = invoke(
        "interpolate",
        "--checkpoint",
        str(interpolation_checkpoint),
        "--video",
        str(clip),
        "--baseline",
        "blend",
        "--baseline",
        "minterpolate",
        "--max-side",
        "80",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert table_rows(result.output) == [f"edge-unet ({interpolation_checkpoint})", "blend", "minterpolate"]
    results = json.loads((out / "results.json").read_text())
    clips = results["clips"]
    assert len(clips) == 4 and (clips[0]["width"], clips[0]["height"]) == (80, 52)  # 80x53, cropped to 4
    model, blend, _ = results["methods"]
    assert model["mean"] == blend["mean"]  # an untrained edge-unet is the frame blend


def test_checkpoint_only_and_frames_folder(interpolation_checkpoint, tmp_path):
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    photo = data.astronaut()
    for i in range(3):
        Image.fromarray(np.ascontiguousarray(photo[100:164, 150 + 2 * i : 246 + 2 * i])).save(
            folder / f"{i}.png"
        )
    result = invoke(
        "interpolate", "--checkpoint", str(interpolation_checkpoint), "--no-baselines",
        "--frames", str(folder), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert table_rows(result.output) == [f"edge-unet ({interpolation_checkpoint})"]


@pytest.mark.skipif(
    not SHARED_VIMEO.is_dir(), reason="shared/data/vimeo_septuplet is not beside the checkout"
)
def test_predict_on_the_shared_vimeo_septuplet(tmp_path):
    result = invoke("predict", "--vimeo", str(SHARED_VIMEO), "--no-lpips", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["clips"] == [
        {"sequence": "00001/0266", "start": 0, "height": 64, "width": 112, "ms_ssim_scales": 3}
    ]
    assert "LPIPS not computed" in result.output


def test_errors_exit_2_with_one_line(clip, interpolation_checkpoint, tmp_path):
    missing = invoke("predict", "--video", str(tmp_path / "nope.mp4"), "--out", str(tmp_path))
    assert missing.exit_code == 2 and "error:" in missing.output and "nope.mp4" in missing.output
    wrong_task = invoke("predict", "--checkpoint", str(interpolation_checkpoint), "--video", str(clip))
    assert wrong_task.exit_code == 2 and "does the 'interpolate' task" in wrong_task.output
    no_checkpoint = invoke(
        "predict", "--checkpoint", str(tmp_path / "none.safetensors"), "--video", str(clip)
    )
    assert no_checkpoint.exit_code == 2 and "none.safetensors does not exist" in no_checkpoint.output
    bad_baseline = invoke("predict", "--baseline", "blend", "--video", str(clip))
    assert bad_baseline.exit_code == 2 and "unknown predict baseline" in bad_baseline.output
    bad_clip = invoke("predict", "--sample-clip", "nosuchclip")
    assert bad_clip.exit_code == 2 and "unknown sample clip 'nosuchclip'" in bad_clip.output
    too_short = invoke("predict", "--video", str(clip), "--horizon", "20")
    assert too_short.exit_code == 2 and "no sequence is long enough" in too_short.output
    no_frames = invoke("predict")
    assert no_frames.exit_code == 2 and "--video, --frames, --vimeo or --sample-clip" in no_frames.output
    bad_lpips = invoke("predict", "--video", str(clip), "--lpips-alexnet", str(tmp_path / "a.pth"))
    assert bad_lpips.exit_code == 2 and "a.pth does not exist" in bad_lpips.output
