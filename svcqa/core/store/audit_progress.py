"""The audit progress table: how far the running (or last) audit of each folder got.

The background audit writes one row per audited folder as it measures; the pages read it to
show "n of N, about t left" from any tab or after a reload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from svcqa.core.files import now_iso

if TYPE_CHECKING:
    from svcqa.core.store.database import Store


@dataclass(frozen=True)
class ProgressRow:
    """One folder's progress as written: the data and when it was written (ISO 8601)."""

    folder: str
    data: dict[str, Any]
    updated_at: str


class AuditProgressTable:
    """Accessors of the ``audit_progress`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def put(self, folder: str, data: dict[str, Any]) -> None:
        """Record ``data`` as the progress of the audit of ``folder`` (replacing the previous row)."""
        with self._store.connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO audit_progress (folder, data, updated_at) VALUES (?, ?, ?)",
                (folder, json.dumps(data), now_iso()),
            )

    def get(self, folder: str) -> ProgressRow | None:
        """Return the progress recorded for ``folder``, or None."""
        with self._store.connect() as conn:
            row = conn.execute(
                "SELECT folder, data, updated_at FROM audit_progress WHERE folder = ?", (folder,)
            ).fetchone()
        if row is None:
            return None
        return ProgressRow(folder=row["folder"], data=json.loads(row["data"]), updated_at=row["updated_at"])
