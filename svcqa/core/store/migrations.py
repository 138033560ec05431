"""The database schema: every migration in order. Add a migration at the end; never edit or drop one."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE audit_cache (
        key TEXT PRIMARY KEY,
        size_bytes INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        measure_key TEXT NOT NULL,
        data TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE listen_listeners (
        name TEXT PRIMARY KEY,
        joined_at REAL NOT NULL
    );
    CREATE TABLE listen_pairs (
        id TEXT PRIMARY KEY,
        listener TEXT NOT NULL REFERENCES listen_listeners(name),
        excerpt_id TEXT NOT NULL,
        render_a TEXT NOT NULL,
        render_b TEXT NOT NULL,
        sha256_a TEXT NOT NULL,
        sha256_b TEXT NOT NULL,
        repeat_of TEXT REFERENCES listen_pairs(id),
        created_at REAL NOT NULL
    );
    CREATE INDEX listen_pairs_listener ON listen_pairs(listener);
    CREATE TABLE listen_votes (
        pair_id TEXT PRIMARY KEY REFERENCES listen_pairs(id),
        listener TEXT NOT NULL,
        choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'same')),
        tags TEXT NOT NULL,
        voted_at REAL NOT NULL
    );
    CREATE TABLE listen_trials (
        id TEXT PRIMARY KEY,
        listener TEXT NOT NULL REFERENCES listen_listeners(name),
        excerpt_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE listen_trial_items (
        trial_id TEXT NOT NULL REFERENCES listen_trials(id),
        letter TEXT NOT NULL,
        render_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        is_duplicate INTEGER NOT NULL,
        PRIMARY KEY (trial_id, letter)
    );
    CREATE TABLE listen_ratings (
        trial_id TEXT NOT NULL,
        letter TEXT NOT NULL,
        listener TEXT NOT NULL,
        score REAL NOT NULL CHECK (score BETWEEN 0 AND 100),
        rated_at REAL NOT NULL,
        PRIMARY KEY (trial_id, letter),
        FOREIGN KEY (trial_id, letter) REFERENCES listen_trial_items(trial_id, letter)
    );
    CREATE TABLE listen_reveal (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        revealed_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE checkpoints (
        path TEXT PRIMARY KEY,
        step INTEGER NOT NULL,
        step_derived INTEGER NOT NULL,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        archived_path TEXT
    );
    CREATE INDEX checkpoints_step ON checkpoints (step);
    CREATE INDEX checkpoints_sha ON checkpoints (sha256);
    """,
    """
    CREATE TABLE excerpts (
        id TEXT PRIMARY KEY,
        song TEXT NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        song_sha256 TEXT NOT NULL,
        label TEXT NOT NULL,
        chosen INTEGER NOT NULL,
        chosen_at TEXT NOT NULL
    );
    CREATE TABLE renders (
        id TEXT PRIMARY KEY,
        checkpoint_sha256 TEXT NOT NULL,
        checkpoint_step INTEGER NOT NULL,
        excerpt_id TEXT NOT NULL,
        settings_hash TEXT NOT NULL,
        settings TEXT NOT NULL,
        path TEXT,
        lufs REAL,
        gain_db REAL,
        silent INTEGER NOT NULL,
        message TEXT NOT NULL,
        error TEXT,
        load_s REAL,
        decode_s REAL,
        device TEXT NOT NULL,
        rendered_at TEXT NOT NULL
    );
    CREATE INDEX renders_settings ON renders (settings_hash, excerpt_id);
    """,
    """
    CREATE TABLE render_metrics (
        render_id TEXT NOT NULL,
        metrics_key TEXT NOT NULL,
        data TEXT NOT NULL,
        computed_at REAL NOT NULL,
        PRIMARY KEY (render_id, metrics_key)
    );
    CREATE TABLE listen_shortlist (
        checkpoint_sha256 TEXT PRIMARY KEY,
        chosen_at REAL NOT NULL
    );
    CREATE TABLE listen_invites (
        id TEXT PRIMARY KEY,
        token_sha256 TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    """,
    """
    CREATE TABLE login_failures (
        client TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        next_try_at REAL NOT NULL,
        last_failure_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE audit_progress (
        folder TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this database has not seen yet."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
