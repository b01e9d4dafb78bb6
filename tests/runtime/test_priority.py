"""The I/O threads' priority: lowered by ``io_nice`` on Linux, reported (not raised) when refused."""

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from corrwise.errors import InputError
from corrwise.runtime.pipeline import Pipeline, PipelineOptions
from corrwise.runtime.priority import MAX_NICE, lower_thread_priority, thread_niceness_supported

from ..conftest import moving_frames
from .test_video import write_av_clip

linux_only = pytest.mark.skipif(
    not thread_niceness_supported(), reason="per-thread nice values are Linux only"
)


@pytest.fixture
def clip(tmp_path):
    """12 moving frames at 24 fps with audio."""
    return write_av_clip(tmp_path / "in.mp4", moving_frames(12))


def nice_of(thread: threading.Thread) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread.native_id)


def run_in_thread(steps: int) -> tuple[int, int, str | None]:
    """Nice value of a fresh thread before and after ``lower_thread_priority(steps)``, and its answer."""
    seen: dict[str, object] = {}

    def body() -> None:
        tid = threading.get_native_id()
        seen["before"] = os.getpriority(os.PRIO_PROCESS, tid)
        seen["why"] = lower_thread_priority(steps)
        seen["after"] = os.getpriority(os.PRIO_PROCESS, tid)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen["before"], seen["after"], seen["why"]  # type: ignore[return-value]


@linux_only
def test_only_the_calling_thread_is_lowered():
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before, after, why = run_in_thread(5)
    assert why is None
    assert after == min(MAX_NICE, before + 5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the caller keeps its priority


@linux_only
def test_zero_steps_change_nothing_and_the_value_is_capped():
    before, after, why = run_in_thread(0)
    assert (after, why) == (before, None)
    _, capped, why = run_in_thread(MAX_NICE + 5)
    assert (capped, why) == (MAX_NICE, None)


@linux_only
def test_a_refusal_is_described_not_raised(monkeypatch):
    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "setpriority", refuse)
    why = lower_thread_priority(3)
    assert why is not None and "Permission denied" in why


def test_platforms_without_thread_priorities_are_left_alone(monkeypatch):
    monkeypatch.setattr("corrwise.runtime.priority.sys.platform", "darwin")
    monkeypatch.setattr(os, "setpriority", lambda *args: pytest.fail("the process priority was changed"))
    assert lower_thread_priority(15) is None


def test_io_nice_is_checked():
    for bad in (-1, MAX_NICE + 1, 2.5, True):
        with pytest.raises(InputError, match="io_nice"):
            PipelineOptions(io_nice=bad)


def watching(seen: dict[str, int], frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Identity that records the decode and encode threads' nice values while they run.

    With queues of one frame, the third output frame can only be queued after
    the encoder took the first one, so by then the encoder has set its priority;
    the decoder set its priority before it queued the first input frame.
    """
    for i, frame in enumerate(frames):
        if i == 3:
            for thread in threading.enumerate():
                if thread.name in ("corrwise-decode", "corrwise-encode"):
                    seen[thread.name] = nice_of(thread)
        yield frame


@linux_only
@pytest.mark.parametrize("io_nice", [0, 7])
def test_the_pipeline_lowers_its_io_threads(tmp_path, clip, io_nice):
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: dict[str, int] = {}
    options = PipelineOptions(queue_size=1, io_nice=io_nice, progress=False)
    with Pipeline(clip, tmp_path / "out.mp4", options) as pipe:
        report = pipe.run(lambda frames: watching(seen, frames), pipe.info.fps)
    expected = min(MAX_NICE, own + io_nice)
    assert seen == {"corrwise-decode": expected, "corrwise-encode": expected}
    assert report.warnings == ()
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own


def test_a_refused_priority_becomes_one_warning(tmp_path, clip, monkeypatch):
    monkeypatch.setattr("corrwise.runtime.pipeline.lower_thread_priority", lambda steps: "the system said no")
    with Pipeline(clip, tmp_path / "out.mp4", PipelineOptions(progress=False)) as pipe:
        report = pipe.run(lambda frames: frames, pipe.info.fps)
    assert report.warnings == ("the system said no",)
    assert report.output.is_file()
