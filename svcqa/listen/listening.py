"""Blind listening: pairs, votes, MUSHRA-like ratings, the Bradley-Terry ranking, reveal, export.

The caller passes the stimuli (one rendered file per checkpoint per excerpt);
:func:`stimuli_from_renders` builds them from a workspace's renders. What may reach a
browser is an opaque random token plus anonymised audio: mono 16-bit WAV re-encoded from the
samples (no metadata chunk survives), loudness matched within a pair or trial. Render ids,
file names, steps and hashes stay in the workspace database and in this module, and
:func:`results` names checkpoints only after an explicit :func:`reveal`.

Votes, ratings and listeners live in the workspace database; each write is one short
transaction, so several listeners (threads of one server or separate processes) can vote at once.

Example
-------
>>> import tempfile, numpy as np, soundfile as sf
>>> from svcqa.core.store import Store
>>> folder = Path(tempfile.mkdtemp())
>>> stimuli = []
>>> for step in (1000, 2000):
...     path = folder / f"G_{step}.wav"
...     sf.write(path, 0.1 * np.sin(np.arange(16000) * step / 1e4), 16000)
...     stimuli.append(Stimulus(f"r{step}", "verse", step, f"{step:064x}", path))
>>> store = Store(folder / "state.sqlite")
>>> pair = next_pair(store, stimuli, "alice")
>>> vote(store, pair.id, "alice", "A").choice
'A'
>>> results(store, stimuli).to_dict()["ranking"]
[]
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import numbers
import re
import secrets
import sqlite3
import string
import time
import wave
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special, stats

from svcqa.audio.decode import read
from svcqa.audio.loudness import dbfs, integrated_lufs
from svcqa.core.errors import PathOutsideWorkspaceError, SvcqaError
from svcqa.core.settings import ListenSettings
from svcqa.core.store import Store
from svcqa.core.workspace import Workspace

CHOICES: tuple[str, ...] = ("A", "B", "same")
TAGS: dict[str, str] = {
    "hoarse_high_notes": "hoarse or electric high notes",
    "timbre_unlike_singer": "timbre unlike the singer",
    "slurred_words": "slurred words",
    "pitch_errors": "pitch errors",
    "noise": "noise",
}
"""Reasons a listener may attach to a vote: id -> label shown on the page."""

_MAX_LISTENER_CHARS = 64
_DEFAULTS = ListenSettings()
_CHECKPOINT_FILE = re.compile(r"G_(\d+)\.pth")


class ListeningError(SvcqaError):
    """A listening request is invalid: unknown pair or trial, wrong listener, bad choice or score."""


class RevealRefusedError(ListeningError):
    """Reveal was asked for before every checkpoint took part in enough comparisons."""


class ExportError(SvcqaError):
    """A checkpoint or config could not be read or exported."""


# -- data -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stimulus:
    """One rendered file: a checkpoint singing one excerpt. Never sent to a browser.

    Example
    -------
    >>> s = Stimulus("r1", "verse", 12000, "ab" * 32, Path("renders/a.wav"))
    >>> Stimulus.from_dict(s.to_dict()) == s
    True
    """

    render_id: str
    excerpt_id: str
    checkpoint_step: int
    checkpoint_sha256: str
    path: Path

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "render_id": self.render_id,
            "excerpt_id": self.excerpt_id,
            "checkpoint_step": self.checkpoint_step,
            "checkpoint_sha256": self.checkpoint_sha256,
            "path": str(self.path),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stimulus:
        """Build a stimulus from :meth:`to_dict` output."""
        return cls(
            str(data["render_id"]),
            str(data["excerpt_id"]),
            int(data["checkpoint_step"]),
            str(data["checkpoint_sha256"]),
            Path(data["path"]),
        )


@dataclass(frozen=True)
class Pair:
    """Two anonymised renders of one excerpt, labelled A and B; only ``id`` names the pair."""

    id: str
    audio_a: bytes = field(repr=False)
    """WAV bytes of side A."""
    audio_b: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"pair_id": ...}``: the only field that may be serialised for a browser."""
        return {"pair_id": self.id}


@dataclass(frozen=True)
class Vote:
    """A stored vote."""

    pair_id: str
    listener: str
    choice: str
    tags: tuple[str, ...]
    voted_at: float
    """Unix time in seconds."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "pair_id": self.pair_id,
            "listener": self.listener,
            "choice": self.choice,
            "tags": list(self.tags),
            "voted_at": self.voted_at,
        }


@dataclass(frozen=True)
class Trial:
    """A MUSHRA-like trial: renders of one excerpt under letters, one of them twice (hidden)."""

    id: str
    letters: tuple[str, ...]
    audio: Mapping[str, bytes] = field(repr=False)
    """Letter -> WAV bytes."""

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"trial_id", "letters"}``: what may be serialised for a browser."""
        return {"trial_id": self.id, "letters": list(self.letters)}


@dataclass(frozen=True)
class RankedCheckpoint:
    """A checkpoint's Bradley-Terry score: natural-log strength, mean of all checkpoints = 0."""

    checkpoint_step: int
    checkpoint_sha256: str
    score: float
    ci_low: float
    ci_high: float
    comparisons: int
    """Paired votes this checkpoint took part in."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "checkpoint_step": self.checkpoint_step,
            "checkpoint_sha256": self.checkpoint_sha256,
            "score": self.score,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "comparisons": self.comparisons,
        }


@dataclass(frozen=True)
class RatedCheckpoint:
    """A checkpoint's mean MUSHRA-like score (0-100) over the trials that rated it."""

    checkpoint_step: int
    checkpoint_sha256: str
    mean_score: float
    ci_low: float | None
    """None with a single trial (no spread to estimate)."""
    ci_high: float | None
    trials: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "checkpoint_step": self.checkpoint_step,
            "checkpoint_sha256": self.checkpoint_sha256,
            "mean_score": self.mean_score,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "trials": self.trials,
        }


