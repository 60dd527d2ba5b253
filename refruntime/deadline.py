"""A bound on the time of one run that no model can dodge (Options.max_seconds).

A hostile model can keep a kernel busy for ever (a corrupted loop count, a huge tree walk), and
checking the clock between nodes costs every node of every run. Instead a watchdog thread sleeps
until the deadline; if the run is still going it finds the node the running thread is executing
(by reading the executor's frames: the straight-line program's step index `i`, the loops' `step`)
and raises a LimitError naming it in that thread (PyThreadState_SetAsyncExc). Python raises an
asynchronous exception at the next bytecode, so a kernel busy inside one long C call (a numpy
ufunc, a numba loop) is stopped when that call returns; `hard_exit_after` (the CLI's choice) also
ends the process after a grace period, printing the same one-line message, for a call that never
returns.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading

from refruntime.errors import LimitError

STRAIGHT_LINE_FILE = "<refruntime straight-line plan>"
REPEAT = 0.5  # seconds between two raises while the run has not stopped


class TimedOut(LimitError):
    """Raised asynchronously in the running thread; Session.run turns it into a LimitError with the
    message the watchdog prepared (an async exception can only be a class)."""

    message = ""


class Watchdog:
    """Context manager: raise TimedOut in this thread when `seconds` pass before the block ends."""

    def __init__(self, seconds: float | None, hard_exit_after: float | None = None):
        self.seconds, self.hard_exit_after = seconds, hard_exit_after
        self.thread_id = threading.get_ident()
        self.message = ""
        self._done = threading.Event()
        self._timer: threading.Thread | None = None

    def __enter__(self):
        if self.seconds is not None:
            self._timer = threading.Thread(target=self._watch, name="refruntime-deadline", daemon=True)
            self._timer.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        return False

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        self.message = (f"the run took longer than max_seconds={self.seconds:g} s; it was running "
                        f"{running_node(self.thread_id)}")
        error = type("TimedOut", (TimedOut,), {"message": self.message})
        waited = 0.0
        while not self._done.is_set():  # again and again: a broad `except` in a kernel may swallow one
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), ctypes.py_object(error))
            if self._done.wait(REPEAT):
                return
            waited += REPEAT
            if self.hard_exit_after is not None and waited >= self.hard_exit_after:
                break
        if not self._done.is_set():
            sys.stderr.write(f"graphkit: LimitError: {self.message} (stopped the process: the node did not "
                             "return)\n")
            sys.stderr.flush()
            os._exit(2)


def running_node(thread_id: int) -> str:
    """'node X (Op)' being executed by thread `thread_id`, innermost first (subgraphs), or a
    description of where the thread is."""
    frame = sys._current_frames().get(thread_id)
    found = []
    while frame is not None:
        label = _step_of(frame)
        if label:
            found.append(label)
        frame = frame.f_back
    if not found:
        return "outside any node (planning or feeds)"
    text = found[0]
    if len(found) > 1:
        text += " inside " + " inside ".join(found[1:])
    return text


def _step_of(frame) -> str | None:
    code = frame.f_code
    step = None
    if code.co_filename == STRAIGHT_LINE_FILE:
        steps = frame.f_globals.get("STEPS")
        i = frame.f_locals.get("i")
        if steps is not None and isinstance(i, int) and 0 <= i < len(steps):
            step = steps[i]
    elif code.co_name in ("_loop_program", "_execute") and code.co_filename.endswith("executor.py"):
        step = frame.f_locals.get("step")
    if step is None or not hasattr(step, "node"):
        return None
    return f"node {step.label!r} ({step.node.op_type})"
