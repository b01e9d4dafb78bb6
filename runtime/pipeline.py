"""Video in, video out in three threads: decode, a stream transform, encode, joined by bounded queues.

The decode thread turns the input into uint8 RGB frames, the calling thread
runs the transform (e.g. ``partial(interp.upsample, factor=2)``) on them,
and the encode thread writes its output with the input's audio. While the
model runs, the next frames decode and the previous ones encode; ONNX
Runtime and PyAV release the GIL, so the three overlap on separate cores.

Any exception in any thread stops the others within ``POLL_S`` and is raised
again in the caller; nothing then appears under the output name. An input
that stops decoding part-way (corrupt or truncated) is not an exception: the
frames before the failure are processed, written to ``<stem>.partial<suffix>``
beside the requested output, and the report's ``error`` says what happened.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np
from corrwise.errors import InputError
from corrwise.runtime.priority import MAX_NICE, lower_thread_priority
from corrwise.runtime.video import DEFAULT_PRESET, VideoReader, VideoWriter, check_encoder_options
from tqdm import tqdm

Transform = Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]]
"""A stream of uint8 (H, W, 3) RGB frames -> the stream of output frames, lazily."""

# How often (s) a thread blocked on a queue looks whether the run was stopped.
POLL_S = 0.1
# How often (s) the progress bar's input rate is refreshed.
POSTFIX_S = 1.0


class CutCounter(Protocol):
    """Anything that counts the scene cuts it has seen (Interpolator, Predictor)."""

    @property
    def cuts(self) -> int: ...


class _Signal(enum.Enum):
    NEW_SEGMENT = "the frame size changed; the next frame starts a new segment"
    END = "the stream ended"


@dataclass(frozen=True)
class PipelineOptions:
    """How a pipeline runs.

    Attributes:
        max_frames: read at most this many input frames (None: all).
        queue_size: frames each queue between two threads holds; small keeps
            memory low (8 frames of 720p RGB are 22 MB) and is enough to
            smooth out the jitter of the three stages.
        crf: x264 quality, 0 (lossless) to 51; 18 is visually lossless.
        preset: x264 speed preset; the default keeps encoding far cheaper than inference.
        audio: carry the input's first audio stream over (copied, or re-encoded to AAC).
        encoder_threads: x264 threads; None lets x264 choose.
        io_nice: how much to lower the priority (raise the nice value, 0..19) of the
            decode and encode threads on Linux, so they fill the gaps left by inference
            instead of preempting its threads; 0 leaves them as they are. On 2 cores
            at 448x256, 15 raised end-to-end fps from 80-82 % to 86-87 % of the
            model's own rate (10: 84-85 %).
        progress: show a progress bar on stderr.
    """

    max_frames: int | None = None
    queue_size: int = 8
    crf: int = 18
    preset: str = DEFAULT_PRESET
    audio: bool = True
    encoder_threads: int | None = None
    io_nice: int = 15
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.queue_size, bool) or not isinstance(self.queue_size, int) or self.queue_size < 1:
            raise InputError(f"queue size must be an integer >= 1 (frames), got {self.queue_size!r}")
        nice = self.io_nice
        if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= MAX_NICE:
            raise InputError(f"io_nice must be an integer from 0 to {MAX_NICE} (nice steps), got {nice!r}")
        check_encoder_options(self.crf, self.preset, self.encoder_threads)


@dataclass(frozen=True)
class PipelineReport:
    """What a pipeline run did.

    Attributes:
        output: the file written (``<stem>.partial<suffix>`` when ``error`` is set).
        frames_in, frames_out: input frames read, output frames written.
        fps_in, fps_out: input and output frame rates (frames/s), exact.
        seconds: wall time of the run (s).
        decode_s, transform_s, encode_s: time (s) each stage spent working,
            measured inside its thread, waiting on the queues excluded.
        throughput: output frames written per wall-clock second, end to end.
        cuts: scene cuts the transform reported, or None when it reports none.
        size_changes: how often the frame size changed mid-stream (each one is a cut).
        first_size_change: input frame index of the first size change, or None.
        audio: what happened to the audio, in words.
        audio_carried: whether the output has the input's audio.
        warnings: things the user should know that did not stop the run.
        error: why the input stopped decoding early (a partial run), or None.
    """

    output: Path
    frames_in: int
    frames_out: int
    fps_in: Fraction
    fps_out: Fraction
    seconds: float
    decode_s: float
    transform_s: float
    encode_s: float
    throughput: float
    cuts: int | None
    size_changes: int
    first_size_change: int | None
    audio: str
    audio_carried: bool
    warnings: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON data: rates as ``"num/den"`` strings and as floats, times in seconds."""
        data = dataclasses.asdict(self)
        data["output"] = str(self.output)
        for key in ("fps_in", "fps_out"):
            rate = getattr(self, key)
            data[key] = f"{rate.numerator}/{rate.denominator}"
            data[f"{key}_float"] = float(rate)
        data["warnings"] = list(self.warnings)
        return data