@dataclass(frozen=True)
class ListenerStats:
    """How much and how consistently one listener judged."""

    listener: str
    votes: int
    repeats: int
    """Voted pairs that repeat an earlier voted pair of this listener with sides swapped."""
    consistent_repeats: int
    """Repeats that chose the same render (or "same" again)."""
    trials: int
    duplicate_mean_abs_diff: float | None
    """Mean absolute score difference between the hidden duplicate and its original (points)."""
    duplicates_within_tolerance: int

    @property
    def consistency(self) -> float | None:
        """Share of repeated pairs answered the same way; None without repeats."""
        return self.consistent_repeats / self.repeats if self.repeats else None

    @property
    def duplicate_consistency(self) -> float | None:
        """Share of rated trials whose hidden duplicate scored within tolerance; None without trials."""
        return self.duplicates_within_tolerance / self.trials if self.trials else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with both consistency shares."""
        return {
            "listener": self.listener,
            "votes": self.votes,
            "repeats": self.repeats,
            "consistent_repeats": self.consistent_repeats,
            "consistency": self.consistency,
            "trials": self.trials,
            "duplicate_mean_abs_diff": self.duplicate_mean_abs_diff,
            "duplicate_consistency": self.duplicate_consistency,
        }


@dataclass(frozen=True)
class Results:
    """The state of the listening test; ``ranking`` and ``ratings`` stay empty until reveal."""

    votes: int
    rated_trials: int
    revealed: bool
    refusal: str | None
    """Why reveal is not allowed yet; None when it is."""
    ranking: tuple[RankedCheckpoint, ...]
    """Best first."""
    ratings: tuple[RatedCheckpoint, ...]
    """Best first."""
    listeners: tuple[ListenerStats, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON the CLI prints."""
        return {
            "votes": self.votes,
            "rated_trials": self.rated_trials,
            "revealed": self.revealed,
            "can_reveal": self.refusal is None,
            "refusal": self.refusal,
            "ranking": [r.to_dict() for r in self.ranking],
            "ratings": [r.to_dict() for r in self.ratings],
            "listeners": [s.to_dict() for s in self.listeners],
        }


@dataclass(frozen=True)
class Progress:
    """How far the test is, without naming any checkpoint: what a listener may see before reveal."""

    votes: int
    """Paired votes of all listeners."""
    listener_votes: int
    """Paired votes of the listener asked about (0 without one)."""
    rated_trials: int
    checkpoints: int
    """Checkpoints in the test."""
    checkpoints_short: int
    """Checkpoints still in fewer than ``min_comparisons`` comparisons."""
    min_comparisons: int
    votes_needed: int
    """At least this many more votes before reveal is allowed (each vote counts for two checkpoints)."""
    revealed: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class QualityCurve:
    """Where a ranking over training steps peaks, and from which step later checkpoints are worse.

    Example
    -------
    >>> ranked = [RankedCheckpoint(s, f"{s:064x}", v, v - 0.3, v + 0.3, 9)
    ...           for s, v in ((1000, -1.0), (2000, 0.8), (3000, 0.9), (4000, 0.0))]
    >>> curve = quality_curve(ranked)
    >>> curve.peak_step, curve.tied_steps, curve.overtraining_step
    (3000, (2000, 3000), 4000)
    """

    peak_step: int
    tied_steps: tuple[int, ...]
    """Steps whose interval overlaps the peak's: the listeners could not tell them from the peak."""
    overtraining_step: int | None
    """The first step after the peak whose whole interval lies below the peak's; None when none does."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "peak_step": self.peak_step,
            "tied_steps": list(self.tied_steps),
            "overtraining_step": self.overtraining_step,
        }


@dataclass(frozen=True)
class ExportedModel:
    """An inference-only model written by :func:`export_checkpoint`."""

    path: Path
    model_name: str
    """Name of the generator file inside the zip, ``G_<step>.pth``."""
    size_bytes: int
    checkpoint_bytes: int
    """Size of the training checkpoint it came from."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "path": str(self.path),
            "model_name": self.model_name,
            "size_bytes": self.size_bytes,
            "checkpoint_bytes": self.checkpoint_bytes,
        }


# -- the stimuli ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Catalogue:
    """The caller's stimuli indexed by render, checkpoint and excerpt."""

    renders: dict[str, Stimulus]
    steps: dict[str, int]
    """Checkpoint sha256 -> step."""
    excerpts: dict[str, dict[str, Stimulus]]
    """Excerpt id -> checkpoint sha256 -> stimulus."""

    @property
    def checkpoints(self) -> list[str]:
        """Return checkpoint hashes ordered by step."""
        return sorted(self.steps, key=lambda sha: (self.steps[sha], sha))

    def shared_excerpts(self, sha_a: str, sha_b: str) -> list[str]:
        """Return the excerpts both checkpoints rendered, sorted."""
        return sorted(e for e, by_sha in self.excerpts.items() if sha_a in by_sha and sha_b in by_sha)

    def stimulus(self, render_id: str) -> Stimulus:
        """Return the stimulus of ``render_id``; raise when the caller no longer lists it."""
        try:
            return self.renders[render_id]
        except KeyError:
            raise ListeningError(
                "A render of this comparison is no longer available; ask for the next one."
            ) from None


def _catalogue(stimuli: Iterable[Stimulus]) -> _Catalogue:
    """Index ``stimuli``; raise :class:`ListeningError` on contradictory entries."""
    renders: dict[str, Stimulus] = {}
    steps: dict[str, int] = {}
    excerpts: dict[str, dict[str, Stimulus]] = defaultdict(dict)
    for stim in stimuli:
        if stim.render_id in renders:
            raise ListeningError("A render is listed twice; list each render once.")
        if steps.setdefault(stim.checkpoint_sha256, stim.checkpoint_step) != stim.checkpoint_step:
            raise ListeningError("A checkpoint is listed with two steps; re-register the checkpoints.")
        if stim.checkpoint_sha256 in excerpts[stim.excerpt_id]:
            raise ListeningError(
                "An excerpt has two renders of one checkpoint; list one render per checkpoint and excerpt."
            )
        renders[stim.render_id] = stim
        excerpts[stim.excerpt_id][stim.checkpoint_sha256] = stim
    return _Catalogue(renders, steps, dict(excerpts))


