"""Video in, video out with PyAV: decode to uint8 RGB frames, encode H.264 atomically."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np
from corrwise.atomic import AtomicFile
from corrwise.errors import InputError
from corrwise.extras import import_for


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file: size (pixels), frame rate (frames/s), frame count or 0."""

    width: int
    height: int
    fps: Fraction
    frames: int


def probe(path: str | Path) -> VideoInfo:
    """Read the size, rate and frame count of ``path``'s first video stream."""
    av = import_for("av", None, "video I/O")
    with _open_input(av, path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        return VideoInfo(stream.width, stream.height, Fraction(rate), stream.frames or 0)


@contextlib.contextmanager
def _open_input(av: ModuleType, path: str | Path) -> Iterator[object]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video {path} does not exist")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise InputError(f"{path} is not a readable video ({err})") from err
    try:
        if not container.streams.video:
            raise InputError(f"{path} has no video stream")
        yield container
    finally:
        container.close()


def read_frames(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode ``path`` to uint8 (H, W, 3) RGB frames, in display order."""
    av = import_for("av", None, "video I/O")
    with _open_input(av, path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for count, frame in enumerate(container.decode(stream)):
                if max_frames is not None and count >= max_frames:
                    return
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as err:
            raise InputError(f"decoding {path} failed after some frames: {err}") from err


class VideoWriter:
    """Encodes uint8 (H, W, 3) RGB frames to H.264 at a fixed rate.

    The file appears under its final name only when :meth:`close` succeeds;
    until then it is written to a hidden temporary file beside it.

    Args:
        path: output file (``.mp4`` or ``.mkv``).
        fps: frame rate (frames per second), exact as a Fraction.
        crf: x264 quality (lower is better; 18 is visually lossless for most content).
    """

    def __init__(self, path: str | Path, fps: Fraction, crf: int = 18) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps)
        self.crf = crf
        self._av = import_for("av", None, "video I/O")
        self._file = AtomicFile(self.path, suffix=self.path.suffix or ".mp4")
        self._container = self._av.open(str(self._file.tmp), mode="w")
        self._stream = None
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) RGB frame."""
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.height, self._stream.width = frame.shape[:2]
            odd = frame.shape[0] % 2 or frame.shape[1] % 2
            self._stream.pix_fmt = "yuv444p" if odd else "yuv420p"  # 4:2:0 needs even sizes
            self._stream.options = {"crf": str(self.crf)}
        elif frame.shape[:2] != (self._stream.height, self._stream.width):
            raise InputError(
                f"frame {self.frames_written} is {frame.shape[1]}x{frame.shape[0]}, but the video is "
                f"{self._stream.width}x{self._stream.height}"
            )
        video_frame = self._av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = self.frames_written
        video_frame.time_base = 1 / self.fps
        self._container.mux(self._stream.encode(video_frame))
        self.frames_written += 1

    def close(self, success: bool = True) -> None:
        """Flush and finish the file; with ``success=False`` discard it instead."""
        if self._container is None:
            return
        container, self._container = self._container, None
        finished = False
        try:
            if success and self._stream is not None:
                container.mux(self._stream.encode(None))
            container.close()
            finished = success and self.frames_written > 0
        finally:
            if finished:
                self._file.commit()
            self._file.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(success=exc_type is None)
