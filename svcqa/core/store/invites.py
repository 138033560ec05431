"""The vote-only invitations table (``listen_invites``): only each token's sha256 is stored.

Timestamps are Unix seconds (REAL), as the table was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from svcqa.core.records import Record, to_dict

if TYPE_CHECKING:
    import sqlite3

    from svcqa.core.store.database import Store


@dataclass(frozen=True)
class Invite(Record):
    """A vote-only invitation; the token itself is never stored."""

    id: str
    label: str
    created_at: float
    """Unix time in seconds."""
    revoked_at: float | None

    @property
    def revoked(self) -> bool:
        """Return True once the invitation was revoked."""
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (with ``revoked``)."""
        return {**to_dict(self), "revoked": self.revoked}


@dataclass(frozen=True)
class OpenInvite:
    """An invitation not revoked, with the sha256 (hex) of its token."""

    invite: Invite
    token_sha256: str


class Invites:
    """Accessors of the ``listen_invites`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, invite: Invite, token_sha256: str) -> None:
        """Store a new invitation with its token's hash."""
        with self._store.connect() as conn:
            conn.execute(
                "INSERT INTO listen_invites (id, token_sha256, label, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)",
                (invite.id, token_sha256, invite.label, invite.created_at, invite.revoked_at),
            )

    def all_invites(self) -> list[Invite]:
        """Return every invitation, newest first (revoked ones included)."""
        with self._store.connect() as conn:
            rows = conn.execute(
                "SELECT id, label, created_at, revoked_at FROM listen_invites ORDER BY created_at DESC, id"
            ).fetchall()
        return [_invite(row) for row in rows]

    def open_invites(self) -> list[OpenInvite]:
        """Return the invitations not revoked, each with its token's hash."""
        with self._store.connect() as conn:
            rows = conn.execute(
                "SELECT id, label, created_at, revoked_at, token_sha256 FROM listen_invites WHERE revoked_at IS NULL"
            ).fetchall()
        return [OpenInvite(_invite(row), row["token_sha256"]) for row in rows]

    def is_open(self, invite_id: str) -> bool:
        """Return True when invitation ``invite_id`` exists and was not revoked."""
        with self._store.connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM listen_invites WHERE id = ? AND revoked_at IS NULL", (invite_id,)
            ).fetchone()
        return row is not None

    def revoke(self, invite_id: str, revoked_at: float) -> Invite | None:
        """Revoke invitation ``invite_id`` unless it was already; return it, None when unknown."""
        with self._store.connect() as conn:
            conn.execute(
                "UPDATE listen_invites SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (revoked_at, invite_id),
            )
            row = conn.execute(
                "SELECT id, label, created_at, revoked_at FROM listen_invites WHERE id = ?", (invite_id,)
            ).fetchone()
        return _invite(row) if row else None


def _invite(row: sqlite3.Row) -> Invite:
    return Invite(
        id=row["id"], label=row["label"], created_at=row["created_at"], revoked_at=row["revoked_at"]
    )
