"""``corr-run interpolate`` and ``corr-run predict``: outputs, summaries, exit codes, help."""

import json
from fractions import Fraction

import av
import click
import numpy as np
import pytest
from click.testing import CliRunner
from corrwise.runtime import probe, read_frames
from corrwise.runtime.cli import main, parse_rate

from ..conftest import moving_frames
from .test_video import CRF18_MEAN_LEVELS, audio_seconds, damaged_copy, write_av_clip


@pytest.fixture
def clip(tmp_path):
    return write_av_clip(tmp_path / "in.mp4", moving_frames(8), options={"movflags": "faststart"})


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("sub", ["interpolate", "predict"])
def test_help_explains_every_option(sub):
    result = run(sub, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output
    undocumented = [p.name for p in main.commands[sub].params if isinstance(p, click.Option) and not p.help]
    assert undocumented == []


def test_interpolate_factor_prints_a_summary(tmp_path, clip, onnx_path):
    out = tmp_path / "out.mp4"
    result = run("interpolate", clip, out, "-m", onnx_path, "--factor", "4", "--no-progress", "--threads", 1)
    assert result.exit_code == 0, result.output
    assert "8 frames at 24 fps -> 29 frames at 96 fps" in result.output
    for part in ("output frames/s", "decode", "interpolate", "encode", "scene cuts: 0", "copied (aac)"):
        assert part in result.output
    assert f"wrote {out}" in result.output
    assert probe(out).fps == 96 and len(list(read_frames(out))) == 29


@pytest.mark.parametrize("fps", ["59.94", "60000/1001"])
def test_interpolate_to_a_rate(tmp_path, clip, onnx_path, fps):
    out = tmp_path / "out.mp4"
    result = run(
        "interpolate", clip, out, "-m", onnx_path, "--fps", fps, "--no-progress", "--preset", "medium"
    )
    assert result.exit_code == 0, result.output
    assert "59.94 (60000/1001) fps" in result.output
    assert probe(out).fps == Fraction(60000, 1001)
    assert len(list(read_frames(out))) == 20  # ceil(8 * 60000/1001 / 24)


def test_interpolate_with_workers_writes_the_same_video(tmp_path, clip, onnx_path):
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.mp4"
        result = run(
            "interpolate",
            clip,
            out,
            "-m",
            onnx_path,
            "--threads",
            1,
            "--workers",
            workers,
            "--crf",
            0,
            "--no-progress",
        )  # lossless: the decoded frames are the frames the encoder got, whatever its threads decide
        assert result.exit_code == 0, result.output
        outs.append(list(read_frames(out)))
    assert len(outs[0]) == len(outs[1]) == 15
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_parse_rate():
    assert parse_rate("60") == 60 and parse_rate("30000/1001") == Fraction(30000, 1001)
    assert parse_rate("29.97") == Fraction(30000, 1001) and parse_rate("23.976") == Fraction(24000, 1001)
    assert parse_rate("12.5") == Fraction(25, 2)


def test_interpolate_without_audio_and_with_a_limit(tmp_path, clip, onnx_path):
    out = tmp_path / "out.mkv"
    result = run("interpolate", clip, out, "-m", onnx_path, "--no-audio", "--max-frames", 3, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "3 frames at 24 fps -> 5 frames at 48 fps" in result.output and "audio: dropped" in result.output
    assert audio_seconds(out)[0] == 0


def test_predict_writes_every_frame_and_reports_psnr(tmp_path, clip, predict_onnx_path):
    out = tmp_path / "pred.mp4"
    result = run("predict", clip, out, "-m", predict_onnx_path, "--horizon", 2, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "8 frames at 24 fps -> 8 frames at 24 fps" in result.output
    assert "mean PSNR of the 6 predicted frames" in result.output and "dB (horizon 2)" in result.output
    src, pred = list(read_frames(clip)), list(read_frames(out))
    assert len(pred) == 8
    assert np.abs(pred[1].astype(int) - src[1].astype(int)).mean() < CRF18_MEAN_LEVELS  # a copy
    assert np.abs(pred[5].astype(int) - src[5].astype(int)).mean() > CRF18_MEAN_LEVELS  # a prediction


def test_predict_side_by_side(tmp_path, clip, predict_onnx_path):
    out = tmp_path / "pred.mp4"
    result = run("predict", clip, out, "-m", predict_onnx_path, "--side-by-side", "--no-progress")
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.width, info.height, info.frames) == (128, 48, 8)
    frame = next(iter(read_frames(out)))
    assert np.abs(frame[:, :64].astype(int) - frame[:, 64:].astype(int)).mean() < CRF18_MEAN_LEVELS


def test_a_truncated_input_exits_1_with_a_partial_file(tmp_path, onnx_path):
    clip = write_av_clip(tmp_path / "in.mp4", moving_frames(24), options={"movflags": "faststart"})
    bad = damaged_copy(clip, tmp_path / "bad.mp4", "truncate")
    out = tmp_path / "out.mp4"
    result = run("interpolate", bad, out, "-m", onnx_path, "--no-progress")
    assert result.exit_code == 1, result.output
    assert "error: decoding" in result.output and "stopped at input frame" in result.output
    assert "out.partial.mp4" in result.output
    assert (tmp_path / "out.partial.mp4").is_file() and not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["interpolate", "{garbage}", "{out}", "-m", "{interp}"], "not a readable video"),
        (["interpolate", "{clip}", "{out}", "-m", "{predict}"], "Interpolator needs an 'interpolate' model"),
        (["predict", "{clip}", "{out}", "-m", "{interp}"], "Predictor needs a 'predict' model"),
        (["interpolate", "{clip}", "{out}", "-m", "{interp}", "--factor", "2", "--fps", "60"], "not both"),
        (["interpolate", "{clip}", "{out}", "-m", "{interp}", "--fps", "fast"], "--fps"),
        (["interpolate", "{clip}", "{out}", "-m", "{interp}", "--factor", "3"], "power of two"),
        (["interpolate", "{clip}", "{out}", "-m", "{interp}", "--cut-threshold", "1.5"], "cut threshold"),
    ],
    ids=["not-a-video", "predict-model", "interpolate-model", "factor-and-fps", "bad-fps", "factor-3", "cut"],
)
def test_user_errors_exit_2_with_one_line_and_no_file(
    tmp_path, clip, onnx_path, predict_onnx_path, args, message
):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    names = {
        "garbage": garbage,
        "out": tmp_path / "out.mp4",
        "interp": onnx_path,
        "predict": predict_onnx_path,
    }
    result = run(*[a.format(clip=clip, **names) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.mp4", "in.mp4"]


def test_carried_audio_decodes(tmp_path, clip, onnx_path):
    out = tmp_path / "out.mp4"
    result = run("interpolate", clip, out, "-m", onnx_path, "--no-progress")
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
    assert audio_seconds(out)[2] > 0


def test_report_json_matches_the_run(tmp_path, clip, onnx_path, predict_onnx_path):
    report = tmp_path / "reports" / "interp.json"
    report.parent.mkdir()
    result = run(
        "interpolate", clip, tmp_path / "o.mp4", "-m", onnx_path, "--no-progress", "--report", report
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert (data["frames_in"], data["frames_out"], data["fps_out"], data["fps_out_float"]) == (
        8,
        15,
        "48/1",
        48.0,
    )
    assert data["backend"].startswith("onnxruntime") and data["error"] is None and data["throughput"] > 0
    result = run(
        "predict", clip, tmp_path / "p.mp4", "-m", predict_onnx_path, "--no-progress", "--report", report
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert (data["frames_out"], data["horizon"], data["predicted"]) == (8, 1, 7)
    assert data["psnr_db"] > 0
