"""The workspace database: one SQLite file in WAL mode, its schema, and small accessors.

Every connection is short-lived and every write is one transaction, so a process killed
mid-write leaves the previous state intact and several processes (the server, background
jobs, a friend's browser session) can share the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE audit_cache (
        key TEXT PRIMARY KEY,
        size_bytes INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        measure_key TEXT NOT NULL,
        data TEXT NOT NULL
    );
    """,
)


class Store:
    """A handle on ``state.sqlite``; cheap to create, opens a connection per operation."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            _migrate(conn)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """Yield a connection inside one transaction (committed on success, rolled back on error)."""
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    # -- audit cache --------------------------------------------------------------------
    def cached_measurements(
        self, keys: list[str], measure_key: str
    ) -> dict[str, tuple[int, int, dict[str, Any]]]:
        """Return ``{key: (size_bytes, mtime_ns, data)}`` for cached rows made with ``measure_key``."""
        found: dict[str, tuple[int, int, dict[str, Any]]] = {}
        with self.connect() as conn:
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                marks = ",".join("?" * len(batch))
                rows = conn.execute(
                    f"SELECT key, size_bytes, mtime_ns, data FROM audit_cache "
                    f"WHERE measure_key = ? AND key IN ({marks})",
                    [measure_key, *batch],
                )
                for key, size, mtime, data in rows:
                    found[key] = (size, mtime, json.loads(data))
        return found

    def put_measurements(self, rows: Iterable[tuple[str, int, int, str, dict[str, Any]]]) -> None:
        """Insert or replace ``(key, size_bytes, mtime_ns, measure_key, data)`` rows."""
        with self.connect() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO audit_cache VALUES (?, ?, ?, ?, ?)",
                [(k, s, m, mk, json.dumps(d)) for k, s, m, mk, d in rows],
            )


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this database has not seen yet."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
