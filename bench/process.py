"""Run one measured process: wall time from spawn to exit, and what bench/stats.py counted in it
(SQL queries, rows written, its own peak RSS)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Measured:
    seconds: float  # spawn to exit
    returncode: int
    output: str
    stats: dict = field(default_factory=dict)  # queries, rows_written… (bench/stats.py)
    requests: int = 0  # to the fake PagerDuty, when the caller counted them

    @property
    def peak_rss_mb(self) -> float:
        """Of this process alone (bench/stats.py reads its VmHWM as it exits)."""
        return self.stats["peak_rss_kb"] / 1024

    @property
    def queries(self) -> int:
        return self.stats["queries"]

    @property
    def rows_written(self) -> int:
        return self.stats["rows_written"]

    def rows_written_to(self, table: str) -> int:
        return self.stats["rows_written_by_table"].get(table, 0)

    def writes_to(self, table: str) -> int:
        """INSERT/UPDATE/DELETE statements on `table`."""
        return self.stats["writes_by_table"].get(table, 0)


class ProcessFailed(Exception):
    pass


def run_measured(argv: list[str], *, env: dict[str, str], workdir: Path, name: str, timeout: float) -> Measured:
    """Run `python argv…` from the project directory with the bench settings and the stats hook."""
    stats_path = workdir / f"{name}.stats.json"
    log_path = workdir / f"{name}.log"
    stats_path.unlink(missing_ok=True)
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings", "BALKAN_PD_BENCH_STATS": str(stats_path)}
    with open(log_path, "w+") as log:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        # A bounded bench: a hung process is killed (and reported). A timer rather than
        # wait(timeout=), which polls and would add up to 50 ms to the time measured.
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            process.wait()
        finally:
            killer.cancel()
        seconds = time.perf_counter() - started
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        raise ProcessFailed(f"{name} exited with {process.returncode}:\n{output[-3000:]}")
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    return Measured(
        seconds=seconds,
        returncode=process.returncode,
        output=output,
        stats=stats,
    )
