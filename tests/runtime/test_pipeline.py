"""The threaded pipeline: counts, timestamps, audio, errors in any thread, partial inputs, size changes."""

import itertools
import threading
from collections.abc import Iterator
from fractions import Fraction
from functools import partial

import av
import numpy as np
import pytest
from corrwise.errors import InputError
from corrwise.runtime import Interpolator, probe, read_frames, upsample_video
from corrwise.runtime.pipeline import Pipeline, PipelineOptions
from corrwise.runtime.upsample import PredictionStream, retime_video
from corrwise.runtime.video import VideoReader

from ..conftest import moving_frames
from .test_video import (
    AUDIO_DURATION_S,
    YUV_ROUND_TRIP_LEVELS,
    audio_seconds,
    damaged_copy,
    size_change_clip,
    write_av_clip,
)

QUIET = PipelineOptions(progress=False)


def identity(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield from frames


def doubled(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Each frame twice, minus the last copy: the counts of an upsample by 2 (n -> 2n - 1)."""
    previous = None
    for frame in frames:
        if previous is not None:
            yield previous
        yield frame
        previous = frame


def broken_after(n: int, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    for i, frame in enumerate(frames):
        if i == n:
            raise RuntimeError("the model fell over")
        yield frame


def wrong_size_forever(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """One good frame, then endless frames the encoder refuses: only a stopped run ends this."""
    yield next(frames)
    yield from itertools.repeat(np.zeros((8, 8, 3), np.uint8))


def pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("corrwise-")]


def frame_times(path) -> list[Fraction]:
    """Presentation time (s) of every frame of ``path``'s video, from the decoded frames."""
    with av.open(str(path)) as container:
        return [frame.pts * frame.time_base for frame in container.decode(video=0)]


@pytest.fixture
def clip(tmp_path):
    """12 moving frames at 24 fps, H.264 with an AAC tone, index first."""
    return write_av_clip(tmp_path / "in.mp4", moving_frames(12), options={"movflags": "faststart"})


def test_identity_keeps_frames_rate_audio_and_reports(tmp_path, clip):
    with Pipeline(clip, tmp_path / "out.mp4", QUIET) as pipe:
        report = pipe.run(identity, pipe.info.fps)
    assert (report.frames_in, report.frames_out, report.fps_in, report.fps_out) == (12, 12, 24, 24)
    assert report.error is None and report.output == tmp_path / "out.mp4"
    assert report.cuts is None and report.size_changes == 0 and report.warnings == ()
    assert report.audio == "copied (aac)" and report.audio_carried
    assert min(report.decode_s, report.transform_s, report.encode_s) > 0 and report.throughput > 0
    assert report.seconds >= max(report.decode_s, report.encode_s)
    out = list(read_frames(report.output))
    src = list(read_frames(clip))
    assert len(out) == 12 and np.abs(out[5].astype(int) - src[5].astype(int)).mean() < YUV_ROUND_TRIP_LEVELS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # no temporary left


def test_upsample_timestamps_are_k_over_fps_out_and_audio_stays(tmp_path, clip, onnx_path):
    with Interpolator(onnx_path) as interp:
        report = upsample_video(clip, tmp_path / "out.mp4", interp, 2, options=QUIET)
    assert (report.frames_in, report.frames_out, report.fps_out) == (12, 23, 48)
    info = probe(report.output)
    assert info.fps == 48 and info.frames == 23
    times = frame_times(report.output)
    assert [float(t * 48) for t in times] == pytest.approx(list(range(23)), abs=0.5)
    streams, duration, samples = audio_seconds(report.output)
    _, src_duration, _ = audio_seconds(clip)
    assert streams == 1 and samples > 0 and duration == pytest.approx(src_duration, abs=AUDIO_DURATION_S)


def test_ntsc_rates_stay_exact_through_retime(tmp_path, onnx_path):
    src = write_av_clip(tmp_path / "in.mp4", moving_frames(10), Fraction(30000, 1001), audio=None)
    with Interpolator(onnx_path) as interp:
        report = retime_video(src, tmp_path / "out.mp4", interp, "60000/1001", QUIET)
    assert report.fps_in == Fraction(30000, 1001) and report.fps_out == Fraction(60000, 1001)
    assert report.frames_out == 20  # ceil(10 * 2)
    assert probe(report.output).fps == Fraction(60000, 1001)
    times = frame_times(report.output)
    assert [float(t * Fraction(60000, 1001)) for t in times] == pytest.approx(list(range(20)), abs=0.5)


def test_output_starts_where_the_input_video_starts(tmp_path):
    """MPEG-TS puts audio and video at offsets; the output keeps the video's offset after the audio."""
    src = write_av_clip(tmp_path / "in.ts", moving_frames(12))
    info = probe(src)
    assert info.start > 0
    with Pipeline(src, tmp_path / "out.mp4", QUIET) as pipe:
        report = pipe.run(doubled, info.fps * 2)
    times = frame_times(report.output)
    offset = round(info.start * 48)
    assert [float(t * 48) for t in times] == pytest.approx([offset + k for k in range(23)], abs=0.5)


def test_no_audio_option_and_reencoding(tmp_path):
    src = write_av_clip(tmp_path / "in.mkv", moving_frames(6), audio="pcm_u8")
    with Pipeline(src, tmp_path / "silent.mp4", PipelineOptions(audio=False, progress=False)) as pipe:
        report = pipe.run(identity, pipe.info.fps)
    assert report.audio == "dropped (pcm_u8)" and not report.audio_carried
    assert audio_seconds(report.output)[0] == 0
    with Pipeline(src, tmp_path / "aac.mp4", QUIET) as pipe:
        report = pipe.run(identity, pipe.info.fps)
    assert report.audio.startswith("re-encoded to aac") and report.audio_carried
    assert audio_seconds(report.output)[0] == 1


def test_a_transform_error_stops_every_thread_and_leaves_no_file(tmp_path, clip):
    with pytest.raises(RuntimeError, match="fell over"), Pipeline(clip, tmp_path / "out.mp4", QUIET) as pipe:
        pipe.run(partial(broken_after, 3), pipe.info.fps)
    assert pipeline_threads() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_an_encoder_error_stops_a_transform_that_would_never_end(tmp_path, clip):
    with (
        pytest.raises(InputError, match="but the video is"),
        Pipeline(clip, tmp_path / "out.mp4", PipelineOptions(queue_size=2, progress=False)) as pipe,
    ):
        pipe.run(wrong_size_forever, pipe.info.fps)
    assert pipeline_threads() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_decoder_error_is_raised_in_the_caller(tmp_path, clip, monkeypatch):
    def failing_iter(self):
        yield next(iter(self._container.decode(video=0))).to_ndarray(format="rgb24"), False
        raise MemoryError("no memory for frame 1")

    monkeypatch.setattr(VideoReader, "__iter__", failing_iter)
    with pytest.raises(MemoryError, match="frame 1"), Pipeline(clip, tmp_path / "out.mp4", QUIET) as pipe:
        pipe.run(identity, pipe.info.fps)
    assert pipeline_threads() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.parametrize("how", ["truncate", "overwrite"])
def test_a_damaged_input_gives_a_partial_file(tmp_path, clip, how):
    bad = damaged_copy(clip, tmp_path / "bad.mp4", how)
    target = tmp_path / "out.mp4"
    target.write_bytes(b"an earlier result")
    with Pipeline(bad, target, QUIET) as pipe:
        report = pipe.run(doubled, pipe.info.fps * 2)
    assert 0 < report.frames_in < 12 and report.frames_out == 2 * report.frames_in - 1
    assert report.output == tmp_path / "out.partial.mp4" and report.output.is_file()
    assert target.read_bytes() == b"an earlier result"  # never written under the final name
    assert f"stopped at input frame {report.frames_in}" in report.error and str(report.output) in report.error
    assert len(list(read_frames(report.output))) == report.frames_out


def test_not_a_video_raises_before_any_file_is_written(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(InputError, match="not a readable video"):
        Pipeline(garbage, tmp_path / "out.mp4", QUIET)
    with pytest.raises(InputError, match="is the input"):
        Pipeline(garbage, garbage, QUIET)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.mp4"]


def test_a_size_change_splits_the_stream_and_keeps_the_timing(tmp_path):
    src = size_change_clip(tmp_path)
    calls = []

    def counted_doubled(frames):
        calls.append(1)
        return doubled(frames)

    with Pipeline(src, tmp_path / "out.mp4", QUIET) as pipe:
        report = pipe.run(counted_doubled, pipe.info.fps * 2)
    assert len(calls) == 2  # the transform restarts at the change, like at a scene cut
    assert (report.size_changes, report.first_size_change) == (1, 6)
    assert report.frames_out == 2 * 12 - 1  # the first segment is padded to its 12 output slots
    assert any("frame size changes 1 time(s), first at input frame 6" in w for w in report.warnings)
    out = list(read_frames(report.output))
    assert {frame.shape for frame in out} == {(48, 64, 3)}
    assert np.abs(out[10].astype(int) - out[11].astype(int)).mean() < YUV_ROUND_TRIP_LEVELS  # the padding


def test_queue_size_and_options_are_checked():
    with pytest.raises(InputError, match="queue size"):
        PipelineOptions(queue_size=0)
    with pytest.raises(InputError, match="preset"):
        PipelineOptions(preset="fastest")


def test_progress_bar_counts_output_frames(tmp_path, clip, capsys):
    with Pipeline(clip, tmp_path / "out.mp4", PipelineOptions(progress=True)) as pipe:
        pipe.run(doubled, pipe.info.fps * 2, frames_out=23)
    err = capsys.readouterr().err
    assert "23/23" in err and "frame/s" in err


class FakePredictor:
    """Predicts frame v + k from a frame whose pixels are all v: a perfect model of the test ramp."""

    def __init__(self) -> None:
        self.last = None
        self.resets = 0

    def reset(self) -> None:
        self.last, self.resets = None, self.resets + 1

    def push(self, frame: np.ndarray) -> np.ndarray:
        self.last = int(frame[0, 0, 0])
        return np.full_like(frame, self.last + 1)

    def rollout(self, k: int) -> list[np.ndarray]:
        shape = (2, 2, 3)
        return [np.full(shape, self.last + i, np.uint8) for i in range(1, k + 1)]


@pytest.mark.parametrize("horizon", [1, 3])
def test_prediction_stream_output_i_predicts_frame_i_from_frame_i_minus_horizon(horizon):
    frames = [np.full((2, 2, 3), 10 * i, np.uint8) for i in range(6)]
    predictor = FakePredictor()
    stream = PredictionStream(predictor, horizon)
    out = list(stream(iter(frames)))
    assert [int(f[0, 0, 0]) for f in out[:horizon]] == [10 * i for i in range(horizon)]  # copies
    # frame i is predicted from frame i - horizon as its value + horizon, not 10 * i
    assert [int(f[0, 0, 0]) for f in out[horizon:]] == [
        10 * (i - horizon) + horizon for i in range(horizon, 6)
    ]
    assert stream.predicted == 6 - horizon and predictor.resets == 1
    assert stream.mean_psnr_db is not None and stream.mean_psnr_db < 40


def test_prediction_stream_side_by_side_and_bad_horizon():
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(3)]
    out = list(PredictionStream(FakePredictor(), 1, side_by_side=True)(iter(frames)))
    assert out[2].shape == (2, 4, 3) and out[2][0, 0, 0] == 2 and out[2][0, 2, 0] == 2
    with pytest.raises(InputError, match="horizon"):
        PredictionStream(FakePredictor(), 0)