def stimuli_from_renders(ws: Workspace, *, use_shortlist: bool = True) -> list[Stimulus]:
    """Return the test's stimuli: one playable render per checkpoint and excerpt of ``ws``.

    A render counts when it has a file inside the workspace and is not silent. An excerpt
    rendered with several settings contributes the renders of one settings hash only: the one
    with the most renders, on a tie the one rendered last. So each checkpoint appears once per
    excerpt and every pair differs only by its checkpoints. With ``use_shortlist`` and a
    shortlist set (:func:`set_shortlist`), only the shortlisted checkpoints take part.
    """
    from svcqa.listen.render import list_renders

    playable = []
    for record in list_renders(ws):
        if not record.ok or record.silent or not record.path:
            continue
        try:
            path = ws.resolve(record.path)
        except PathOutsideWorkspaceError:
            continue
        if path.is_file():
            playable.append((record, path))
    by_excerpt = defaultdict(list)
    for record, path in playable:
        by_excerpt[record.excerpt_id].append((record, path))
    chosen = shortlist(ws) if use_shortlist else frozenset()
    steps: dict[str, int] = {}
    stimuli = []
    for excerpt_id in sorted(by_excerpt):
        items = by_excerpt[excerpt_id]
        counts = Counter(record.settings_hash for record, _ in items)
        newest: dict[str, str] = {}
        for record, _ in items:
            newest[record.settings_hash] = max(newest.get(record.settings_hash, ""), record.rendered_at)
        settings_hash = max(counts, key=lambda h: (counts[h], newest[h], h))
        for record, path in items:
            if record.settings_hash != settings_hash or (chosen and record.checkpoint_sha256 not in chosen):
                continue
            step = steps.setdefault(record.checkpoint_sha256, record.checkpoint_step)
            stimuli.append(Stimulus(record.id, excerpt_id, step, record.checkpoint_sha256, path))
    return stimuli


def set_shortlist(ws: Workspace, checkpoint_sha256s: Iterable[str]) -> int:
    """Let only these checkpoints take part in the test from now on; return how many."""
    chosen = sorted(set(checkpoint_sha256s))
    if len(chosen) < 2:
        raise ListeningError("A shortlist needs at least two checkpoints.")
    now = time.time()
    with Store(ws.db_path).connect() as conn:
        conn.execute("DELETE FROM listen_shortlist")
        conn.executemany("INSERT INTO listen_shortlist VALUES (?, ?)", [(sha, now) for sha in chosen])
    return len(chosen)


def clear_shortlist(ws: Workspace) -> None:
    """Let every rendered checkpoint take part again."""
    with Store(ws.db_path).connect() as conn:
        conn.execute("DELETE FROM listen_shortlist")


def shortlist(ws: Workspace) -> frozenset[str]:
    """Return the shortlisted checkpoint hashes; empty when every checkpoint takes part."""
    with Store(ws.db_path).connect() as conn:
        return frozenset(row[0] for row in conn.execute("SELECT checkpoint_sha256 FROM listen_shortlist"))


# -- anonymised audio -------------------------------------------------------------------
def _anonymised_wavs(paths: Sequence[Path], settings: ListenSettings) -> list[bytes]:
    """Return mono 16-bit WAV bytes of each file, loudness matched, with no metadata."""
    decoded = [read(path, mono=True) for path in paths]
    gains_db = [0.0] * len(decoded)
    if settings.match_loudness:
        levels = [integrated_lufs(samples, rate) for samples, rate in decoded]
        measured = [k for k, lufs in enumerate(levels) if math.isfinite(lufs)]
        target = settings.loudness_lufs
        # One common target, lowered as needed so the loudest peak stays under the ceiling.
        for k in measured:
            peak = dbfs(float(np.max(np.abs(decoded[k][0]))))
            target -= max(0.0, peak + target - levels[k] - settings.peak_ceiling_dbfs)
        for k in measured:
            gains_db[k] = target - levels[k]
    return [
        _wav_bytes(samples * 10 ** (gain / 20), rate)
        for (samples, rate), gain in zip(decoded, gains_db, strict=True)
    ]


def _wav_bytes(samples: np.ndarray, sample_rate_hz: int) -> bytes:
    """Return a RIFF/WAVE file holding only the ``fmt`` and ``data`` chunks (16-bit mono)."""
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


# -- database rows ----------------------------------------------------------------------
@dataclass(frozen=True)
class _VotedPair:
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


def _voted_pairs(conn: sqlite3.Connection) -> list[_VotedPair]:
    """Return every voted pair in voting order."""
    rows = conn.execute(
        "SELECT p.id, p.listener, p.render_a, p.render_b, p.sha256_a, p.sha256_b, p.repeat_of, "
        "v.choice FROM listen_votes v JOIN listen_pairs p ON p.id = v.pair_id ORDER BY v.rowid"
    )
    return [_VotedPair(*row) for row in rows]


def _rating_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str, int, float]]:
    """Return ``(trial_id, listener, checkpoint sha256, is_duplicate, score)`` of every rating."""
    return conn.execute(
        "SELECT r.trial_id, r.listener, i.sha256, i.is_duplicate, r.score FROM listen_ratings r "
        "JOIN listen_trial_items i ON i.trial_id = r.trial_id AND i.letter = r.letter "
        "ORDER BY r.rowid"
    ).fetchall()


def listener_name(listener: str) -> str:
    """Return the listener name stripped; raise :class:`ListeningError` when it is empty, too long
    or holds control characters."""
    name = listener.strip() if isinstance(listener, str) else ""
    if not name or len(name) > _MAX_LISTENER_CHARS or any(not ch.isprintable() for ch in name):
        raise ListeningError(f"Enter a listener name of 1 to {_MAX_LISTENER_CHARS} printable characters.")
    return name


def _join(conn: sqlite3.Connection, listener: str) -> None:
    conn.execute("INSERT OR IGNORE INTO listen_listeners VALUES (?, ?)", (listener, time.time()))


