"""The checkpoint registry table (``checkpoints``): every generator checkpoint ever registered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from svcqa.core.records import Record

if TYPE_CHECKING:
    import sqlite3

    from svcqa.core.store.database import Store

_COLUMNS = "path, step, step_derived, size_bytes, sha256, registered_at, archived_path"


@dataclass(frozen=True)
class Checkpoint(Record):
    """A registered generator checkpoint."""

    path: Path
    step: int
    step_derived: bool
    """True when the step was computed (epoch x steps per epoch) rather than read from the name."""
    size_bytes: int
    sha256: str
    registered_at: str
    """ISO 8601 time of registration."""
    archived_path: Path | None

    @property
    def available_path(self) -> Path | None:
        """Return a path that still holds the file: the original, else the archived copy."""
        if self.path.exists():
            return self.path
        if self.archived_path and self.archived_path.exists():
            return self.archived_path
        return None


class Checkpoints:
    """Accessors of the ``checkpoints`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, path: Path) -> Checkpoint | None:
        """Return the record registered at ``path`` (absolute), None when there is none."""
        with self._store.connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM checkpoints WHERE path = ?", (str(path),)).fetchone()
        return _checkpoint(row) if row else None

    def register(
        self, record: Checkpoint, replaced: Checkpoint | None = None, kept_at: Path | None = None
    ) -> None:
        """Store ``record``, in one transaction with retiring the record it ``replaced`` at its path.

        The replaced record moves to ``kept_at`` (the archived copy still holding its content);
        without ``kept_at`` it is dropped (its content is gone everywhere).
        """
        with self._store.connect() as conn:
            if replaced is not None and kept_at is not None:
                conn.execute(
                    "UPDATE checkpoints SET path = ? WHERE path = ?", (str(kept_at), str(replaced.path))
                )
            elif replaced is not None:
                conn.execute("DELETE FROM checkpoints WHERE path = ?", (str(replaced.path),))
            conn.execute(
                f"INSERT OR REPLACE INTO checkpoints ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(record.path),
                    record.step,
                    int(record.step_derived),
                    record.size_bytes,
                    record.sha256,
                    record.registered_at,
                    str(record.archived_path) if record.archived_path else None,
                ),
            )

    def by_step(self, min_step: int = 0) -> list[Checkpoint]:
        """Return every record at or past ``min_step``, by step then registration time."""
        with self._store.connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM checkpoints WHERE step >= ? ORDER BY step, registered_at",
                (min_step,),
            ).fetchall()
        return [_checkpoint(row) for row in rows]

    def forget_archived(self, sha256: str) -> None:
        """Record that the archived copies of the checkpoint with ``sha256`` are gone."""
        with self._store.connect() as conn:
            conn.execute("UPDATE checkpoints SET archived_path = NULL WHERE sha256 = ?", (sha256,))


def _checkpoint(row: sqlite3.Row) -> Checkpoint:
    return Checkpoint(
        path=Path(row["path"]),
        step=int(row["step"]),
        step_derived=bool(row["step_derived"]),
        size_bytes=int(row["size_bytes"]),
        sha256=row["sha256"],
        registered_at=row["registered_at"],
        archived_path=Path(row["archived_path"]) if row["archived_path"] else None,
    )
