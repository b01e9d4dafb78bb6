"""Video in, video out with PyAV: decode to uint8 RGB frames, encode H.264 atomically, carry the audio.

Reading converts every pixel format (grayscale, RGBA, 10-bit YUV, ...) to
8-bit RGB, scales frames whose size changes mid-stream to the first frame's
size, and stops cleanly at the first frame that does not decode. Writing
gives output frame k the time ``start + k / fps`` and copies (or re-encodes
to AAC) the input's first audio stream beside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from corrwise.atomic import AtomicFile
from corrwise.errors import InputError
from corrwise.extras import import_for
from corrwise.runtime.audio import AV_TIME_BASE, AudioCarry

# x264 speed preset. Measured at 448x256 on 2 shared cores: "veryfast" takes
# 1.7 ms a frame on one thread, "medium" 5.2 ms, against about 90 ms for one
# synthesised frame of a 16-channel edge-unet; two output frames per input
# cost 4 % of the model's time with veryfast, 12 % with medium. At crf 18
# veryfast's file was not larger (310 KiB vs 388 KiB for 132 frames).
DEFAULT_PRESET = "veryfast"
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
# A measured average rate this close to the stream's nominal rate (relative
# difference) is rounding of the nominal one: 29.97002997 is 30000/1001.
RATE_SNAP = Fraction(1, 1000)


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file.

    Attributes:
        width, height: frame size (pixels) of the stream header.
        fps: frame rate (frames/s), exact (30000/1001 stays 30000/1001).
        frames: frame count from the container's index, or 0 when it has none.
        start: time (s) of the first video frame after the file's earliest
            timestamp (the audio's, when it starts earlier).
        audio: codec name of the first audio stream, or None.
        pix_fmt: the stream's pixel format, e.g. ``yuv420p10le``.
    """

    width: int
    height: int
    fps: Fraction
    frames: int
    start: Fraction = Fraction(0)
    audio: str | None = None
    pix_fmt: str = ""


def _av() -> ModuleType:
    return import_for("av", None, "video I/O")


def probe(path: str | Path) -> VideoInfo:
    """Read the size, rate, frame count, start and audio codec of ``path``'s first video stream."""
    with _open_input(_av(), path) as container:
        return _info(container)


def stream_rate(stream: Any) -> Fraction:
    """A video stream's frame rate (frames/s): the measured average, or the nominal rate it rounds."""
    average, nominal = stream.average_rate, stream.base_rate
    if average and nominal and abs(Fraction(average) / Fraction(nominal) - 1) <= RATE_SNAP:
        return Fraction(nominal)
    return Fraction(average or nominal or stream.guessed_rate or 25)


def _info(container: Any) -> VideoInfo:
    stream = container.streams.video[0]
    origin = Fraction(container.start_time or 0, AV_TIME_BASE)
    first = origin if stream.start_time is None else stream.start_time * stream.time_base
    audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    return VideoInfo(
        stream.width,
        stream.height,
        stream_rate(stream),
        stream.frames or 0,
        max(Fraction(first) - origin, Fraction(0)),
        audio,
        stream.codec_context.pix_fmt or "",
    )


