"""The audit cache table: one row of measurements per audio file, keyed by its path.

Rows are read by column name (``sqlite3.Row``); callers get plain Python values, never rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svcqa.core.store.database import Store

_BATCH_ROWS = 500
"""Keys per ``IN (...)`` query: well under SQLite's bound-parameter limit."""


@dataclass(frozen=True)
class CachedMeasurement:
    """What the cache holds for one file: its size and mtime when measured, and the data."""

    key: str
    size_bytes: int
    mtime_ns: int
    measure_key: str
    data: dict[str, Any]


class AuditCache:
    """Accessors of the ``audit_cache`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get_many(self, keys: list[str], measure_key: str) -> dict[str, CachedMeasurement]:
        """Return the cached rows made with ``measure_key`` for those of ``keys`` that have one."""
        found: dict[str, CachedMeasurement] = {}
        with self._store.connect() as conn:
            for start in range(0, len(keys), _BATCH_ROWS):
                batch = keys[start : start + _BATCH_ROWS]
                marks = ",".join("?" * len(batch))
                rows = conn.execute(
                    f"SELECT key, size_bytes, mtime_ns, data FROM audit_cache "
                    f"WHERE measure_key = ? AND key IN ({marks})",
                    [measure_key, *batch],
                )
                for row in rows:
                    found[row["key"]] = CachedMeasurement(
                        key=row["key"],
                        size_bytes=row["size_bytes"],
                        mtime_ns=row["mtime_ns"],
                        measure_key=measure_key,
                        data=json.loads(row["data"]),
                    )
        return found

    def put_many(self, rows: Iterable[CachedMeasurement]) -> None:
        """Insert or replace the given rows in one transaction."""
        with self._store.connect() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO audit_cache (key, size_bytes, mtime_ns, measure_key, data) "
                "VALUES (?, ?, ?, ?, ?)",
                [(r.key, r.size_bytes, r.mtime_ns, r.measure_key, json.dumps(r.data)) for r in rows],
            )
