"""The workspace database: one SQLite file in WAL mode; every SQL statement of svcqa lives in
this package (``svcqa.core.store``), in one accessor class per group of tables.

Every connection is short-lived and every write is one transaction, so a process killed
mid-write leaves the previous state intact and several processes (the server, background
jobs, a friend's browser session) can share the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from svcqa.core.errors import WorkspaceError
from svcqa.core.store.audit_cache import AuditCache
from svcqa.core.store.audit_progress import AuditProgressTable
from svcqa.core.store.checkpoints import Checkpoints
from svcqa.core.store.excerpts import Excerpts
from svcqa.core.store.invites import Invites
from svcqa.core.store.listen import ListenTables
from svcqa.core.store.login_failures import LoginFailures
from svcqa.core.store.metrics import RenderMetricsCache
from svcqa.core.store.migrations import migrate
from svcqa.core.store.renders import Renders

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
            migrate(conn)

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
        conn.row_factory = sqlite3.Row
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

    # -- table groups: one accessor class per group, in its own module ----------------
    @cached_property
    def audit_cache(self) -> AuditCache:
        """The audit's per-file measurement cache."""
        return AuditCache(self)

    @cached_property
    def audit_progress(self) -> AuditProgressTable:
        """How far the running (or last) audit of each folder got."""
        return AuditProgressTable(self)

    @cached_property
    def checkpoints(self) -> Checkpoints:
        """The checkpoint registry."""
        return Checkpoints(self)

    @cached_property
    def excerpts(self) -> Excerpts:
        """The excerpts chosen for rendering."""
        return Excerpts(self)

    @cached_property
    def invites(self) -> Invites:
        """The blind test's vote-only invitations."""
        return Invites(self)

    @cached_property
    def listen(self) -> ListenTables:
        """The blind test: listeners, pairs, votes, trials, ratings, reveal and shortlist."""
        return ListenTables(self)

    @cached_property
    def login_failures(self) -> LoginFailures:
        """Failed password and listening-link attempts per client (the login's growing waits)."""
        return LoginFailures(self)

    @cached_property
    def render_metrics(self) -> RenderMetricsCache:
        """The per-render objective metrics cache."""
        return RenderMetricsCache(self)

    @cached_property
    def renders(self) -> Renders:
        """Every checkpoint's renders of the chosen excerpts."""
        return Renders(self)
