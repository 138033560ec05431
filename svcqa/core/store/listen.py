"""The blind test's tables: listeners, pairs and votes, trials, their items and ratings, the
reveal flag and the shortlist (``listen_*``).

Timestamps here are Unix seconds (REAL), as the tables were made. Rows are read by column name
(``sqlite3.Row``); callers get the frozen dataclasses below, never rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from svcqa.core.records import Record

if TYPE_CHECKING:
    import sqlite3

    from svcqa.core.store.database import Store


@dataclass(frozen=True)
class PairRow:
    """A pair given to a listener: two renders of one excerpt, sides A and B."""

    id: str
    listener: str
    excerpt_id: str
    render_a: str
    render_b: str
    sha256_a: str
    sha256_b: str
    repeat_of: str | None
    """The earlier pair this one repeats with sides swapped; None for a fresh pair."""
    created_at: float


@dataclass(frozen=True)
class VotedPair:
    """A pair with its vote."""

    id: str
    listener: str
    render_a: str
    render_b: str
    sha256_a: str
    sha256_b: str
    repeat_of: str | None
    choice: str

    def winner(self) -> str:
        """Return the render chosen, or ``same``."""
        return {"A": self.render_a, "B": self.render_b}.get(self.choice, "same")


@dataclass(frozen=True)
class Vote(Record):
    """A stored vote."""

    pair_id: str
    listener: str
    choice: str
    tags: tuple[str, ...]
    voted_at: float
    """Unix time in seconds."""


@dataclass(frozen=True)
class TrialItem:
    """One letter of a rating trial: the render it plays; ``is_duplicate`` marks the hidden copy."""

    letter: str
    render_id: str
    sha256: str
    is_duplicate: bool


@dataclass(frozen=True)
class RatingRow:
    """One score of a rated trial, with the checkpoint the letter played."""

    trial_id: str
    listener: str
    sha256: str
    is_duplicate: bool
    score: float


@dataclass(frozen=True)
class ListenState:
    """Everything the results are computed from, read in one transaction."""

    voted: tuple[VotedPair, ...]
    """Every voted pair, in voting order."""
    ratings: tuple[RatingRow, ...]
    """Every rating, in rating order."""
    listeners: tuple[str, ...]
    """Every listener's name, sorted."""
    revealed: bool


PairChooser = Callable[[list[VotedPair], set[str]], PairRow]
"""Given every voted pair and the ids of the pairs the listener repeated, return the new pair."""