class _Channel:
    """A bounded queue between two threads whose ``put`` and ``get`` give up once the run stops."""

    def __init__(self, size: int, stop: threading.Event) -> None:
        self._queue: queue.Queue[np.ndarray | _Signal] = queue.Queue(size)
        self._stop = stop
        self.waited_s = 0.0  # seconds the getting thread spent blocked

    def put(self, item: np.ndarray | _Signal) -> bool:
        """Queue ``item``; False when the run stopped first."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> np.ndarray | _Signal | None:
        """The next item; None when the run stopped first."""
        start = time.perf_counter()
        try:
            while not self._stop.is_set():
                try:
                    return self._queue.get(timeout=POLL_S)
                except queue.Empty:
                    continue
            return None
        finally:
            self.waited_s += time.perf_counter() - start


class _Worker(threading.Thread):
    """A pipeline thread: runs ``target``, and on any exception keeps it and stops the run."""

    def __init__(self, name: str, target: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self._stop_event = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as err:  # handed to the caller's thread, which raises it
            self.error = err
            self._stop_event.set()


class _Segment:
    """The input frames up to the next size change or the end, as an iterator for the transform."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self.frames = 0
        self.ended_by: _Signal | None = None  # None: not ended yet, or the run stopped
        self.stopped = False

    @property
    def waited_s(self) -> float:
        """Seconds spent waiting for input frames so far (not the transform's own work)."""
        return self._channel.waited_s

    def __iter__(self) -> _Segment:
        return self

    def __next__(self) -> np.ndarray:
        if self.ended_by is not None or self.stopped:
            raise StopIteration
        item = self._channel.get()
        if item is None:
            self.stopped = True
            raise StopIteration
        if isinstance(item, _Signal):
            self.ended_by = item
            raise StopIteration
        self.frames += 1
        return item


@dataclass
class _Counts:
    """Per-stage counters; each field is written by one thread only."""

    frames_in: int = 0
    frames_out: int = 0
    decode_s: float = 0.0
    transform_s: float = 0.0
    encode_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    notes: list[str] = field(default_factory=list)  # appended by the I/O threads, read after they joined


