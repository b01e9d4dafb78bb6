"""Evaluation: rollout protocol, models against baselines on the same frames, results as JSON and markdown."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from corrwise.errors import CheckpointError, ConfigError, InputError
from corrwise.models import build_model, save_checkpoint
from corrwise.train.eval_results import EvalResult, write_json
from corrwise.train.evaluate import (
    EvalConfig,
    EvalModel,
    clip_starts,
    evaluate_interpolation,
    evaluate_prediction,
    prepare_frame,
    rollout,
    run_evaluation,
)
from corrwise.train.metrics import ALEXNET_FILE, LPIPS, alexnet_features
from skimage import data
from torch import nn

VELOCITY = (3, 1)  # (x, y) pixels per frame of the panning window
HEIGHT, WIDTH = 64, 96
STEP_LEVELS = 2  # the drifting model adds this many 8-bit levels per predicted frame


class MemorySequence:
    """An in-memory frame source: ``name``, ``len`` and ``frame(i)`` -> uint8 (H, W, 3)."""

    def __init__(self, name: str, frames: list[np.ndarray]) -> None:
        self.name, self._frames = name, frames

    def __len__(self) -> int:
        return len(self._frames)

    def frame(self, index: int) -> np.ndarray:
        return self._frames[index]


def panning(
    name: str, count: int, height: int = HEIGHT, width: int = WIDTH, offset: int = 0
) -> MemorySequence:
    """A window panning over skimage's astronaut by VELOCITY per frame."""
    photo = data.astronaut()
    frames = [
        np.ascontiguousarray(
            photo[
                100 + offset + VELOCITY[1] * i : 100 + offset + VELOCITY[1] * i + height,
                150 + VELOCITY[0] * i : 150 + VELOCITY[0] * i + width,
            ]
        )
        for i in range(count)
    ]
    return MemorySequence(name, frames)


def static(name: str, count: int, level: int = 100) -> MemorySequence:
    return MemorySequence(name, [np.full((HEIGHT, WIDTH, 3), level, np.uint8) for _ in range(count)])


class LastFrame(nn.Module):
    """Predicts the newest context frame again."""

    def forward(self, *frames: torch.Tensor) -> torch.Tensor:
        return frames[-1]


class NeedsSize(nn.Module):
    """Refuses frames smaller than 80 pixels a side, then returns the newest frame."""

    def forward(self, *frames: torch.Tensor) -> torch.Tensor:
        assert min(frames[0].shape[2:]) >= 80, frames[0].shape
        return frames[-1]


