"""The render metrics cache (``render_metrics``): one JSON of measurements per render and key.

It also reads what a measurement depends on from ``renders``: the settings each render was made
with (the render worker writes that table).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svcqa.core.store.database import Store

_BATCH_ROWS = 500
"""Keys per ``IN (...)`` query: well under SQLite's bound-parameter limit."""


class RenderMetricsCache:
    """Accessors of the ``render_metrics`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get_many(self, render_ids: Sequence[str], metrics_key: str) -> dict[str, dict[str, Any]]:
        """Return render id -> stored data for those of ``render_ids`` measured with ``metrics_key``."""
        found: dict[str, dict[str, Any]] = {}
        with self._store.connect() as conn:
            for start in range(0, len(render_ids), _BATCH_ROWS):
                batch = list(render_ids[start : start + _BATCH_ROWS])
                rows = conn.execute(
                    f"SELECT render_id, data FROM render_metrics WHERE metrics_key = ? "
                    f"AND render_id IN ({','.join('?' * len(batch))})",
                    [metrics_key, *batch],
                )
                found.update((row["render_id"], json.loads(row["data"])) for row in rows)
        return found

    def put(self, render_id: str, metrics_key: str, data: dict[str, Any], computed_at: float) -> None:
        """Store (or replace) the data of one render measured with ``metrics_key``."""
        with self._store.connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO render_metrics (render_id, metrics_key, data, computed_at) "
                "VALUES (?, ?, ?, ?)",
                (render_id, metrics_key, json.dumps(data), computed_at),
            )

    def render_settings(self, render_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return render id -> the settings it was rendered with, for the known ones of ``render_ids``."""
        found: dict[str, dict[str, Any]] = {}
        with self._store.connect() as conn:
            for start in range(0, len(render_ids), _BATCH_ROWS):
                batch = list(render_ids[start : start + _BATCH_ROWS])
                rows = conn.execute(
                    f"SELECT id, settings FROM renders WHERE id IN ({','.join('?' * len(batch))})", batch
                )
                found.update((row["id"], json.loads(row["settings"])) for row in rows)
        return found
