"""The excerpts table: every excerpt ever chosen for rendering, and whether it still is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

    from svcqa.core.store.database import Store


@dataclass(frozen=True)
class ExcerptRow:
    """A stored excerpt: a window of a song (path relative to the workspace) and its content hash."""

    id: str
    song: str
    start_s: float
    end_s: float
    song_sha256: str
    label: str


class Excerpts:
    """Accessors of the ``excerpts`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def choose(self, excerpt: ExcerptRow, chosen_at: str) -> None:
        """Store ``excerpt`` as chosen (again), at ISO time ``chosen_at``."""
        with self._store.connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO excerpts (id, song, start_s, end_s, song_sha256, label, chosen, chosen_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    excerpt.id,
                    excerpt.song,
                    excerpt.start_s,
                    excerpt.end_s,
                    excerpt.song_sha256,
                    excerpt.label,
                    chosen_at,
                ),
            )

    def unchoose(self, excerpt_id: str) -> None:
        """Mark excerpt ``excerpt_id`` not chosen (its row stays)."""
        with self._store.connect() as conn:
            conn.execute("UPDATE excerpts SET chosen = 0 WHERE id = ?", (excerpt_id,))

    def chosen(self) -> list[ExcerptRow]:
        """Return the chosen excerpts, oldest choice first."""
        with self._store.connect() as conn:
            rows = conn.execute(
                "SELECT id, song, start_s, end_s, song_sha256, label FROM excerpts WHERE chosen = 1 "
                "ORDER BY chosen_at, id"
            ).fetchall()
        return [_excerpt(row) for row in rows]

    def known(self) -> list[ExcerptRow]:
        """Return every excerpt ever chosen (also those no longer chosen)."""
        with self._store.connect() as conn:
            rows = conn.execute(
                "SELECT id, song, start_s, end_s, song_sha256, label FROM excerpts"
            ).fetchall()
        return [_excerpt(row) for row in rows]


def _excerpt(row: sqlite3.Row) -> ExcerptRow:
    return ExcerptRow(
        id=row["id"],
        song=row["song"],
        start_s=row["start_s"],
        end_s=row["end_s"],
        song_sha256=row["song_sha256"],
        label=row["label"],
    )
