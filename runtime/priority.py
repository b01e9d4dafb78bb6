"""Lower the scheduling priority of the calling thread (Linux), so inference keeps the cores.

On a small machine the decode and encode threads of a video pipeline share
the cores with the inference threads. Inference is the bottleneck, and the
scheduler does not know it: a decode or encode burst that preempts one of
ONNX Runtime's intra-op threads stalls the whole model call until that thread
runs again. A higher nice value for the two I/O threads lets them run in the
gaps instead. Linux keeps a nice value per thread; elsewhere ``setpriority``
would change the whole process, so nothing is done there.
"""

from __future__ import annotations

import os
import sys
import threading

MAX_NICE = 19  # the lowest priority Linux has


def thread_niceness_supported() -> bool:
    """Whether this platform keeps a nice value per thread (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "setpriority")


def lower_thread_priority(steps: int) -> str | None:
    """Raise the calling thread's nice value by ``steps`` (0..19, capped at 19).

    Returns None when done, when ``steps`` is 0, or on a platform without
    per-thread nice values (the threads then simply keep their priority: this is
    a speed-up, not a promise); otherwise why the system refused. Never raises.
    """
    if steps == 0 or not thread_niceness_supported():
        return None
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(MAX_NICE, current + steps))
    except OSError as err:
        return f"could not lower the priority of thread {threading.current_thread().name}: {err}"
    return None
