"""The renders table: one row per (checkpoint, excerpt, settings hash), a file or why there is none.

Rows are read by column name (``sqlite3.Row``); callers get :class:`RenderRecord`, never rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from svcqa.core.records import Record

if TYPE_CHECKING:
    from svcqa.core.store.database import Store

_COLUMNS = (
    "id",
    "checkpoint_sha256",
    "checkpoint_step",
    "excerpt_id",
    "settings_hash",
    "path",
    "lufs",
    "gain_db",
    "silent",
    "message",
    "error",
    "load_s",
    "decode_s",
    "device",
    "rendered_at",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM renders"


@dataclass(frozen=True)
class RenderRecord(Record):
    """One checkpoint singing one excerpt with one settings hash: a file, or why there is none.

    ``path`` is relative to the workspace; ``lufs`` is the render's integrated loudness (None
    for silence); ``message`` explains a silent render; ``error`` why it failed (then ``path``
    is None). ``cached`` is True when this call found it rendered before.

    Example
    -------
    >>> r = RenderRecord("ab12", "cd" * 32, 12000, "ef34", "0123", "renders/x.wav", -23.0, 4.1,
    ...                  False, "", None, 0.3, 1.2, "cpu", "2025-01-01T00:00:00+00:00")
    >>> r.ok, r.to_dict()["cached"]
    (True, False)
    """

    id: str
    checkpoint_sha256: str
    checkpoint_step: int
    excerpt_id: str
    settings_hash: str
    path: str | None
    lufs: float | None
    gain_db: float | None
    silent: bool
    message: str
    error: str | None
    load_s: float | None
    decode_s: float | None
    device: str
    rendered_at: str
    cached: bool = False

    @property
    def ok(self) -> bool:
        """Return True when the render has a file."""
        return self.error is None


class Renders:
    """Accessors of the ``renders`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, settings_hash: str | None = None, excerpt_id: str | None = None) -> list[RenderRecord]:
        """Return the stored renders (of one settings hash and excerpt when given), by step."""
        clauses, values = [], []
        for column, value in (("settings_hash", settings_hash), ("excerpt_id", excerpt_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._store.connect() as conn:
            rows = conn.execute(f"{_SELECT}{where} ORDER BY checkpoint_step, excerpt_id", values).fetchall()
        return [_record(row) for row in rows]

    def get(self, render_id: str) -> RenderRecord | None:
        """Return the stored render ``render_id`` (marked ``cached``), None when there is none."""
        with self._store.connect() as conn:
            row = conn.execute(f"{_SELECT} WHERE id = ?", (render_id,)).fetchone()
        return None if row is None else _record(row, cached=True)

    def put(self, record: RenderRecord, settings: Mapping[str, Any]) -> None:
        """Insert or replace ``record`` with the audio-changing ``settings`` it was made with."""
        values = {name: getattr(record, name) for name in _COLUMNS}
        values["silent"] = int(record.silent)
        values["settings"] = json.dumps(settings, sort_keys=True)
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        with self._store.connect() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO renders ({columns}) VALUES ({marks})", list(values.values())
            )

    def clear_failed(self, settings_hash: str) -> int:
        """Delete the failed renders of ``settings_hash``; return how many."""
        with self._store.connect() as conn:
            cursor = conn.execute(
                "DELETE FROM renders WHERE settings_hash = ? AND error IS NOT NULL", (settings_hash,)
            )
            return cursor.rowcount


def _record(row: sqlite3.Row, cached: bool = False) -> RenderRecord:
    values = {name: row[name] for name in _COLUMNS}
    values["silent"] = bool(values["silent"])
    return RenderRecord(**values, cached=cached)