class Pipeline:
    """Runs a stream transform over a video file in three threads (decode, transform, encode).

    Opening reads the input's header (InputError for a file that is not a
    video, before anything is written); :meth:`run` does the work.

    Args:
        src: input video.
        dst: output video (``.mp4``, ``.mkv`` or ``.mov``); appears only when complete.
        options: see :class:`PipelineOptions`.

    Example::

        with Interpolator("model.onnx") as interp, Pipeline("in.mp4", "out.mp4") as pipe:
            report = pipe.run(partial(interp.upsample, factor=2), pipe.info.fps * 2, counter=interp)
    """

    def __init__(self, src: str | Path, dst: str | Path, options: PipelineOptions | None = None) -> None:
        self.options = options or PipelineOptions()
        self.src, self.dst = Path(src), Path(dst)
        if self.dst.resolve() == self.src.resolve():
            raise InputError(f"the output {self.dst} is the input; choose another output name")
        self.reader = VideoReader(self.src, self.options.max_frames)
        self.info = self.reader.info
        self._stop = threading.Event()
        self._counts = _Counts()
        self._started = False

    @property
    def expected_frames_in(self) -> int | None:
        """Input frames the run will read, when the container says (else None)."""
        listed, limit = self.info.frames or None, self.options.max_frames
        return min(listed, limit) if listed and limit else (listed or limit)

    def partial_path(self) -> Path:
        """Where the output of a run that stopped early goes: ``<stem>.partial<suffix>`` beside ``dst``."""
        return self.dst.with_name(f"{self.dst.stem}.partial{self.dst.suffix}")

    def run(
        self,
        transform: Transform,
        fps_out: Fraction,
        counter: CutCounter | None = None,
        frames_out: int | None = None,
    ) -> PipelineReport:
        """Decode, transform and encode the whole input; return the report.

        Args:
            transform: input frames -> output frames, each uint8 (H, W, 3) RGB.
                It is called once per segment of constant frame size (once for
                most videos), so a size change restarts it like a scene cut.
            fps_out: output frame rate (frames/s); output frame k is shown at
                the input's start + k / fps_out.
            counter: the object whose ``cuts`` the report gives (e.g. the Interpolator).
            frames_out: expected output frames, for the progress bar only.

        Raises:
            InputError: the input holds no decodable frame, or an argument is invalid.
            Any exception of the transform or the encoder, after stopping every thread.
        """
        if self._started:
            raise InputError("a Pipeline runs once; open a new one for another run")
        self._started = True
        fps_out = Fraction(fps_out)
        if fps_out <= 0:
            raise InputError(f"the output frame rate must be positive, got {fps_out}")
        writer = VideoWriter(
            self.dst,
            fps_out,
            self.options.crf,
            preset=self.options.preset,
            start=self.info.start,
            audio_from=self.src if self.options.audio and self.info.audio else None,
            threads=self.options.encoder_threads,
        )
        bar = tqdm(
            total=frames_out,
            desc=self.src.name,
            unit="frame",
            disable=not self.options.progress,
            mininterval=0.5,
            dynamic_ncols=True,
        )
        try:
            self._run_threads(transform, fps_out / self.info.fps, writer, bar)
            return self._finish(writer, fps_out, counter)
        except BaseException:
            writer.close(success=False)
            raise
        finally:
            bar.close()

    def _run_threads(self, transform: Transform, ratio: Fraction, writer: VideoWriter, bar: tqdm) -> None:
        """Start decode and encode, run the transform here, join all; raise the first error."""
        size = self.options.queue_size
        frames, outputs = _Channel(size, self._stop), _Channel(size, self._stop)
        decoder = _Worker("corrwise-decode", partial(self._decode, frames), self._stop)
        encoder = _Worker("corrwise-encode", partial(self._encode, outputs, writer, bar), self._stop)
        self._counts = _Counts()
        decoder.start()
        encoder.start()
        try:
            completed = self._transform(transform, ratio, frames, outputs)
            if completed:
                outputs.put(_Signal.END)
                encoder.join()
        finally:
            self._stop.set()  # after a failure the decoder may still wait on a full queue
            encoder.join()
            decoder.join()
        for worker in (decoder, encoder):
            if worker.error is not None:
                raise worker.error
        if not completed:
            raise InputError(f"the run on {self.src} was stopped before the end of the input")

    def _decode(self, frames: _Channel) -> None:
        """Decode thread: put every frame, a NEW_SEGMENT before each size change, then END."""
        counts, reader = self._counts, iter(self.reader)
        self._lower_priority()
        while True:
            start = time.perf_counter()
            item = next(reader, None)
            counts.decode_s += time.perf_counter() - start
            if item is None:
                break
            frame, resized = item
            if resized and not frames.put(_Signal.NEW_SEGMENT):
                return
            if not frames.put(frame):
                return
            counts.frames_in += 1
        frames.put(_Signal.END)

    def _transform(self, transform: Transform, ratio: Fraction, frames: _Channel, outputs: _Channel) -> bool:
        """Run ``transform`` once per segment; True when the input ended, False when the run stopped."""
        first_in = 0  # input frames before this segment
        while True:
            segment = _Segment(frames)
            produced = self._transform_segment(transform, segment, outputs, ratio, first_in)
            if produced is None or segment.stopped:
                return False
            while segment.ended_by is None and next(segment, None) is not None:
                pass  # the transform stopped early: skip the rest of its segment
            if segment.ended_by is not _Signal.NEW_SEGMENT:
                return not segment.stopped
            first_in += segment.frames

    def _transform_segment(
        self, transform: Transform, segment: _Segment, outputs: _Channel, ratio: Fraction, first_in: int
    ) -> int | None:
        """Transform one segment; fit its output to its time slot when a size change ends it.

        A segment of n frames from input frame a has the output frames from
        ceil(a * ratio) to ceil((a + n) * ratio); the transform's output is cut
        or padded (its last frame repeated) to that count, so the frames after
        the change keep their times. Returns the frames put, or None if the run stopped.
        """
        counts, produced, last = self._counts, 0, None
        waited, start = segment.waited_s, time.perf_counter()
        for frame in transform(segment):
            counts.transform_s += time.perf_counter() - start - (segment.waited_s - waited)
            slot = self._slot(segment, ratio, first_in)
            if slot is None or produced < slot:
                if not outputs.put(frame):
                    return None
                produced, last = produced + 1, frame
            waited, start = segment.waited_s, time.perf_counter()
        slot = self._slot(segment, ratio, first_in)
        while slot is not None and last is not None and produced < slot:
            if not outputs.put(last):
                return None
            produced += 1
        counts.frames_out += produced
        return produced

    @staticmethod
    def _slot(segment: _Segment, ratio: Fraction, first_in: int) -> int | None:
        """Output frames a segment ended by a size change must fill; None while open or at the end."""
        if segment.ended_by is not _Signal.NEW_SEGMENT:
            return None
        return math.ceil((first_in + segment.frames) * ratio) - math.ceil(first_in * ratio)

    def _encode(self, outputs: _Channel, writer: VideoWriter, bar: tqdm) -> None:
        """Encode thread: write frames until END (the caller then finishes the file)."""
        counts, shown = self._counts, time.perf_counter()
        self._lower_priority()
        while True:
            item = outputs.get()
            if item is None or item is _Signal.END:
                return
            start = time.perf_counter()
            writer.write(item)
            counts.encode_s += time.perf_counter() - start
            bar.update(1)
            if start - shown >= POSTFIX_S:
                rate = counts.frames_in / max(start - counts.started, 1e-9)
                bar.set_postfix_str(f"in {rate:.1f} frame/s", refresh=False)
                shown = start

    def _lower_priority(self) -> None:
        """Give the calling I/O thread ``io_nice`` steps less priority; note why not if refused."""
        why = lower_thread_priority(self.options.io_nice)
        if why is not None and why not in self._counts.notes:
            self._counts.notes.append(why)

    def _finish(self, writer: VideoWriter, fps_out: Fraction, counter: CutCounter | None) -> PipelineReport:
        """Flush and name the output (partial when decoding failed); build the report."""
        counts, reader = self._counts, self.reader
        error = reader.describe_failure()
        if writer.frames_written == 0:
            raise InputError(f"{self.src} has no decodable frames" + (f" ({error})" if error else ""))
        start = time.perf_counter()
        target = self.dst if error is None else self.partial_path()
        output = writer.finish(target, trim_audio=not reader.exhausted)
        counts.encode_s += time.perf_counter() - start
        seconds = time.perf_counter() - counts.started
        if error is not None:
            error = f"{error}; the {counts.frames_in} frames before it were processed and written to {output}"
        audio = writer.audio.describe() if writer.audio else self._no_audio()
        return PipelineReport(
            output=output,
            frames_in=counts.frames_in,
            frames_out=writer.frames_written,
            fps_in=self.info.fps,
            fps_out=fps_out,
            seconds=seconds,
            decode_s=counts.decode_s,
            transform_s=counts.transform_s,
            encode_s=counts.encode_s,
            throughput=writer.frames_written / max(seconds, 1e-9),
            cuts=None if counter is None else counter.cuts,
            size_changes=len(reader.size_changes),
            first_size_change=reader.size_changes[0] if reader.size_changes else None,
            audio=audio,
            audio_carried=writer.audio is not None and writer.audio.failure is None,
            warnings=self._warnings(writer),
            error=error,
        )

    def _no_audio(self) -> str:
        if self.info.audio is None:
            return "none in the input"
        return f"dropped ({self.info.audio})"

    def _warnings(self, writer: VideoWriter) -> tuple[str, ...]:
        warnings = list(self._counts.notes)
        changes = self.reader.size_changes
        if changes:
            width, height = self.reader.frame_size or (self.info.width, self.info.height)
            warnings.append(
                f"the frame size changes {len(changes)} time(s), first at input frame {changes[0]}; "
                f"frames of another size were scaled to the first frame's {width}x{height} and each "
                "change is treated as a scene cut"
            )
        damaged = self.reader.corrupt_packets
        if damaged:
            warnings.append(
                f"{len(damaged)} packet(s) of the input are flagged as damaged, the first near input "
                f"frame {damaged[0]}; the decoder concealed what it could, check the output there"
            )
        if writer.audio is not None and writer.audio.failure is not None:
            warnings.append(f"audio {writer.audio.describe()}")
        return tuple(warnings)

    def close(self) -> None:
        """Stop any thread still running and close the input."""
        self._stop.set()
        self.reader.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