def _open(av: ModuleType, path: str | Path) -> Any:
    """An open input container of ``path`` with a video stream, else InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video {path} does not exist")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise InputError(f"{path} is not a readable video ({err})") from err
    if not container.streams.video:
        container.close()
        raise InputError(f"{path} has no video stream")
    return container


@contextlib.contextmanager
def _open_input(av: ModuleType, path: str | Path) -> Iterator[Any]:
    container = _open(av, path)
    try:
        yield container
    finally:
        container.close()


class VideoReader:
    """Decodes the first video stream of a file to uint8 (H, W, 3) RGB frames, in display order.

    Any pixel format is converted to 8-bit RGB (grayscale gives R = G = B,
    10-bit is scaled, alpha is dropped). Frames whose size differs from the
    first frame's are scaled to it. Iterating yields ``(frame, resized)``
    where ``resized`` marks the first frame after a change of size.

    Decoding stops at the first packet that does not decode, and at the end
    of a file that holds fewer frames than its index lists (a truncated
    file); :attr:`failure` then says where and why, and the frames before it
    have been yielded. Packets the demuxer flags as damaged (e.g. MPEG-TS
    continuity errors, common at joins) go on to the decoder, which conceals
    what it can; they are only counted. A file that is not a video raises
    InputError on construction.

    Attributes:
        info: the stream's :class:`VideoInfo`.
        frames_read: frames yielded so far.
        size_changes: input frame indices where the frame size changed.
        corrupt_packets: for each packet flagged as damaged, the frames read before it.
        failure: why decoding stopped early, or None.
        exhausted: True once the whole stream was read (not cut by ``max_frames`` or a failure).
        frame_size: (W, H) of the first decoded frame, the size of every frame yielded.
    """

    def __init__(self, path: str | Path, max_frames: int | None = None) -> None:
        if max_frames is not None and max_frames < 1:
            raise InputError(f"max_frames must be at least 1 (or None for all), got {max_frames}")
        self.path = Path(path)
        self.max_frames = max_frames
        self._av = _av()
        self._container = _open(self._av, self.path)
        self.info = _info(self._container)
        self.frames_read = 0
        self.size_changes: list[int] = []
        self.corrupt_packets: list[int] = []
        self.failure: str | None = None
        self.exhausted = False
        self.frame_size: tuple[int, int] | None = None  # (W, H) of the first frame; all are scaled to it
        self._native: tuple[int, int] | None = None  # (W, H) of the previous decoded frame
        self._last_time: float | None = None  # seconds

    def __iter__(self) -> Iterator[tuple[np.ndarray, bool]]:
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for packet in self._container.demux(stream):
                if packet.is_corrupt:
                    self.corrupt_packets.append(self.frames_read)
                for frame in packet.decode():
                    if self.max_frames is not None and self.frames_read >= self.max_frames:
                        return
                    yield self._convert(frame)
        except self._av.error.FFmpegError as err:
            self.failure = f"{err.strerror or err}"
            return
        self.failure = self._truncation(stream)
        self.exhausted = self.failure is None

    def _convert(self, frame: Any) -> tuple[np.ndarray, bool]:
        """A decoded frame -> uint8 (H, W, 3) RGB of the first frame's size, and whether its size changed."""
        native = (frame.width, frame.height)
        resized = self._native is not None and native != self._native
        if resized:
            self.size_changes.append(self.frames_read)
        self._native = native
        self.frame_size = self.frame_size or native
        if native == self.frame_size:
            rgb = frame.to_ndarray(format="rgb24")
        else:
            rgb = frame.to_ndarray(format="rgb24", width=self.frame_size[0], height=self.frame_size[1])
        self._last_time = frame.time
        self.frames_read += 1
        return rgb, resized

    def _truncation(self, stream: Any) -> str | None:
        """Why the stream ended early, when its index lists more frames than were decoded; else None."""
        listed = self.info.frames
        if not listed or self.frames_read >= listed:
            return None
        if stream.duration is not None and self._last_time is not None:
            end = float((stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base)
            if self._last_time + 1.5 / float(self.info.fps) >= end:
                return None  # an edit list hid frames, the stream still ends where it should
        return f"the file ends after {self.frames_read} of the {listed} frames its index lists (truncated)"

    def describe_failure(self) -> str | None:
        """``failure`` as a sentence naming the file and the input frame where decoding stopped."""
        if self.failure is None:
            return None
        return f"decoding {self.path} stopped at input frame {self.frames_read}: {self.failure}"

    def close(self) -> None:
        """Close the file."""
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read_frames(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode ``path`` to uint8 (H, W, 3) RGB frames, in display order (see :class:`VideoReader`).

    Raises InputError after the last good frame when decoding stops early.
    """
    with VideoReader(path, max_frames) as reader:
        for frame, _ in reader:
            yield frame
        if reader.failure is not None:
            raise InputError(f"{reader.describe_failure()}; the frames before it were read")


class VideoWriter:
    """Encodes uint8 (H, W, 3) RGB frames to H.264 at a fixed rate, optionally with the input's audio.

    Frame k gets the presentation time ``start + k / fps`` (pts ``k`` in time
    base ``1 / fps`` when ``start`` is 0). The file appears under its final
    name only when :meth:`finish` succeeds; until then it is written to a
    hidden temporary file beside it.

    Args:
        path: output file; its suffix picks the container (``.mp4``, ``.mkv``, ``.mov``).
        fps: frame rate (frames/s), exact as a Fraction.
        crf: x264 quality (lower is better; 18 is visually lossless for most content).
        preset: x264 speed preset (``ultrafast`` ... ``veryslow``).
        start: time (s) of the first frame after the audio's origin, rounded to whole frames.
        audio_from: input file whose first audio stream is carried over; None for no audio.
        threads: encoder threads; None lets x264 choose (about 1.5 per core).
    """

    def __init__(
        self,
        path: str | Path,
        fps: Fraction,
        crf: int = 18,
        *,
        preset: str = DEFAULT_PRESET,
        start: Fraction = Fraction(0),
        audio_from: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        check_encoder_options(crf, preset, threads)
        self.path = Path(path)
        self.fps = Fraction(fps)
        self.crf, self.preset, self.threads = crf, preset, threads
        self.audio_from = None if audio_from is None else Path(audio_from)
        self._first_pts = round(Fraction(start) * self.fps)
        self._av = _av()
        self._file = AtomicFile(self.path, suffix=self.path.suffix or ".mp4")
        try:
            self._container = self._av.open(str(self._file.tmp), mode="w")
        except (self._av.error.FFmpegError, ValueError) as err:
            self._file.discard()
            raise InputError(
                f"cannot write a video to {self.path} ({err}); use a .mp4, .mkv or .mov name"
            ) from err
        self._stream: Any = None
        self.audio: AudioCarry | None = None
        self.frames_written = 0

    def _open_streams(self, height: int, width: int) -> None:
        self._stream = self._container.add_stream("libx264", rate=self.fps)
        self._stream.height, self._stream.width = height, width
        odd = height % 2 or width % 2
        self._stream.pix_fmt = "yuv444p" if odd else "yuv420p"  # 4:2:0 needs even sizes
        self._stream.time_base = 1 / self.fps
        self._stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.threads is not None:
            self._stream.codec_context.thread_count = self.threads
        if self.audio_from is not None:
            self.audio = AudioCarry(self.audio_from, self._container)

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) RGB frame (and the audio up to its time)."""
        if self._stream is None:
            self._open_streams(*frame.shape[:2])
        elif frame.shape[:2] != (self._stream.height, self._stream.width):
            raise InputError(
                f"frame {self.frames_written} is {frame.shape[1]}x{frame.shape[0]}, but the video is "
                f"{self._stream.width}x{self._stream.height}"
            )
        video_frame = self._av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = self._first_pts + self.frames_written
        video_frame.time_base = 1 / self.fps
        self._container.mux(self._stream.encode(video_frame))
        self.frames_written += 1
        if self.audio is not None:
            self.audio.mux_until(self.seconds)

    @property
    def seconds(self) -> Fraction:
        """End time (s) of the frames written so far, on the output's clock."""
        return (self._first_pts + self.frames_written) / self.fps

    def finish(self, path: str | Path | None = None, trim_audio: bool = False) -> Path:
        """Flush, close and move the file to ``path`` (default: the path it was opened with).

        ``trim_audio`` drops the audio after the last video frame (for a cut-short input);
        otherwise all of the input's audio is carried. InputError when no frame was written.
        """
        if self._container is None:
            raise InputError(f"{self.path} is already closed")
        try:
            if self._stream is None:
                raise InputError(f"no frames were written to {self.path}")
            self._container.mux(self._stream.encode(None))
            if self.audio is not None:
                self.audio.mux_until(self.seconds if trim_audio else None)
                self.audio.close()
            container, self._container = self._container, None
            container.close()
            if path is not None:
                self._file.path = Path(path)
            return self._file.commit()
        finally:
            self.close(success=False)

    def close(self, success: bool = True) -> None:
        """Finish the file (``success=True``), or discard it; closing twice is a no-op."""
        if self._container is None:
            self._file.discard()
            return
        if success:
            self.finish()
            return
        container, self._container = self._container, None
        try:
            if self.audio is not None:
                self.audio.close()
            container.close()
        finally:
            self._file.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(success=exc_type is None)


def check_encoder_options(crf: int, preset: str, threads: int | None) -> None:
    """InputError unless ``crf`` is in 0..51, ``preset`` an x264 preset and ``threads`` None or >= 1."""
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise InputError(f"crf must be an integer from 0 (lossless) to 51 (worst), got {crf!r}; 18 is usual")
    if preset not in X264_PRESETS:
        raise InputError(f"unknown x264 preset {preset!r}; choose one of {', '.join(X264_PRESETS)}")
    if threads is not None and threads < 1:
        raise InputError(f"encoder threads must be at least 1 (or None for automatic), got {threads}")