# -- ranking ----------------------------------------------------------------------------
def bradley_terry(wins: np.ndarray, prior_strength: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Return Bradley-Terry log-strengths (mean 0) and their covariance.

    Parameters
    ----------
    wins : np.ndarray [shape=(n, n)]
        ``wins[i, j]`` is how often item i was preferred over item j; a tie adds 0.5 to both
        ``wins[i, j]`` and ``wins[j, i]``.
    prior_strength : float > 0
        Precision of a zero-mean normal prior on each log-strength; it keeps the estimate
        finite with few votes or a clean sweep, and is small next to a handful of votes.

    Returns
    -------
    scores : np.ndarray [shape=(n,)]
        Maximum-a-posteriori natural-log strengths, anchored so their mean is 0:
        P(i beats j) = 1 / (1 + exp(scores[j] - scores[i])).
    covariance : np.ndarray [shape=(n, n)]
        Inverse of the negative Hessian at the estimate, projected onto mean-zero scores.

    Example
    -------
    >>> scores, _ = bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]))
    >>> bool(scores[0] > 0 > scores[1])
    True
    """
    wins = np.asarray(wins, dtype=float)
    if wins.ndim != 2 or wins.shape[0] != wins.shape[1] or np.any(wins < 0):
        raise ValueError("wins must be a square matrix of non-negative counts")
    if prior_strength <= 0:
        raise ValueError("prior_strength must be > 0")
    n = wins.shape[0]
    games = wins + wins.T
    theta = np.zeros(n)
    precision = np.eye(n) * prior_strength
    for _ in range(100):
        p = special.expit(theta[:, None] - theta[None, :])
        gradient = (wins - games * p).sum(axis=1) - prior_strength * theta
        info = games * p * (1.0 - p)
        precision = np.diag(info.sum(axis=1)) - info + prior_strength * np.eye(n)
        step = np.linalg.solve(precision, gradient)
        theta += step
        if np.max(np.abs(step), initial=0.0) < 1e-10:
            break
    centre = np.eye(n) - 1.0 / n
    return centre @ theta, centre @ np.linalg.inv(precision) @ centre.T


def _wins(voted: Iterable[_VotedPair], index: Mapping[str, int]) -> np.ndarray:
    """Return the wins matrix over the checkpoints in ``index`` (ties count half to each)."""
    wins = np.zeros((len(index), len(index)))
    for pair in voted:
        i, j = index.get(pair.sha256_a), index.get(pair.sha256_b)
        if i is None or j is None:
            continue
        if pair.choice == "A":
            wins[i, j] += 1.0
        elif pair.choice == "B":
            wins[j, i] += 1.0
        else:
            wins[i, j] += 0.5
            wins[j, i] += 0.5
    return wins


# -- pairs and votes --------------------------------------------------------------------
def next_pair(
    store: Store,
    stimuli: Sequence[Stimulus],
    listener: str,
    *,
    settings: ListenSettings = _DEFAULTS,
    rng: np.random.Generator | None = None,
) -> Pair:
    """Return a new blind pair for ``listener`` and record it.

    Most pairs are two checkpoints rendering the same excerpt, drawn with a weight that favours
    checkpoints still short of ``settings.min_comparisons`` and pairs whose order is uncertain
    (overlapping Bradley-Terry estimates, few comparisons). A share ``settings.repeat_share``
    repeats one of this listener's earlier voted pairs with sides swapped, to measure
    consistency. Sides are random.
    """
    name = listener_name(listener)
    catalogue = _catalogue(stimuli)
    rng = rng if rng is not None else np.random.default_rng()
    pair_id = secrets.token_urlsafe(16)
    # Choosing and recording share one transaction, so two tabs of one listener cannot both
    # repeat the same earlier pair; audio is decoded after the lock is released.
    with store.connect() as conn:
        _join(conn, name)
        voted = _voted_pairs(conn)
        repeated = {
            row[0]
            for row in conn.execute(
                "SELECT repeat_of FROM listen_pairs WHERE listener = ? AND repeat_of IS NOT NULL",
                (name,),
            )
        }
        original = _repeat_candidate(voted, repeated, name, catalogue, settings, rng)
        if original is not None:
            render_a, render_b = original.render_b, original.render_a
        else:
            render_a, render_b = _fresh_pair(voted, catalogue, settings, rng)
        stim_a, stim_b = catalogue.stimulus(render_a), catalogue.stimulus(render_b)
        conn.execute(
            "INSERT INTO listen_pairs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pair_id,
                name,
                stim_a.excerpt_id,
                render_a,
                render_b,
                stim_a.checkpoint_sha256,
                stim_b.checkpoint_sha256,
                original.id if original is not None else None,
                time.time(),
            ),
        )
    audio_a, audio_b = _anonymised_wavs([stim_a.path, stim_b.path], settings)
    return Pair(pair_id, audio_a, audio_b)


def _repeat_candidate(
    voted: Sequence[_VotedPair],
    repeated: set[str],
    listener: str,
    catalogue: _Catalogue,
    settings: ListenSettings,
    rng: np.random.Generator,
) -> _VotedPair | None:
    """Return an earlier voted pair of ``listener`` to repeat now, or None."""
    if rng.random() >= settings.repeat_share:
        return None
    own = [p for p in voted if p.listener == listener]
    # The most recent votes are left out: a repeat right after the original tests memory.
    settled = own[: max(len(own) - settings.repeat_min_gap, 0)]
    candidates = [
        p
        for p in settled
        if p.repeat_of is None
        and p.id not in repeated
        and p.render_a in catalogue.renders
        and p.render_b in catalogue.renders
    ]
    return candidates[int(rng.integers(len(candidates)))] if candidates else None


def _fresh_pair(
    voted: Sequence[_VotedPair],
    catalogue: _Catalogue,
    settings: ListenSettings,
    rng: np.random.Generator,
) -> tuple[str, str]:
    """Return ``(render_a, render_b)``: an uncertain pair of checkpoints on a shared excerpt."""
    order = catalogue.checkpoints
    candidates = [
        (i, j)
        for i in range(len(order))
        for j in range(i + 1, len(order))
        if catalogue.shared_excerpts(order[i], order[j])
    ]
    if not candidates:
        raise ListeningError(
            "Blind listening needs renders of at least two checkpoints on the same excerpt; "
            "render more checkpoints first."
        )
    wins = _wins(voted, {sha: k for k, sha in enumerate(order)})
    games = wins + wins.T
    played = games.sum(axis=1)
    scores, covariance = bradley_terry(wins, settings.prior_strength)
    first, second = np.array(candidates).T
    spread = np.sqrt(
        np.maximum(
            covariance[first, first] + covariance[second, second] - 2 * covariance[first, second],
            1e-12,
        )
    )
    # Two-sided p-value of "equal strength": 1 when the estimates coincide, ~0 when separated.
    uncertainty = 2.0 * stats.norm.sf(np.abs(scores[first] - scores[second]) / spread)
    shortfall = np.maximum(settings.min_comparisons - played, 0.0)
    weights = (uncertainty + shortfall[first] + shortfall[second]) / (1.0 + games[first, second])
    p = weights / weights.sum()
    i, j = candidates[int(rng.choice(len(candidates), p=p))]
    excerpts = catalogue.shared_excerpts(order[i], order[j])
    excerpt = excerpts[int(rng.integers(len(excerpts)))]
    renders = [
        catalogue.excerpts[excerpt][order[i]].render_id,
        catalogue.excerpts[excerpt][order[j]].render_id,
    ]
    if rng.random() < 0.5:
        renders.reverse()
    return renders[0], renders[1]


def pair_audio(
    store: Store,
    stimuli: Sequence[Stimulus],
    pair_id: str,
    *,
    settings: ListenSettings = _DEFAULTS,
) -> tuple[bytes, bytes]:
    """Return the anonymised WAV bytes of sides A and B of a recorded pair (e.g. after a reload)."""
    catalogue = _catalogue(stimuli)
    with store.connect() as conn:
        row = conn.execute("SELECT render_a, render_b FROM listen_pairs WHERE id = ?", (pair_id,)).fetchone()
    if row is None:
        raise ListeningError(f"Unknown pair {pair_id!r}; ask for the next pair.")
    paths = [catalogue.stimulus(render).path for render in row]
    audio_a, audio_b = _anonymised_wavs(paths, settings)
    return audio_a, audio_b


def pending_pair(store: Store, listener: str) -> str | None:
    """Return the id of ``listener``'s latest pair without a vote (to resume after a reload), or None."""
    name = listener_name(listener)
    with store.connect() as conn:
        row = conn.execute(
            "SELECT p.id FROM listen_pairs p LEFT JOIN listen_votes v ON v.pair_id = p.id "
            "WHERE p.listener = ? AND v.pair_id IS NULL ORDER BY p.created_at DESC, p.rowid DESC LIMIT 1",
            (name,),
        ).fetchone()
    return row[0] if row else None


