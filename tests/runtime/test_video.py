"""Video I/O: probe, the reader (pixel formats, size changes, damaged files) and the writer (rates, audio)."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from corrwise.errors import InputError
from corrwise.runtime import VideoWriter, probe, read_frames
from corrwise.runtime.video import VideoReader
from corrwise.tolerances import CODEC_CRF18_MEAN_LEVELS, YUV_ROUND_TRIP_LEVELS

from ..conftest import moving_frames
from ..conftest import write_clip as write

CRF18_MEAN_LEVELS = CODEC_CRF18_MEAN_LEVELS
# How far (s) a carried audio stream's duration may be from the input's (an AAC frame is 21 ms).
AUDIO_DURATION_S = 0.1
AUDIO_RATE = 48000  # Hz
AAC_FRAME = 1024  # samples


def write_av_clip(
    path: Path,
    frames: list[np.ndarray],
    fps: Fraction = Fraction(24),
    audio: str | None = "aac",
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    frame_format: str = "rgb24",
    options: dict[str, str] | None = None,
) -> Path:
    """Encode ``frames`` (arrays of ``frame_format``) and, unless ``audio`` is None, a 440 Hz tone as long.

    ``audio`` names the audio codec (``"aac"``, ``"pcm_u8"``); ``options`` go to the container
    (e.g. ``{"movflags": "faststart"}`` puts an MP4's index first).
    """
    container = av.open(str(path), "w", options=options or {})
    video = container.add_stream(codec, rate=fps)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = pix_fmt
    sound = None
    if audio is not None:
        sound = container.add_stream(audio, rate=AUDIO_RATE)
        sound.layout = "mono"
    for i, array in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(array, format=frame_format)
        frame.pts, frame.time_base = i, 1 / fps
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if sound is not None:
        _write_tone(container, sound, float(len(frames) / fps))
    container.close()
    return path


def _write_tone(container: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    total = round(AUDIO_RATE * seconds)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(total) / AUDIO_RATE)).astype(np.float32)[None]
    for start in range(0, total, AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(tone[:, start : start + AAC_FRAME], format="flt", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def audio_seconds(path: Path) -> tuple[int, float, int]:
    """(audio streams, duration (s) of the first, samples it decodes to)."""
    with av.open(str(path)) as container:
        streams = container.streams.audio
        if not streams:
            return 0, 0.0, 0
        stream = streams[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        samples = sum(frame.samples for frame in container.decode(stream))
        return len(streams), duration, samples


def damaged_copy(src: Path, dst: Path, how: str) -> Path:
    """``src`` cut to its first 60 % of bytes (``"truncate"``), or with a run of 0xff bytes in the middle."""
    data = bytearray(src.read_bytes())
    if how == "truncate":
        data = data[: len(data) * 6 // 10]
    else:
        middle = len(data) // 2
        data[middle : middle + len(data) // 10] = b"\xff" * (len(data) // 10)
    dst.write_bytes(bytes(data))
    return dst


def size_change_clip(tmp_path: Path, first: int = 6, second: int = 6) -> Path:
    """Two MPEG-TS clips, 64x48 then 80x32 (WxH), joined byte-wise (MPEG-TS allows it)."""
    a = write_av_clip(tmp_path / "a.ts", moving_frames(first, 48, 64), audio=None)
    b = write_av_clip(tmp_path / "b.ts", moving_frames(second, 32, 80), audio=None)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    return joined


@pytest.mark.parametrize("size", [(48, 64), (49, 65)], ids=["even", "odd"])
def test_write_then_read_round_trip(tmp_path, size):
    frames = moving_frames(6, *size)
    path = write(tmp_path / "clip.mp4", frames)
    info = probe(path)
    assert (info.width, info.height, info.fps, info.frames) == (size[1], size[0], Fraction(24), 6)
    assert (info.start, info.audio) == (0, None)
    decoded = list(read_frames(path))
    assert len(decoded) == 6
    assert np.abs(decoded[3].astype(int) - frames[3].astype(int)).mean() < CRF18_MEAN_LEVELS


def test_writer_failure_leaves_no_file(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="but the video is"), VideoWriter(target, Fraction(24)) as writer:
        writer.write(moving_frames(1)[0])
        writer.write(np.zeros((10, 10, 3), np.uint8))
    assert not any(tmp_path.iterdir())


def test_writer_rejects_bad_encoder_options_and_names(tmp_path):
    with pytest.raises(InputError, match="preset"):
        VideoWriter(tmp_path / "o.mp4", Fraction(24), preset="warp")
    with pytest.raises(InputError, match="crf"):
        VideoWriter(tmp_path / "o.mp4", Fraction(24), crf=60)
    with pytest.raises(InputError, match=r"\.mp4, \.mkv"):
        VideoWriter(tmp_path / "o.nosuchformat", Fraction(24))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts"])
def test_ntsc_rate_stays_exact_and_frames_are_k_over_fps(tmp_path, suffix):
    fps = Fraction(30000, 1001)
    path = write(tmp_path / f"clip{suffix}", moving_frames(8), fps)
    assert probe(path).fps == fps
    with av.open(str(path)) as container:
        times = [frame.pts * frame.time_base for frame in container.decode(video=0)]
    first = times[0]  # MPEG-TS starts at an offset
    assert [float((t - first) * fps) for t in times] == pytest.approx(list(range(8)), abs=0.5)


@pytest.mark.parametrize(
    "codec, pix_fmt, suffix, frame_format, expected",
    [
        ("ffv1", "gray", ".mkv", "gray", (77, 77, 77)),
        ("png", "rgba", ".mov", "rgba", (200, 100, 30)),
        ("ffv1", "yuv420p10le", ".mkv", "rgb48le", (200, 100, 30)),
    ],
    ids=["gray", "rgba", "10-bit"],
)
def test_any_pixel_format_decodes_to_8_bit_rgb(tmp_path, codec, pix_fmt, suffix, frame_format, expected):
    h, w = 16, 24
    if frame_format == "gray":
        array = np.full((h, w), 77, np.uint8)
    elif frame_format == "rgba":
        array = np.empty((h, w, 4), np.uint8)
        array[...] = (200, 100, 30, 128)
    else:  # 16-bit RGB; the encoder stores it as 10-bit YUV
        array = np.empty((h, w, 3), np.uint16)
        array[...] = (200 * 257, 100 * 257, 30 * 257)
    path = write_av_clip(
        tmp_path / f"clip{suffix}", [array] * 3, Fraction(24), None, codec, pix_fmt, frame_format
    )
    assert probe(path).pix_fmt == pix_fmt
    frames = list(read_frames(path))
    assert len(frames) == 3 and frames[0].dtype == np.uint8 and frames[0].shape == (h, w, 3)
    assert np.abs(frames[0].astype(int) - np.array(expected)).max() <= YUV_ROUND_TRIP_LEVELS


def test_a_size_change_is_scaled_to_the_first_size_and_recorded(tmp_path):
    path = size_change_clip(tmp_path)
    with VideoReader(path) as reader:
        items = list(reader)
        assert reader.size_changes == [6] and reader.frame_size == (64, 48)
        assert reader.failure is None and reader.exhausted
    assert [resized for _, resized in items] == [False] * 6 + [True] + [False] * 5
    assert {frame.shape for frame, _ in items} == {(48, 64, 3)}


def test_a_truncated_file_stops_at_the_missing_frames(tmp_path):
    clip = write_av_clip(tmp_path / "clip.mp4", moving_frames(24), options={"movflags": "faststart"})
    cut = damaged_copy(clip, tmp_path / "cut.mp4", "truncate")
    with VideoReader(cut) as reader:
        frames = [frame for frame, _ in reader]
        assert 0 < len(frames) < 24 and not reader.exhausted
        assert "of the 24 frames" in reader.failure and "truncated" in reader.failure
        assert f"input frame {len(frames)}" in reader.describe_failure()
    with pytest.raises(InputError, match=f"stopped at input frame {len(frames)}"):
        list(read_frames(cut))


def test_a_corrupt_file_stops_at_the_first_frame_that_does_not_decode(tmp_path):
    clip = write_av_clip(tmp_path / "clip.mp4", moving_frames(24), options={"movflags": "faststart"})
    bad = damaged_copy(clip, tmp_path / "bad.mp4", "overwrite")
    with VideoReader(bad) as reader:
        frames = [frame for frame, _ in reader]
        assert 0 < len(frames) < 24 and reader.failure is not None and not reader.exhausted
    good = list(read_frames(clip))
    assert np.array_equal(frames[0], good[0])


def test_max_frames_stops_early_without_a_failure(tmp_path):
    path = write(tmp_path / "clip.mp4", moving_frames(6))
    with VideoReader(path, max_frames=2) as reader:
        assert len(list(reader)) == 2
        assert reader.failure is None and not reader.exhausted
    with pytest.raises(InputError, match="max_frames"):
        VideoReader(path, max_frames=0)


def test_not_a_video_and_missing_files_are_input_errors(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(InputError, match="not a readable video"):
        probe(garbage)
    with pytest.raises(InputError, match="does not exist"):
        VideoReader(tmp_path / "absent.mp4")
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w") as container:
        _write_tone(container, container.add_stream("aac", rate=AUDIO_RATE), 0.2)
    with pytest.raises(InputError, match="no video stream"):
        probe(audio_only)


@pytest.mark.parametrize(
    "codec, out_suffix, expected", [("aac", ".mp4", "copied (aac)"), ("pcm_u8", ".mp4", "re-encoded to aac")]
)
def test_writer_carries_the_audio(tmp_path, codec, out_suffix, expected):
    src = write_av_clip(tmp_path / "in.mkv", moving_frames(12), audio=codec)
    info = probe(src)
    assert info.audio == codec
    out = tmp_path / f"out{out_suffix}"
    with VideoWriter(out, info.fps, audio_from=src) as writer:
        for frame in read_frames(src):
            writer.write(frame)
    assert writer.audio is not None and writer.audio.describe().startswith(expected)
    streams, duration, samples = audio_seconds(out)
    assert streams == 1 and samples > 0
    assert duration == pytest.approx(12 / 24, abs=AUDIO_DURATION_S)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
