"""Count a process's SQL queries and the rows it writes; write them as JSON when it exits.

Loaded by bench/settings.py only when BALKAN_PD_BENCH_STATS is set. Every statement on every
database connection passes through an execute wrapper: one query each (savepoints and
BEGIN included, as django_assert_num_queries counts them), and for INSERT/UPDATE/DELETE the
statements and the rows they wrote, by table.

Rows written: PostgreSQL reports them in the cursor's rowcount. SQLite reports 0 for an
INSERT … RETURNING (bulk_create) until its rows are read, which Django does after the
wrapper returns; so on SQLite a statement's rows are the connection's total_changes delta,
read when the next statement starts (or at once for statements without RETURNING).
"""

from __future__ import annotations

import atexit
import json
import re
import resource
from collections import Counter

WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


class StatementCounter:
    def __init__(self):
        self.queries = 0
        self.rows_written: Counter[str] = Counter()
        self.writes_by_table: Counter[str] = Counter()  # INSERT/UPDATE/DELETE statements
        self._pending: tuple[object, str, int] | None = None  # SQLite: (raw connection, table, changes before)

    def __call__(self, execute, sql, params, many, context):
        self.settle()
        self.queries += 1
        match = WRITE.match(sql)
        raw = getattr(context["connection"], "connection", None)
        sqlite = context["connection"].vendor == "sqlite"
        before = raw.total_changes if sqlite and match else 0
        result = execute(sql, params, many, context)
        if match:
            table = match.group(1)
            self.writes_by_table[table] += 1
            if not sqlite:
                self.rows_written[table] += max(context["cursor"].rowcount, 0)
            elif " RETURNING " in sql.upper():
                self._pending = (raw, table, before)
            else:
                self.rows_written[table] += raw.total_changes - before
        return result

    def settle(self) -> None:
        """Count the rows of a deferred SQLite INSERT … RETURNING (read by now)."""
        if self._pending is not None:
            raw, table, before = self._pending
            self._pending = None
            self.rows_written[table] += raw.total_changes - before


COUNTER = StatementCounter()


def _wrap(sender, connection, **kwargs) -> None:
    if COUNTER not in connection.execute_wrappers:
        connection.execute_wrappers.append(COUNTER)


def install(*, path: str) -> None:
    from django.db.backends.signals import connection_created

    connection_created.connect(_wrap, weak=False)
    atexit.register(_write, path)


def _peak_rss_kb() -> int:
    """This process's own peak RSS: VmHWM, the high-water mark of its memory since exec.

    Not getrusage's ru_maxrss: on Linux a child inherits its parent's peak RSS at fork and
    keeps it through exec, so it would report the bench's own size (its fake PagerDuty holds
    50,000 users) instead of the sync's.
    """
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _write(path: str) -> None:
    try:
        COUNTER.settle()
    except Exception:  # the connection is closed: nothing was pending that matters
        pass
    with open(path, "w") as out:
        json.dump(
            {
                "queries": COUNTER.queries,
                "rows_written": sum(COUNTER.rows_written.values()),
                "rows_written_by_table": dict(COUNTER.rows_written),
                "writes_by_table": dict(COUNTER.writes_by_table),
                "peak_rss_kb": _peak_rss_kb(),
            },
            out,
        )