def vote(store: Store, pair_id: str, listener: str, choice: str, tags: Iterable[str] = ()) -> Vote:
    """Record ``listener``'s vote on a pair and return it.

    ``choice`` is ``A``, ``B`` or ``same``; ``tags`` are keys of :data:`TAGS`. Sending the same
    vote again (a double click, a retried request) returns the stored vote; a different second
    vote on the same pair raises :class:`ListeningError`.
    """
    name = listener_name(listener)
    if choice not in CHOICES:
        raise ListeningError(f"Choice {choice!r} is not one of A, B or same.")
    tag_list = tuple(dict.fromkeys(tags))
    unknown = [t for t in tag_list if t not in TAGS]
    if unknown:
        raise ListeningError(f"Unknown tag(s) {', '.join(map(repr, unknown))}; use {', '.join(TAGS)}.")
    with store.connect() as conn:
        owner = conn.execute("SELECT listener FROM listen_pairs WHERE id = ?", (pair_id,)).fetchone()
        if owner is None:
            raise ListeningError(f"Unknown pair {pair_id!r}; ask for the next pair.")
        if owner[0] != name:
            raise ListeningError("This pair was given to another listener; ask for your own next pair.")
        stored = conn.execute(
            "SELECT choice, tags, voted_at FROM listen_votes WHERE pair_id = ?", (pair_id,)
        ).fetchone()
        if stored is not None:
            previous = Vote(pair_id, name, stored[0], tuple(json.loads(stored[1])), stored[2])
            if (previous.choice, previous.tags) != (choice, tag_list):
                raise ListeningError("This pair already has your vote; ask for the next pair.")
            return previous
        cast = Vote(pair_id, name, choice, tag_list, time.time())
        conn.execute(
            "INSERT INTO listen_votes VALUES (?, ?, ?, ?, ?)",
            (pair_id, name, choice, json.dumps(list(tag_list)), cast.voted_at),
        )
    return cast