class ListenTables:
    """Accessors of the ``listen_*`` tables."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- listeners and pairs ---------------------------------------------------------------
    def join(self, listener: str, joined_at: float) -> None:
        """Record ``listener`` (once; a known name keeps its first time)."""
        with self._store.connect() as conn:
            _join(conn, listener, joined_at)

    def add_pair(self, listener: str, choose: PairChooser, joined_at: float) -> PairRow:
        """Record ``listener`` and the pair ``choose`` returns, in one transaction; return the pair.

        ``choose`` runs inside the transaction, so two tabs of one listener cannot both repeat
        the same earlier pair. When it raises, nothing is written.
        """
        with self._store.connect() as conn:
            _join(conn, listener, joined_at)
            repeated = {
                row["repeat_of"]
                for row in conn.execute(
                    "SELECT repeat_of FROM listen_pairs WHERE listener = ? AND repeat_of IS NOT NULL",
                    (listener,),
                )
            }
            pair = choose(_voted_pairs(conn), repeated)
            conn.execute(
                "INSERT INTO listen_pairs (id, listener, excerpt_id, render_a, render_b, sha256_a, "
                "sha256_b, repeat_of, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pair.id,
                    pair.listener,
                    pair.excerpt_id,
                    pair.render_a,
                    pair.render_b,
                    pair.sha256_a,
                    pair.sha256_b,
                    pair.repeat_of,
                    pair.created_at,
                ),
            )
        return pair

    def pair(self, pair_id: str) -> PairRow | None:
        """Return the pair ``pair_id``, None when there is none."""
        with self._store.connect() as conn:
            row = conn.execute(
                "SELECT id, listener, excerpt_id, render_a, render_b, sha256_a, sha256_b, repeat_of, "
                "created_at FROM listen_pairs WHERE id = ?",
                (pair_id,),
            ).fetchone()
        if row is None:
            return None
        return PairRow(
            id=row["id"],
            listener=row["listener"],
            excerpt_id=row["excerpt_id"],
            render_a=row["render_a"],
            render_b=row["render_b"],
            sha256_a=row["sha256_a"],
            sha256_b=row["sha256_b"],
            repeat_of=row["repeat_of"],
            created_at=row["created_at"],
        )

    def pending_pair(self, listener: str) -> str | None:
        """Return the id of ``listener``'s latest pair without a vote, or None."""
        with self._store.connect() as conn:
            row = conn.execute(
                "SELECT p.id FROM listen_pairs p LEFT JOIN listen_votes v ON v.pair_id = p.id "
                "WHERE p.listener = ? AND v.pair_id IS NULL ORDER BY p.created_at DESC, p.rowid DESC LIMIT 1",
                (listener,),
            ).fetchone()
        return row["id"] if row else None

    def add_vote(self, vote: Vote) -> Vote:
        """Store ``vote`` unless its pair has a vote already; return the vote the pair holds now."""
        with self._store.connect() as conn:
            row = conn.execute(
                "SELECT pair_id, listener, choice, tags, voted_at FROM listen_votes WHERE pair_id = ?",
                (vote.pair_id,),
            ).fetchone()
            if row is not None:
                return Vote(
                    pair_id=row["pair_id"],
                    listener=row["listener"],
                    choice=row["choice"],
                    tags=tuple(json.loads(row["tags"])),
                    voted_at=row["voted_at"],
                )
            conn.execute(
                "INSERT INTO listen_votes (pair_id, listener, choice, tags, voted_at) VALUES (?, ?, ?, ?, ?)",
                (vote.pair_id, vote.listener, vote.choice, json.dumps(list(vote.tags)), vote.voted_at),
            )
        return vote

    # -- trials ----------------------------------------------------------------------------
    def trials_per_excerpt(self, listener: str) -> dict[str, int]:
        """Return excerpt id -> how many trials ``listener`` was given on it."""
        with self._store.connect() as conn:
            rows = conn.execute(
                "SELECT excerpt_id, COUNT(*) AS trials FROM listen_trials WHERE listener = ? GROUP BY excerpt_id",
                (listener,),
            )
            return {row["excerpt_id"]: row["trials"] for row in rows}

    def add_trial(
        self, trial_id: str, listener: str, excerpt_id: str, items: Sequence[TrialItem], created_at: float
    ) -> None:
        """Record a trial and its letters in one transaction."""
        with self._store.connect() as conn:
            conn.execute(
                "INSERT INTO listen_trials (id, listener, excerpt_id, created_at) VALUES (?, ?, ?, ?)",
                (trial_id, listener, excerpt_id, created_at),
            )
            conn.executemany(
                "INSERT INTO listen_trial_items (trial_id, letter, render_id, sha256, is_duplicate) "
                "VALUES (?, ?, ?, ?, ?)",
                [(trial_id, i.letter, i.render_id, i.sha256, int(i.is_duplicate)) for i in items],
            )

    def trial_listener(self, trial_id: str) -> str | None:
        """Return the listener trial ``trial_id`` was given to, None when there is no such trial."""
        with self._store.connect() as conn:
            row = conn.execute("SELECT listener FROM listen_trials WHERE id = ?", (trial_id,)).fetchone()
        return row["listener"] if row else None

    def trial_items(self, trial_id: str) -> list[TrialItem]:
        """Return the letters of trial ``trial_id`` by letter (empty for an unknown trial)."""
        with self._store.connect() as conn:
            rows = conn.execute(
                "SELECT letter, render_id, sha256, is_duplicate FROM listen_trial_items "
                "WHERE trial_id = ? ORDER BY letter",
                (trial_id,),
            ).fetchall()
        return [
            TrialItem(
                letter=row["letter"],
                render_id=row["render_id"],
                sha256=row["sha256"],
                is_duplicate=bool(row["is_duplicate"]),
            )
            for row in rows
        ]

    def pending_trial(self, listener: str) -> str | None:
        """Return the id of ``listener``'s latest trial without scores, or None."""
        with self._store.connect() as conn:
            row = conn.execute(
                "SELECT t.id FROM listen_trials t WHERE t.listener = ? AND NOT EXISTS "
                "(SELECT 1 FROM listen_ratings r WHERE r.trial_id = t.id) "
                "ORDER BY t.created_at DESC, t.rowid DESC LIMIT 1",
                (listener,),
            ).fetchone()
        return row["id"] if row else None

    def add_ratings(
        self, trial_id: str, listener: str, scores: Mapping[str, float], rated_at: float
    ) -> dict[str, float]:
        """Store the scores of a trial unless it has scores already; return the scores it holds now."""
        with self._store.connect() as conn:
            rows = conn.execute(
                "SELECT letter, score FROM listen_ratings WHERE trial_id = ?", (trial_id,)
            ).fetchall()
            if rows:
                return {row["letter"]: row["score"] for row in rows}
            conn.executemany(
                "INSERT INTO listen_ratings (trial_id, letter, listener, score, rated_at) VALUES (?, ?, ?, ?, ?)",
                [(trial_id, letter, listener, score, rated_at) for letter, score in scores.items()],
            )
        return dict(scores)

    # -- results ---------------------------------------------------------------------------
    def state(self) -> ListenState:
        """Return every vote, rating and listener and whether the test was revealed (one snapshot)."""
        with self._store.connect() as conn:
            voted = _voted_pairs(conn)
            ratings = [
                RatingRow(
                    trial_id=row["trial_id"],
                    listener=row["listener"],
                    sha256=row["sha256"],
                    is_duplicate=bool(row["is_duplicate"]),
                    score=row["score"],
                )
                for row in conn.execute(
                    "SELECT r.trial_id, r.listener, i.sha256, i.is_duplicate, r.score FROM listen_ratings r "
                    "JOIN listen_trial_items i ON i.trial_id = r.trial_id AND i.letter = r.letter "
                    "ORDER BY r.rowid"
                )
            ]
            listeners = [
                row["name"] for row in conn.execute("SELECT name FROM listen_listeners ORDER BY name")
            ]
            revealed = conn.execute("SELECT COUNT(*) AS n FROM listen_reveal").fetchone()["n"] > 0
        return ListenState(tuple(voted), tuple(ratings), tuple(listeners), revealed)

    def revealed(self) -> bool:
        """Return whether the test was revealed."""
        with self._store.connect() as conn:
            return conn.execute("SELECT COUNT(*) AS n FROM listen_reveal").fetchone()["n"] > 0

    def reveal(self, revealed_at: float) -> None:
        """Mark the test revealed (the first time counts)."""
        with self._store.connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO listen_reveal (id, revealed_at) VALUES (1, ?)", (revealed_at,)
            )

    # -- shortlist -------------------------------------------------------------------------
    def set_shortlist(self, checkpoint_sha256s: Iterable[str], chosen_at: float) -> None:
        """Replace the shortlist with ``checkpoint_sha256s`` in one transaction."""
        with self._store.connect() as conn:
            conn.execute("DELETE FROM listen_shortlist")
            conn.executemany(
                "INSERT INTO listen_shortlist (checkpoint_sha256, chosen_at) VALUES (?, ?)",
                [(sha, chosen_at) for sha in checkpoint_sha256s],
            )

    def clear_shortlist(self) -> None:
        """Empty the shortlist."""
        with self._store.connect() as conn:
            conn.execute("DELETE FROM listen_shortlist")

    def shortlist(self) -> frozenset[str]:
        """Return the shortlisted checkpoint hashes."""
        with self._store.connect() as conn:
            rows = conn.execute("SELECT checkpoint_sha256 FROM listen_shortlist")
            return frozenset(row["checkpoint_sha256"] for row in rows)


def _join(conn: sqlite3.Connection, listener: str, joined_at: float) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO listen_listeners (name, joined_at) VALUES (?, ?)", (listener, joined_at)
    )


def _voted_pairs(conn: sqlite3.Connection) -> list[VotedPair]:
    """Return every voted pair in voting order."""
    rows = conn.execute(
        "SELECT p.id, p.listener, p.render_a, p.render_b, p.sha256_a, p.sha256_b, p.repeat_of, "
        "v.choice FROM listen_votes v JOIN listen_pairs p ON p.id = v.pair_id ORDER BY v.rowid"
    )
    return [
        VotedPair(
            id=row["id"],
            listener=row["listener"],
            render_a=row["render_a"],
            render_b=row["render_b"],
            sha256_a=row["sha256_a"],
            sha256_b=row["sha256_b"],
            repeat_of=row["repeat_of"],
            choice=row["choice"],
        )
        for row in rows
    ]
