"""The bench's own database: a SQLite file in its temporary directory, or a dedicated
PostgreSQL database (bench_balkan_pd, or BENCH_DATABASE_NAME: two benches on one server need
two names; or the name a scenario asks for) created on the server DATABASE_URL names, and
dropped."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DATABASE = os.environ.get("BENCH_DATABASE_NAME") or "bench_balkan_pd"
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", BENCH_DATABASE):
    raise SystemExit(f"BENCH_DATABASE_NAME must be a plain lower-case name, not {BENCH_DATABASE!r}")


@dataclass
class BenchDatabase:
    url: str
    vendor: str
    name: str = BENCH_DATABASE  # PostgreSQL: the database created, and dropped
    _admin_url: str = ""  # PostgreSQL: the maintenance database used to create and drop ours

    @classmethod
    def create(cls, *, server_url: str | None, workdir: Path, name: str = BENCH_DATABASE) -> BenchDatabase:
        if not server_url or server_url.startswith("sqlite"):
            return cls(url=f"sqlite:///{workdir / 'bench.sqlite3'}", vendor="sqlite")
        parts = urlsplit(server_url)
        if parts.scheme not in ("postgres", "postgresql", "pgsql"):
            raise SystemExit(f"make bench supports SQLite and PostgreSQL, not {parts.scheme}")
        database = cls(
            url=urlunsplit(parts._replace(path=f"/{name}")),
            vendor="postgresql",
            name=name,
            _admin_url=urlunsplit(parts._replace(scheme="postgresql", path="/postgres")),
        )
        database._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # left by a killed run
        database._execute(f'CREATE DATABASE "{name}"')
        return database

    def drop(self) -> None:
        if self.vendor == "postgresql":
            self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self._admin_url, autocommit=True) as connection:
            connection.execute(sql)