# -- MUSHRA-like trials -----------------------------------------------------------------
def next_trial(
    store: Store,
    stimuli: Sequence[Stimulus],
    listener: str,
    excerpt_id: str | None = None,
    *,
    settings: ListenSettings = _DEFAULTS,
    rng: np.random.Generator | None = None,
) -> Trial:
    """Return a new rating trial for ``listener`` and record it.

    All checkpoints' renders of ``excerpt_id`` (a random ``settings.max_trial_renders`` of them
    when there are more) plus a hidden second copy of one of them, shuffled under the letters
    A, B, C, ... . Without ``excerpt_id`` the excerpt this listener rated least is used.
    """
    name = listener_name(listener)
    catalogue = _catalogue(stimuli)
    rng = rng if rng is not None else np.random.default_rng()
    with store.connect() as conn:
        _join(conn, name)
        done = dict(
            conn.execute(
                "SELECT excerpt_id, COUNT(*) FROM listen_trials WHERE listener = ? GROUP BY excerpt_id",
                (name,),
            ).fetchall()
        )
    if excerpt_id is None:
        rich = [e for e in sorted(catalogue.excerpts) if len(catalogue.excerpts[e]) >= 2]
        excerpt_id = min(rich, key=lambda e: done.get(e, 0)) if rich else ""
    renders = list(catalogue.excerpts.get(excerpt_id, {}).values())
    if len(renders) < 2:
        raise ListeningError(
            "A rating trial needs renders of at least two checkpoints on one excerpt; "
            "render more checkpoints first."
        )
    limit = min(settings.max_trial_renders, len(string.ascii_uppercase) - 1)
    if len(renders) > limit:
        renders = [renders[k] for k in rng.choice(len(renders), size=limit, replace=False)]
    duplicate = int(rng.integers(len(renders)))
    items = [(stim, 0) for stim in renders] + [(renders[duplicate], 1)]
    items = [items[k] for k in rng.permutation(len(items))]
    letters = tuple(string.ascii_uppercase[: len(items)])
    audio = _anonymised_wavs([stim.path for stim, _ in items], settings)
    trial_id = secrets.token_urlsafe(16)
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO listen_trials VALUES (?, ?, ?, ?)", (trial_id, name, excerpt_id, time.time())
        )
        conn.executemany(
            "INSERT INTO listen_trial_items VALUES (?, ?, ?, ?, ?)",
            [
                (trial_id, letter, stim.render_id, stim.checkpoint_sha256, is_duplicate)
                for letter, (stim, is_duplicate) in zip(letters, items, strict=True)
            ],
        )
    return Trial(trial_id, letters, dict(zip(letters, audio, strict=True)))


def trial_audio(
    store: Store,
    stimuli: Sequence[Stimulus],
    trial_id: str,
    *,
    settings: ListenSettings = _DEFAULTS,
) -> dict[str, bytes]:
    """Return letter -> anonymised WAV bytes of a recorded trial (e.g. after a reload)."""
    catalogue = _catalogue(stimuli)
    with store.connect() as conn:
        rows = conn.execute(
            "SELECT letter, render_id FROM listen_trial_items WHERE trial_id = ? ORDER BY letter",
            (trial_id,),
        ).fetchall()
    if not rows:
        raise ListeningError(f"Unknown trial {trial_id!r}; start a new trial.")
    audio = _anonymised_wavs([catalogue.stimulus(render).path for _, render in rows], settings)
    return dict(zip([letter for letter, _ in rows], audio, strict=True))


def pending_trial(store: Store, listener: str) -> str | None:
    """Return the id of ``listener``'s latest trial without scores (to resume after a reload), or None."""
    name = listener_name(listener)
    with store.connect() as conn:
        row = conn.execute(
            "SELECT t.id FROM listen_trials t WHERE t.listener = ? AND NOT EXISTS "
            "(SELECT 1 FROM listen_ratings r WHERE r.trial_id = t.id) "
            "ORDER BY t.created_at DESC, t.rowid DESC LIMIT 1",
            (name,),
        ).fetchone()
    return row[0] if row else None


def rate(store: Store, trial_id: str, listener: str, scores: Mapping[str, float]) -> dict[str, float]:
    """Record ``listener``'s 0-100 score for every letter of a trial and return the stored scores.

    Sending the same scores again returns them; different scores for a rated trial raise
    :class:`ListeningError`.
    """
    name = listener_name(listener)
    with store.connect() as conn:
        owner = conn.execute("SELECT listener FROM listen_trials WHERE id = ?", (trial_id,)).fetchone()
        if owner is None:
            raise ListeningError(f"Unknown trial {trial_id!r}; start a new trial.")
        if owner[0] != name:
            raise ListeningError("This trial was given to another listener; start your own trial.")
        letters = [
            row[0]
            for row in conn.execute(
                "SELECT letter FROM listen_trial_items WHERE trial_id = ? ORDER BY letter", (trial_id,)
            )
        ]
        clean = _check_scores(scores, letters)
        stored = dict(
            conn.execute(
                "SELECT letter, score FROM listen_ratings WHERE trial_id = ?", (trial_id,)
            ).fetchall()
        )
        if stored:
            if stored != clean:
                raise ListeningError("This trial already has your scores; start a new trial.")
            return stored
        now = time.time()
        conn.executemany(
            "INSERT INTO listen_ratings VALUES (?, ?, ?, ?, ?)",
            [(trial_id, letter, name, score, now) for letter, score in clean.items()],
        )
    return clean


def _check_scores(scores: Mapping[str, float], letters: Sequence[str]) -> dict[str, float]:
    """Return the scores as floats; raise unless every letter has one score in 0..100."""
    if set(scores) != set(letters):
        raise ListeningError(f"Score every letter exactly once: {', '.join(letters)}.")
    clean = {}
    for letter in letters:
        value = scores[letter]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 100:
            raise ListeningError(f"Score of {letter} must be a number from 0 to 100, not {value!r}.")
        clean[letter] = float(value)
    return clean


# -- results and reveal -----------------------------------------------------------------
def results(store: Store, stimuli: Sequence[Stimulus], *, settings: ListenSettings = _DEFAULTS) -> Results:
    """Return vote counts, listener consistency and, once revealed, the rankings.

    The ranking covers the checkpoints in ``stimuli`` and every vote between two of them.
    Before :func:`reveal`, ``ranking`` and ``ratings`` are empty so nothing names a checkpoint.
    """
    catalogue = _catalogue(stimuli)
    with store.connect() as conn:
        voted = _voted_pairs(conn)
        rating_rows = _rating_rows(conn)
        listeners = [row[0] for row in conn.execute("SELECT name FROM listen_listeners ORDER BY name")]
        revealed = conn.execute("SELECT COUNT(*) FROM listen_reveal").fetchone()[0] > 0
    order = catalogue.checkpoints
    index = {sha: k for k, sha in enumerate(order)}
    ranking: tuple[RankedCheckpoint, ...] = ()
    ratings: tuple[RatedCheckpoint, ...] = ()
    if revealed:
        ranking = _ranking(voted, catalogue, index, settings)
        ratings = _ratings(rating_rows, catalogue, settings)
    return Results(
        votes=len(voted),
        rated_trials=len({row[0] for row in rating_rows}),
        revealed=revealed,
        refusal=_refusal(voted, rating_rows, order, index, settings),
        ranking=ranking,
        ratings=ratings,
        listeners=tuple(_listener_stats(name, voted, rating_rows, settings) for name in listeners),
    )


