"""Live processes by process group or session, from /proc (Linux)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def live_processes(*, group: int | None = None, session: int | None = None) -> list[int]:
    """Pids of live (not zombie) processes in that process group or session."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z":
            continue
        if (group is not None and int(fields[2]) == group) or (session is not None and int(fields[3]) == session):
            pids.append(int(entry.name))
    return pids


def seconds_until_gone(*, limit: float, group: int | None = None, session: int | None = None) -> float | None:
    """Seconds until no process of the group (or session) is left; None if some are after `limit`."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if not live_processes(group=group, session=session):
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def kill_all(*, group: int | None = None, session: int | None = None) -> None:
    for pid in live_processes(group=group, session=session):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
