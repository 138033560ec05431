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

from svcqa.errors import WorkspaceError

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
    """
    CREATE TABLE listen_listeners (
        name TEXT PRIMARY KEY,
        joined_at REAL NOT NULL
    );
    CREATE TABLE listen_pairs (
        id TEXT PRIMARY KEY,
        listener TEXT NOT NULL REFERENCES listen_listeners(name),
        excerpt_id TEXT NOT NULL,
        render_a TEXT NOT NULL,
        render_b TEXT NOT NULL,
        sha256_a TEXT NOT NULL,
        sha256_b TEXT NOT NULL,
        repeat_of TEXT REFERENCES listen_pairs(id),
        created_at REAL NOT NULL
    );
    CREATE INDEX listen_pairs_listener ON listen_pairs(listener);
    CREATE TABLE listen_votes (
        pair_id TEXT PRIMARY KEY REFERENCES listen_pairs(id),
        listener TEXT NOT NULL,
        choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'same')),
        tags TEXT NOT NULL,
        voted_at REAL NOT NULL
    );
    CREATE TABLE listen_trials (
        id TEXT PRIMARY KEY,
        listener TEXT NOT NULL REFERENCES listen_listeners(name),
        excerpt_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE listen_trial_items (
        trial_id TEXT NOT NULL REFERENCES listen_trials(id),
        letter TEXT NOT NULL,
        render_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        is_duplicate INTEGER NOT NULL,
        PRIMARY KEY (trial_id, letter)
    );
    CREATE TABLE listen_ratings (
        trial_id TEXT NOT NULL,
        letter TEXT NOT NULL,
        listener TEXT NOT NULL,
        score REAL NOT NULL CHECK (score BETWEEN 0 AND 100),
        rated_at REAL NOT NULL,
        PRIMARY KEY (trial_id, letter),
        FOREIGN KEY (trial_id, letter) REFERENCES listen_trial_items(trial_id, letter)
    );
    CREATE TABLE listen_reveal (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        revealed_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE checkpoints (
        path TEXT PRIMARY KEY,
        step INTEGER NOT NULL,
        step_derived INTEGER NOT NULL,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        archived_path TEXT
    );
    CREATE INDEX checkpoints_step ON checkpoints (step);
    CREATE INDEX checkpoints_sha ON checkpoints (sha256);
    """,
    """
    CREATE TABLE excerpts (
        id TEXT PRIMARY KEY,
        song TEXT NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        song_sha256 TEXT NOT NULL,
        label TEXT NOT NULL,
        chosen INTEGER NOT NULL,
        chosen_at TEXT NOT NULL
    );
    CREATE TABLE renders (
        id TEXT PRIMARY KEY,
        checkpoint_sha256 TEXT NOT NULL,
        checkpoint_step INTEGER NOT NULL,
        excerpt_id TEXT NOT NULL,
        settings_hash TEXT NOT NULL,
        settings TEXT NOT NULL,
        path TEXT,
        lufs REAL,
        gain_db REAL,
        silent INTEGER NOT NULL,
        message TEXT NOT NULL,
        error TEXT,
        load_s REAL,
        decode_s REAL,
        device TEXT NOT NULL,
        rendered_at TEXT NOT NULL
    );
    CREATE INDEX renders_settings ON renders (settings_hash, excerpt_id);
    """,
    """
    CREATE TABLE render_metrics (
        render_id TEXT NOT NULL,
        metrics_key TEXT NOT NULL,
        data TEXT NOT NULL,
        computed_at REAL NOT NULL,
        PRIMARY KEY (render_id, metrics_key)
    );
    CREATE TABLE listen_shortlist (
        checkpoint_sha256 TEXT PRIMARY KEY,
        chosen_at REAL NOT NULL
    );
    CREATE TABLE listen_invites (
        id TEXT PRIMARY KEY,
        token_sha256 TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    """,
)

_FILE_ERRORS = frozenset(
    {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY}
)
"""Primary SQLite result codes that mean the file, not the query, is the problem."""


class Store:
    """A handle on ``state.sqlite``; cheap to create, opens a connection per operation."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            _migrate(conn)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """Yield a connection inside one transaction (committed on success, rolled back on error).

        Raises :class:`WorkspaceError` when the file cannot be read or written (a full disk, no
        permission); the transaction is then rolled back and what was committed before is kept.
        """
        try:
            with self._transaction() as conn:
                yield conn
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code is None or code & 0xFF not in _FILE_ERRORS:
                raise
            raise WorkspaceError(
                f"The workspace database {self.path} cannot be used ({exc}). Free disk space (or make "
                "the folder writable) and try again; what was saved before is intact."
            ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                # After some errors (a full disk) SQLite has rolled back already.
                if conn.in_transaction:
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