def reveal(store: Store, stimuli: Sequence[Stimulus], *, settings: ListenSettings = _DEFAULTS) -> Results:
    """Reveal the checkpoints' identities and return the results.

    Raises :class:`RevealRefusedError`, with the reason, until every checkpoint in ``stimuli``
    took part in at least ``settings.min_comparisons`` comparisons (a paired vote, or a rated
    trial that included it).
    """
    refusal = results(store, stimuli, settings=settings).refusal
    if refusal is not None:
        raise RevealRefusedError(refusal)
    with store.connect() as conn:
        conn.execute("INSERT OR IGNORE INTO listen_reveal VALUES (1, ?)", (time.time(),))
    return results(store, stimuli, settings=settings)


def progress(
    store: Store,
    stimuli: Sequence[Stimulus],
    listener: str | None = None,
    *,
    settings: ListenSettings = _DEFAULTS,
) -> Progress:
    """Return how far the test is (votes, checkpoints short of comparisons), naming no checkpoint."""
    catalogue = _catalogue(stimuli)
    name = listener_name(listener) if listener is not None else None
    with store.connect() as conn:
        voted = _voted_pairs(conn)
        rating_rows = _rating_rows(conn)
        revealed = conn.execute("SELECT COUNT(*) FROM listen_reveal").fetchone()[0] > 0
    index = {sha: k for k, sha in enumerate(catalogue.checkpoints)}
    comparisons = _comparisons(voted, rating_rows, index)
    short = comparisons < settings.min_comparisons
    return Progress(
        votes=len(voted),
        listener_votes=sum(p.listener == name for p in voted),
        rated_trials=len({row[0] for row in rating_rows}),
        checkpoints=len(index),
        checkpoints_short=int(short.sum()),
        min_comparisons=settings.min_comparisons,
        votes_needed=math.ceil(int(np.sum(settings.min_comparisons - comparisons[short])) / 2),
        revealed=revealed,
    )


def _comparisons(
    voted: Sequence[_VotedPair],
    rating_rows: Sequence[tuple[str, str, str, int, float]],
    index: Mapping[str, int],
) -> np.ndarray:
    """Return each checkpoint's comparisons: paired votes plus rated trials that included it."""
    wins = _wins(voted, index)
    comparisons = (wins + wins.T).sum(axis=1)
    for _, sha in {(trial, sha) for trial, _, sha, _, _ in rating_rows if sha in index}:
        comparisons[index[sha]] += 1
    return comparisons


def _refusal(
    voted: Sequence[_VotedPair],
    rating_rows: Sequence[tuple[str, str, str, int, float]],
    order: Sequence[str],
    index: Mapping[str, int],
    settings: ListenSettings,
) -> str | None:
    """Return why reveal is not allowed yet, without naming any checkpoint; None when it is."""
    if len(order) < 2:
        return "Reveal needs renders of at least two checkpoints; render more checkpoints first."
    comparisons = _comparisons(voted, rating_rows, index)
    short = comparisons < settings.min_comparisons
    if not short.any():
        return None
    missing = int(np.sum(settings.min_comparisons - comparisons[short]))
    return (
        f"Reveal needs every checkpoint in at least {settings.min_comparisons} comparisons; "
        f"{int(short.sum())} of {len(order)} checkpoints have fewer (the fewest has "
        f"{int(comparisons.min())}). Keep listening: at least {math.ceil(missing / 2)} more votes."
    )


def quality_curve(ranking: Iterable[RankedCheckpoint]) -> QualityCurve:
    """Return where ``ranking`` peaks over training steps and where overtraining starts.

    The peak is the best score. A later checkpoint is clearly worse when its whole interval lies
    below the peak's; the first such step is where overtraining shows. Raises
    :class:`ListeningError` on an empty ranking.
    """
    ranked = sorted(ranking, key=lambda r: r.checkpoint_step)
    if not ranked:
        raise ListeningError("No ranking yet: reveal the results first.")
    peak = max(ranked, key=lambda r: (r.score, -r.checkpoint_step))
    tied = tuple(r.checkpoint_step for r in ranked if r.ci_high >= peak.ci_low and r.ci_low <= peak.ci_high)
    worse = (
        r.checkpoint_step
        for r in ranked
        if r.checkpoint_step > peak.checkpoint_step and r.ci_high < peak.ci_low
    )
    return QualityCurve(peak.checkpoint_step, tied, next(worse, None))


def _ranking(
    voted: Sequence[_VotedPair],
    catalogue: _Catalogue,
    index: Mapping[str, int],
    settings: ListenSettings,
) -> tuple[RankedCheckpoint, ...]:
    """Return the Bradley-Terry ranking of the listed checkpoints, best first."""
    wins = _wins(voted, index)
    scores, covariance = bradley_terry(wins, settings.prior_strength)
    z = stats.norm.ppf(0.5 + settings.confidence / 2)
    half_widths = z * np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    games = (wins + wins.T).sum(axis=1)
    ranked = [
        RankedCheckpoint(
            checkpoint_step=catalogue.steps[sha],
            checkpoint_sha256=sha,
            score=float(scores[k]),
            ci_low=float(scores[k] - half_widths[k]),
            ci_high=float(scores[k] + half_widths[k]),
            comparisons=int(games[k]),
        )
        for sha, k in index.items()
    ]
    return tuple(sorted(ranked, key=lambda r: (-r.score, r.checkpoint_step)))


