"""A time limit for a test step: a regression that would hang fails instead."""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager


class Hung(AssertionError):
    pass


@contextmanager
def bounded(seconds: float):
    """Raise Hung in the main thread if the block runs longer than `seconds`; yields a clock
    whose `elapsed()` is the time spent so far."""

    def expire(signum, frame):
        raise Hung(f"still running after {seconds} s: it would hang")

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield lambda: time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
