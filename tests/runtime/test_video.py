from fractions import Fraction

import numpy as np
import pytest
from corrwise.errors import InputError
from corrwise.runtime import Interpolator, VideoWriter, probe, read_frames, upsample_video

from ..conftest import moving_frames
from ..conftest import write_clip as write


@pytest.mark.parametrize("size", [(48, 64), (49, 65)], ids=["even", "odd"])
def test_write_then_read_round_trip(tmp_path, size):
    frames = moving_frames(6, *size)
    path = write(tmp_path / "clip.mp4", frames)
    info = probe(path)
    assert (info.width, info.height, info.fps) == (size[1], size[0], Fraction(24))
    decoded = list(read_frames(path))
    assert len(decoded) == 6
    assert np.abs(decoded[3].astype(int) - frames[3].astype(int)).mean() < 3  # crf 18 is near lossless


def test_writer_failure_leaves_no_file(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="but the video is"), VideoWriter(target, Fraction(24)) as writer:
        writer.write(moving_frames(1)[0])
        writer.write(np.zeros((10, 10, 3), np.uint8))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("factor", [2, 4])
def test_upsample_video_counts_and_rate(tmp_path, onnx_path, factor):
    src = write(tmp_path / "in.mp4", moving_frames(5))
    with Interpolator(onnx_path) as interp:
        report = upsample_video(src, tmp_path / "out.mp4", interp, factor=factor, progress=False)
    assert report.frames_in == 5 and report.frames_out == 1 + 4 * factor
    info = probe(tmp_path / "out.mp4")
    assert info.fps == 24 * factor
    assert len(list(read_frames(tmp_path / "out.mp4"))) == 1 + 4 * factor


def test_max_frames_limits_the_input(tmp_path, onnx_path):
    src = write(tmp_path / "in.mp4", moving_frames(6))
    with Interpolator(onnx_path) as interp:
        report = upsample_video(src, tmp_path / "out.mp4", interp, max_frames=3, progress=False)
    assert (report.frames_in, report.frames_out) == (3, 5)


def test_bad_factor_and_unreadable_video(tmp_path, onnx_path):
    src = write(tmp_path / "in.mp4", moving_frames(2))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with Interpolator(onnx_path) as interp:
        with pytest.raises(InputError, match="power of two"):
            upsample_video(src, tmp_path / "o.mp4", interp, factor=3)
        with pytest.raises(InputError, match="not a readable video"):
            upsample_video(garbage, tmp_path / "o.mp4", interp)
        with pytest.raises(InputError, match="does not exist"):
            upsample_video(tmp_path / "absent.mp4", tmp_path / "o.mp4", interp)
    assert not (tmp_path / "o.mp4").exists()
