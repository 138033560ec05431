"""The ``login_failures`` table: failed password (and listening-link) attempts per client.

One row per client key; times are Unix seconds (REAL). Every attempt is claimed in one
``BEGIN IMMEDIATE`` transaction, so attempts sent at the same moment are counted one after
the other and none slips past a wait (:meth:`LoginFailures.claim`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from svcqa.core.records import Record

if TYPE_CHECKING:
    import sqlite3

    from svcqa.core.store.database import Store


@dataclass(frozen=True)
class LoginFailure(Record):
    """The failed attempts of one client."""

    client: str
    failures: int
    next_try_at: float
    """Unix time before which the client's next attempt is refused unchecked."""
    last_failure_at: float


class LoginFailures:
    """Accessors of the ``login_failures`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def claim(
        self, client: str, clock: Callable[[], float], forget_s: float, wait_after_s: Callable[[int], float]
    ) -> float:
        """Count an attempt of ``client`` as failed until :meth:`clear` says otherwise; return 0.0,
        or the seconds it must still wait (the attempt is then refused and not counted).

        ``clock`` (Unix seconds) is read inside the transaction, so a claim that waited for
        another sees the time after it. Failures older than ``forget_s`` are forgotten;
        ``wait_after_s(n)`` is the wait after the ``n``-th failure in a row.
        """
        with self._store.connect() as conn:
            now = clock()
            conn.execute("DELETE FROM login_failures WHERE last_failure_at <= ?", (now - forget_s,))
            row = conn.execute(
                "SELECT client, failures, next_try_at, last_failure_at FROM login_failures WHERE client = ?",
                (client,),
            ).fetchone()
            previous = _failure(row) if row else None
            if previous is not None and now < previous.next_try_at:
                return previous.next_try_at - now
            failures = (previous.failures if previous else 0) + 1
            conn.execute(
                "INSERT INTO login_failures (client, failures, next_try_at, last_failure_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (client) DO UPDATE SET failures = excluded.failures, "
                "next_try_at = excluded.next_try_at, last_failure_at = excluded.last_failure_at",
                (client, failures, now + wait_after_s(failures), now),
            )
        return 0.0

    def clear(self, client: str) -> None:
        """Forget the failures of ``client`` (its attempt succeeded)."""
        with self._store.connect() as conn:
            conn.execute("DELETE FROM login_failures WHERE client = ?", (client,))

    def clear_all(self) -> list[LoginFailure]:
        """Forget every client's failures; return what was forgotten."""
        with self._store.connect() as conn:
            rows = conn.execute(
                "SELECT client, failures, next_try_at, last_failure_at FROM login_failures ORDER BY client"
            ).fetchall()
            conn.execute("DELETE FROM login_failures")
        return [_failure(row) for row in rows]


def _failure(row: sqlite3.Row) -> LoginFailure:
    return LoginFailure(
        client=row["client"],
        failures=row["failures"],
        next_try_at=row["next_try_at"],
        last_failure_at=row["last_failure_at"],
    )