def _ratings(
    rating_rows: Sequence[tuple[str, str, str, int, float]],
    catalogue: _Catalogue,
    settings: ListenSettings,
) -> tuple[RatedCheckpoint, ...]:
    """Return each checkpoint's mean score over trials (a duplicate counts once), best first."""
    per_trial: dict[tuple[str, str], list[float]] = defaultdict(list)
    for trial, _, sha, _, score in rating_rows:
        if sha in catalogue.steps:
            per_trial[trial, sha].append(score)
    per_checkpoint: dict[str, list[float]] = defaultdict(list)
    for (_, sha), scores in per_trial.items():
        per_checkpoint[sha].append(float(np.mean(scores)))
    rated = []
    for sha, means in per_checkpoint.items():
        mean = float(np.mean(means))
        low = high = None
        if len(means) > 1:
            half = stats.t.ppf(0.5 + settings.confidence / 2, len(means) - 1) * stats.sem(means)
            low, high = mean - float(half), mean + float(half)
        rated.append(RatedCheckpoint(catalogue.steps[sha], sha, mean, low, high, len(means)))
    return tuple(sorted(rated, key=lambda r: (-r.mean_score, r.checkpoint_step)))


def _listener_stats(
    listener: str,
    voted: Sequence[_VotedPair],
    rating_rows: Sequence[tuple[str, str, str, int, float]],
    settings: ListenSettings,
) -> ListenerStats:
    """Return one listener's vote count, repeat consistency and hidden-duplicate agreement."""
    own = {p.id: p for p in voted if p.listener == listener}
    repeats = [(p, own[p.repeat_of]) for p in own.values() if p.repeat_of in own]
    consistent = sum(repeat.winner() == original.winner() for repeat, original in repeats)
    by_trial: dict[str, list[tuple[str, int, float]]] = defaultdict(list)
    for trial, who, sha, is_duplicate, score in rating_rows:
        if who == listener:
            by_trial[trial].append((sha, is_duplicate, score))
    diffs = []
    for items in by_trial.values():
        copied, copy_score = next((sha, score) for sha, dup, score in items if dup)
        original_score = next(score for sha, dup, score in items if sha == copied and not dup)
        diffs.append(abs(copy_score - original_score))
    return ListenerStats(
        listener=listener,
        votes=len(own),
        repeats=len(repeats),
        consistent_repeats=int(consistent),
        trials=len(diffs),
        duplicate_mean_abs_diff=float(np.mean(diffs)) if diffs else None,
        duplicates_within_tolerance=sum(d <= settings.duplicate_tolerance_points for d in diffs),
    )


# -- export -----------------------------------------------------------------------------
def export_checkpoint(
    checkpoint_path: Path, config_path: Path, out_zip: Path, *, step: int | None = None
) -> ExportedModel:
    """Write ``out_zip`` holding ``G_<step>.pth`` (generator weights only) and ``config.json``.

    The generator file keeps the keys so-vits-svc-fork's ``utils.load_checkpoint`` reads
    (``model``, ``iteration``, ``learning_rate``; ``optimizer`` is None) and loads with
    ``torch.load(weights_only=True)``. ``step`` defaults to the number in a ``G_<N>.pth`` name.
    """
    import torch

    checkpoint_path, config_path, out_zip = Path(checkpoint_path), Path(config_path), Path(out_zip)
    if step is None:
        match = _CHECKPOINT_FILE.fullmatch(checkpoint_path.name)
        if match is None:
            raise ExportError(
                f"Cannot tell the step of {checkpoint_path.name}; name it G_<step>.pth or give the step."
            )
        step = int(match.group(1))
    try:
        config_text = config_path.read_text(encoding="utf-8")
        json.loads(config_text)
    except (OSError, ValueError) as exc:
        raise ExportError(
            f"Config {config_path} is unreadable ({exc}); export needs the training config."
        ) from exc
    try:
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise ExportError(f"Checkpoint {checkpoint_path} could not be loaded ({exc}).") from exc
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), Mapping):
        raise ExportError(
            f"{checkpoint_path.name} holds no generator weights ('model'); export a G_*.pth checkpoint."
        )
    slim = {
        # A view would drag its whole shared storage into the file; clones own their memory.
        "model": {
            key: value.detach().clone() if torch.is_tensor(value) else value
            for key, value in checkpoint["model"].items()
        },
        # so-vits-svc-fork reads both keys when loading, though inference uses neither.
        "iteration": int(checkpoint.get("iteration", 0)),
        "learning_rate": float(checkpoint.get("learning_rate", 0.0)),
        "optimizer": None,
    }
    model_name = f"G_{step}.pth"
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    partial = out_zip.with_name(out_zip.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with archive.open(model_name, "w", force_zip64=True) as member:
                torch.save(slim, member)
            archive.writestr("config.json", config_text)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out_zip)
    return ExportedModel(out_zip, model_name, out_zip.stat().st_size, checkpoint_path.stat().st_size)


def default_export_path(ws: Workspace, step: int) -> Path:
    """Return where the page writes the export of step ``step``: ``exports/<workspace>_G_<step>.zip``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ws.root.name).strip("._") or "model"
    return ws.exports / f"{stem}_G_{int(step)}.zip"


def export_step(ws: Workspace, step: int, out_zip: Path, sha256: str | None = None) -> ExportedModel:
    """Export the registered checkpoint of ``step`` (and ``sha256`` when given) with the model config.

    The config is the one the checkpoint was trained with (:func:`svcqa.engines.svc.model_config_path`).
    Raises :class:`ExportError` when no such checkpoint is registered or its file is gone.
    """
    from svcqa.engines.svc import model_config_path
    from svcqa.train.checkpoints import list_checkpoints

    registered = list_checkpoints(ws)
    found = [c for c in registered if c.step == step and (sha256 is None or c.sha256 == sha256)]
    if not found:
        steps = ", ".join(str(c.step) for c in registered) or "none"
        raise ExportError(f"No registered checkpoint of step {step} (registered steps: {steps}).")
    source = found[-1].available_path
    if source is None:
        raise ExportError(
            f"The checkpoint of step {step} is gone from the run folder and the archive; it cannot be exported."
        )
    return export_checkpoint(source, model_config_path(ws, found[-1].path), Path(out_zip), step=step)
