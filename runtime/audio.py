"""Carry a video's audio over to a new file: copy its packets, or re-encode them to AAC."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from corrwise.errors import InputError
from corrwise.extras import import_for

# The usual layout for a channel count, for inputs whose layout is unspecified (AAC needs one).
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
# PyAV's container times (start_time, duration) are in microseconds.
AV_TIME_BASE = 1_000_000


class AudioCarry:
    """Carries the first audio stream of an input file into an output container.

    Packets are copied unchanged when the output container accepts the codec,
    else decoded and re-encoded to AAC. Timestamps are shifted by the input's
    earliest timestamp, as the video's are, so both stay in sync. A packet
    that cannot be read or muxed stops the audio (see :attr:`failure`); the
    video goes on.

    Args:
        src: the input file.
        output: a PyAV output container whose header is not written yet.
    """

    def __init__(self, src: str | Path, output: Any) -> None:
        self._av = import_for("av", None, "video I/O")
        self._output = output
        self._input = self._av.open(str(src))
        self._in = self._input.streams.audio[0]
        self.origin = Fraction(self._input.start_time or 0, AV_TIME_BASE)
        codec = self._in.codec_context.name
        self.reencode = codec not in output.supported_codecs
        try:
            self._out = self._output_stream()
        except (self._av.error.FFmpegError, ValueError) as err:
            self._input.close()
            raise InputError(f"cannot carry the {codec} audio of {src} over ({err}); use --no-audio") from err
        copied, reencoded = f"copied ({codec})", f"re-encoded to aac (the container does not take {codec})"
        self.mode = reencoded if self.reencode else copied
        self._packets = self._input.demux(self._in)
        self._pending: Any = None
        self.failure: str | None = None
        self.seconds = 0.0  # end of the last muxed packet, on the output's clock

    def _output_stream(self) -> Any:
        """The output's audio stream: a copy of the input's, or a new AAC encoder."""
        if not self.reencode:
            return self._output.add_stream_from_template(self._in)
        context = self._in.codec_context
        stream = self._output.add_stream("aac", rate=context.sample_rate)
        stream.layout = aac_layout(context.layout, context.channels)
        return stream

    def mux_until(self, seconds: Fraction | None) -> None:
        """Mux every packet that starts before ``seconds`` (output clock, s); None: all that are left."""
        while self.failure is None:
            try:
                packet = self._pending or next(self._packets, None)
            except self._av.error.FFmpegError as err:
                self.failure = f"reading audio failed after {self.seconds:.2f} s ({err})"
                return
            self._pending = None
            if packet is None:
                return
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                continue  # the demuxer's empty end-of-stream packet
            time = stamp * packet.time_base - self.origin
            if seconds is not None and time >= seconds:
                self._pending = packet
                return
            self._mux(packet, time)

    def _mux(self, packet: Any, time: Fraction) -> None:
        try:
            if self.reencode:
                for frame in packet.decode():
                    frame.pts -= round(self.origin / frame.time_base)
                    self._output.mux(self._out.encode(frame))
            else:
                shift = round(self.origin / packet.time_base)
                packet.pts = None if packet.pts is None else packet.pts - shift
                packet.dts = None if packet.dts is None else packet.dts - shift
                packet.stream = self._out
                self._output.mux(packet)
        except self._av.error.FFmpegError as err:
            self.failure = f"muxing audio failed at {float(time):.2f} s ({err})"
            return
        self.seconds = float(time + (packet.duration or 0) * packet.time_base)

    def close(self) -> None:
        """Flush the AAC encoder (when re-encoding) and close the input."""
        try:
            if self.reencode and self.failure is None:
                self._output.mux(self._out.encode(None))
        finally:
            self._input.close()

    def describe(self) -> str:
        """What happened to the audio, in a few words."""
        if self.failure is None:
            return self.mode
        return f"{self.mode}, stopped early: {self.failure}"


def aac_layout(layout: Any, channels: int) -> Any:
    """The channel layout to encode AAC with: the input's, or the usual one for its channel count."""
    if not layout.name.endswith("channels"):  # e.g. "2 channels": no order given
        return layout
    if channels not in DEFAULT_LAYOUTS:
        raise InputError(f"cannot re-encode {channels} audio channels to AAC (at most 8); use --no-audio")
    return DEFAULT_LAYOUTS[channels]