class Drift(nn.Module):
    """Predicts the newest frame brightened by STEP_LEVELS 8-bit levels: errors grow by that per step."""

    def forward(self, *frames: torch.Tensor) -> torch.Tensor:
        return frames[-1] + STEP_LEVELS / 127.5


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path, monkeypatch):
    """No LPIPS weights, whatever the machine's torch hub cache holds."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


@pytest.fixture(scope="module")
def lpips_metric(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    features = alexnet_features()
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, folder / ALEXNET_FILE)
    heads = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(heads, folder / "alex.pth")
    return LPIPS(folder / ALEXNET_FILE, folder / "alex.pth")


def scores_equal(result: EvalResult, a: str, b: str) -> bool:
    first, second = result.method(a), result.method(b)
    return (first.mean, first.per_step, first.per_clip) == (second.mean, second.per_step, second.per_clip)


# ---------------------------------------------------------------- prediction


def test_a_last_frame_model_scores_exactly_like_copy_last():
    model = EvalModel("last frame", LastFrame(), "predict", context=3)
    sequences = [panning("a", 20), panning("b", 12, offset=40)]
    result = evaluate_prediction(model, sequences, EvalConfig(task="predict"), progress=False)
    assert [m.name for m in result.methods] == ["last frame", "copy_last", "dis_extrapolate"]
    assert [m.kind for m in result.methods] == ["model", "baseline", "baseline"]
    assert result.context == 3 and result.horizon == 5 and result.metrics == ("psnr", "ssim", "ms_ssim")
    assert [(c.sequence, c.start) for c in result.clips] == [("a", 0), ("a", 8), ("b", 0)]  # 8-frame clips
    assert scores_equal(result, "last frame", "copy_last")
    last, dis = result.method("copy_last"), result.method("dis_extrapolate")
    assert len(last.per_step) == 5 and len(last.per_clip) == 3
    assert dis.per_step[0]["psnr"] > last.per_step[0]["psnr"] + 5  # motion-aware beats the copy at t+1
    assert last.per_step[0]["psnr"] > last.per_step[4]["psnr"]  # the scene moves further from the copy
    assert last.mean["psnr"] == pytest.approx(np.mean([c["psnr"] for c in last.per_clip]))


def test_rollout_feeds_predictions_back():
    seen = []

    def step(frames):
        seen.append([f.item() for f in frames])
        return frames[-1] + 1

    context = [torch.tensor(0.1), torch.tensor(0.2)]
    outputs = rollout(lambda frames: step(frames) / 10, context, reads=2, horizon=3)
    assert len(outputs) == 3
    assert seen[0] == pytest.approx([0.1, 0.2])
    assert seen[1] == pytest.approx([0.2, 0.12])  # the first prediction is now the newest context frame
    assert seen[2] == pytest.approx([0.12, 0.112])


def test_per_step_scores_follow_the_rollout_exactly():
    model = EvalModel("drift", Drift(), "predict", context=2)
    result = evaluate_prediction(model, [static("grey", 7)], EvalConfig(task="predict"), progress=False)
    steps = [s["psnr"] for s in result.method("drift").per_step]
    expected = [20 * math.log10(255 / (STEP_LEVELS * s)) for s in range(1, 6)]  # 42.11 ... 28.13 dB
    assert steps == pytest.approx(expected, abs=1e-5)  # float32 frames
    assert result.method("copy_last").mean["psnr"] == math.inf  # a still scene is copied exactly
    assert result.method("copy_last").mean["ssim"] == pytest.approx(1.0)


def test_context_covers_the_hungriest_method_and_can_be_raised():
    sequences = [panning("a", 12)]
    only_copy = EvalConfig(task="predict", baselines=("copy_last",), horizon=2)
    assert evaluate_prediction(None, sequences, only_copy, progress=False).context == 1
    more = EvalConfig(task="predict", horizon=2, context=4, stride=2, max_clips=2)
    result = evaluate_prediction(None, sequences, more, progress=False)
    assert result.context == 4 and [c.start for c in result.clips] == [0, 2]
    with pytest.raises(ConfigError, match="a method reads 3"):
        model = EvalModel("last", LastFrame(), "predict", context=3)
        evaluate_prediction(model, sequences, EvalConfig(task="predict", context=2), progress=False)


def test_prediction_with_lpips(lpips_metric):
    model = EvalModel("last frame", LastFrame(), "predict", context=2)
    config = EvalConfig(task="predict", horizon=2)
    result = evaluate_prediction(model, [panning("a", 8)], config, lpips=lpips_metric, progress=False)
    assert result.metrics == ("psnr", "ssim", "ms_ssim", "lpips") and not result.notes
    assert scores_equal(result, "last frame", "copy_last")
    assert result.method("dis_extrapolate").mean["lpips"] < result.method("copy_last").mean["lpips"]
    assert "| LPIPS |" in result.to_markdown() and "LPIPS t+2" in result.to_markdown()


def test_lpips_absent_is_noted_and_the_rest_goes_on():
    result = evaluate_prediction(
        None, [panning("a", 8)], EvalConfig(task="predict", horizon=2), progress=False
    )
    assert "lpips" not in result.metrics
    assert len(result.notes) == 1 and "LPIPS skipped" in result.notes[0] and ALEXNET_FILE in result.notes[0]
    assert result.notes[0] in result.to_markdown()


# ---------------------------------------------------------------- interpolation


def test_interpolation_untrained_edge_unet_is_the_blend_and_flow_baselines_beat_it():
    torch.manual_seed(0)
    net = build_model("edge-unet", {"base_channels": 4, "depth": 2})  # zero head: exactly the blend
    model = EvalModel.from_module(net, "edge-unet")
    assert (model.task, model.context, model.align, model.timestep) == ("interpolate", 2, 4, False)
    result = evaluate_interpolation(model, [panning("a", 9)], EvalConfig(task="interpolate"), progress=False)
    assert [m.name for m in result.methods] == ["edge-unet", "blend", "dis_midpoint", "minterpolate"]
    assert [c.start for c in result.clips] == [0, 3, 6] and result.horizon == 1
    assert scores_equal(result, "edge-unet", "blend")
    blend = result.method("blend").mean["psnr"]
    assert result.method("dis_midpoint").mean["psnr"] > blend + 5
    assert result.method("minterpolate").mean["psnr"] > blend + 5


def test_frames_are_shrunk_and_cropped_to_the_alignment_or_padded():
    net = build_model("edge-unet", {"base_channels": 4, "depth": 2})
    model = EvalModel.from_module(net, "unet")
    odd = panning("odd", 3, height=50, width=70)
    cropped = evaluate_interpolation(model, [odd], EvalConfig(task="interpolate"), progress=False)
    assert (cropped.clips[0].height, cropped.clips[0].width) == (48, 68)  # multiples of the model's 4
    padded = evaluate_interpolation(model, [odd], EvalConfig(task="interpolate", align=1), progress=False)
    assert (padded.clips[0].height, padded.clips[0].width) == (50, 70)  # the model pads and crops back
    assert scores_equal(padded, "unet", "blend")
    tiny = EvalModel("needs 80", NeedsSize(), "predict", context=2, align=8, min_size=80)
    result = evaluate_prediction(tiny, [panning("a", 7)], EvalConfig(task="predict"), progress=False)
    assert (result.clips[0].height, result.clips[0].width) == (64, 96)  # padded to 80x96 and back
    assert scores_equal(result, "needs 80", "copy_last")
    small = EvalConfig(task="interpolate", max_side=48, baselines=("blend",))
    shrunk = evaluate_interpolation(model, [panning("a", 3)], small, progress=False)
    assert (shrunk.clips[0].height, shrunk.clips[0].width) == (32, 48)
    assert shrunk.clips[0].ms_ssim_scales == 2 and "MS-SSIM on 2 scales" in shrunk.to_markdown()


def test_prepare_frame():
    frame = np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3)
    image = prepare_frame(frame, None, 4, "test")
    assert image.shape == (1, 3, 4, 8)
    assert torch.equal(image[0, :, 0, 0], torch.from_numpy(frame[1, 1]).float() / 127.5 - 1)  # centred
    assert prepare_frame(frame, 5, 1, "test").shape == (1, 3, 3, 5)
    with pytest.raises(InputError, match="uint8"):
        prepare_frame(frame.astype(np.float32), None, 1, "frame 3")


# ---------------------------------------------------------------- results


def test_markdown_table_for_prediction():
    model = EvalModel("last frame", LastFrame(), "predict", context=2)
    result = evaluate_prediction(model, [panning("a", 7)], EvalConfig(task="predict"), progress=False)
    table = result.to_markdown()
    header = next(line for line in table.splitlines() if line.startswith("| method"))
    for column in ("PSNR", "SSIM", "MS-SSIM", "PSNR t+1", "PSNR t+5", "SSIM t+1", "SSIM t+5"):
        assert f"| {column} |" in header
    rows = [line for line in table.splitlines() if line.startswith("| ") and "method" not in line]
    assert [row.split("|")[1].strip() for row in rows] == ["last frame", "copy_last", "dis_extrapolate"]
    assert f"{result.method('copy_last').per_step[4]['psnr']:.2f}" in rows[1]


def test_json_is_strict_and_round_trips(tmp_path):
    result = evaluate_prediction(None, [static("grey", 7)], EvalConfig(task="predict"), progress=False)
    path = write_json(result, tmp_path / "out" / "results.json")
    loaded = json.loads(path.read_text(), parse_constant=pytest.fail)  # no Infinity / NaN literals
    assert loaded["task"] == "predict" and loaded["metrics"] == ["psnr", "ssim", "ms_ssim"]
    copy = next(m for m in loaded["methods"] if m["name"] == "copy_last")
    assert copy["mean"]["psnr"] == "inf" and len(copy["per_step"]) == 5
    assert loaded["clips"][0] == {
        "sequence": "grey",
        "start": 0,
        "height": 64,
        "width": 96,
        "ms_ssim_scales": 3,
    }


def test_clip_starts_round_robin():
    assert clip_starts([10, 3], span=3, stride=3, max_clips=None) == [(0, 0), (0, 3), (0, 6), (1, 0)]
    assert clip_starts([10, 3], span=3, stride=3, max_clips=2) == [(0, 0), (1, 0)]
    assert clip_starts([10, 5], span=3, stride=1, max_clips=5) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert clip_starts([2], span=3, stride=1, max_clips=None) == []


# ---------------------------------------------------------------- checkpoints and errors


def test_run_evaluation_with_a_checkpoint(tmp_path):
    net = build_model("edge-unet", {"base_channels": 4, "depth": 2})
    path = save_checkpoint(tmp_path / "unet.safetensors", net, "edge-unet")
    config = EvalConfig(task="interpolate", checkpoints=(path, path), baselines=("blend",))
    result = run_evaluation(config, [panning("a", 3)], progress=False)
    labels = [m.name for m in result.methods]
    assert labels == [f"edge-unet ({path})", f"edge-unet ({path}) #2", "blend"]
    assert scores_equal(result, labels[0], "blend")
    with pytest.raises(ConfigError, match="does the 'interpolate' task"):
        run_evaluation(EvalConfig(task="predict", checkpoints=(path,)), [panning("a", 8)], progress=False)
    with pytest.raises(CheckpointError, match="does not exist"):
        run_evaluation(EvalConfig(task="interpolate", checkpoints=(tmp_path / "no.safetensors",)), [])
    with pytest.raises(ConfigError, match="no frames"):
        run_evaluation(EvalConfig(task="interpolate"))


def test_bad_configs_and_inputs():
    with pytest.raises(ConfigError, match="task"):
        EvalConfig(task="extrapolate")
    with pytest.raises(ConfigError, match="horizon"):
        EvalConfig(horizon=0)
    with pytest.raises(ConfigError, match="max_clips"):
        EvalConfig(max_clips=0)
    with pytest.raises(ConfigError, match=r"unknown predict baseline\(s\) \['blend'\]"):
        EvalConfig(task="predict", baselines=("blend",))
    single = EvalConfig(task="interpolate", checkpoints="a.safetensors", baselines="blend")
    assert single.checkpoints == (Path("a.safetensors"),) and single.baselines == ("blend",)
    with pytest.raises(ConfigError, match="device"):
        EvalConfig(device="toaster")
    with pytest.raises(ConfigError, match="task='predict'"):
        evaluate_prediction(None, [panning("a", 8)], EvalConfig(task="interpolate"), progress=False)
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate_interpolation(None, [panning("a", 3)], EvalConfig(task="interpolate", baselines=()))
    with pytest.raises(InputError, match=r"clip of 7 frames .* a: 6"):
        evaluate_prediction(None, [panning("a", 6)], EvalConfig(task="predict"), progress=False)
    broken = MemorySequence("broken", [np.zeros((64, 96), np.uint8)] * 3)
    with pytest.raises(InputError, match=r"broken frame 0: expected a uint8 \(H, W, 3\)"):
        evaluate_interpolation(None, [broken], EvalConfig(task="interpolate"), progress=False)


def test_progress_bar(capsys):
    evaluate_interpolation(
        None, [panning("a", 3)], EvalConfig(task="interpolate", baselines=("blend",)), progress=True
    )
    assert "eval interpolate" in capsys.readouterr().err
