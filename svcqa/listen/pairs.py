"""Blind paired comparisons: which pair a listener hears next, and their votes.

Votes and listeners live in the workspace database; each write is one short transaction, so
several listeners (threads of one server or separate processes) can vote at once.

Example
-------
>>> import tempfile, numpy as np, soundfile as sf
>>> from pathlib import Path
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
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from svcqa.core.settings import ListenSettings
from svcqa.core.store import Store
from svcqa.core.store.listen import PairRow, Vote, VotedPair
from svcqa.listen.ranking import bradley_terry, wins_matrix
from svcqa.listen.stimuli import (
    Catalogue,
    ListeningError,
    Stimulus,
    anonymised_wavs,
    catalogue,
    listener_name,
)

CHOICES: tuple[str, ...] = ("A", "B", "same")
TAGS: dict[str, str] = {
    "hoarse_high_notes": "hoarse or electric high notes",
    "timbre_unlike_singer": "timbre unlike the singer",
    "slurred_words": "slurred words",
    "pitch_errors": "pitch errors",
    "noise": "noise",
}
"""Reasons a listener may attach to a vote: id -> label shown on the page."""

_DEFAULTS = ListenSettings()


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
    known = catalogue(stimuli)
    rng = rng if rng is not None else np.random.default_rng()
    pair_id = secrets.token_urlsafe(16)

    def choose(voted: list[VotedPair], repeated: set[str]) -> PairRow:
        original = _repeat_candidate(voted, repeated, name, known, settings, rng)
        if original is not None:
            render_a, render_b = original.render_b, original.render_a
        else:
            render_a, render_b = _fresh_pair(voted, known, settings, rng)
        stim_a, stim_b = known.stimulus(render_a), known.stimulus(render_b)
        return PairRow(
            id=pair_id,
            listener=name,
            excerpt_id=stim_a.excerpt_id,
            render_a=render_a,
            render_b=render_b,
            sha256_a=stim_a.checkpoint_sha256,
            sha256_b=stim_b.checkpoint_sha256,
            repeat_of=original.id if original is not None else None,
            created_at=time.time(),
        )

    # Choosing and recording share one transaction, so two tabs of one listener cannot both
    # repeat the same earlier pair; audio is decoded after the lock is released.
    row = store.listen.add_pair(name, choose, time.time())
    paths = [known.stimulus(row.render_a).path, known.stimulus(row.render_b).path]
    audio_a, audio_b = anonymised_wavs(paths, settings)
    return Pair(pair_id, audio_a, audio_b)


def _repeat_candidate(
    voted: Sequence[VotedPair],
    repeated: set[str],
    listener: str,
    known: Catalogue,
    settings: ListenSettings,
    rng: np.random.Generator,
) -> VotedPair | None:
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
        and p.render_a in known.renders
        and p.render_b in known.renders
    ]
    return candidates[int(rng.integers(len(candidates)))] if candidates else None


def _fresh_pair(
    voted: Sequence[VotedPair],
    known: Catalogue,
    settings: ListenSettings,
    rng: np.random.Generator,
) -> tuple[str, str]:
    """Return ``(render_a, render_b)``: an uncertain pair of checkpoints on a shared excerpt."""
    order = known.checkpoints
    candidates = [
        (i, j)
        for i in range(len(order))
        for j in range(i + 1, len(order))
        if known.shared_excerpts(order[i], order[j])
    ]
    if not candidates:
        raise ListeningError(
            "Blind listening needs renders of at least two checkpoints on the same excerpt; "
            "render more checkpoints first."
        )
    wins = wins_matrix(voted, {sha: k for k, sha in enumerate(order)})
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
    excerpts = known.shared_excerpts(order[i], order[j])
    excerpt = excerpts[int(rng.integers(len(excerpts)))]
    renders = [
        known.excerpts[excerpt][order[i]].render_id,
        known.excerpts[excerpt][order[j]].render_id,
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
    known = catalogue(stimuli)
    row = store.listen.pair(pair_id)
    if row is None:
        raise ListeningError(f"Unknown pair {pair_id!r}; ask for the next pair.")
    paths = [known.stimulus(render).path for render in (row.render_a, row.render_b)]
    audio_a, audio_b = anonymised_wavs(paths, settings)
    return audio_a, audio_b


def pending_pair(store: Store, listener: str) -> str | None:
    """Return the id of ``listener``'s latest pair without a vote (to resume after a reload), or None."""
    return store.listen.pending_pair(listener_name(listener))


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
    pair = store.listen.pair(pair_id)
    if pair is None:
        raise ListeningError(f"Unknown pair {pair_id!r}; ask for the next pair.")
    if pair.listener != name:
        raise ListeningError("This pair was given to another listener; ask for your own next pair.")
    cast = Vote(pair_id, name, choice, tag_list, time.time())
    stored = store.listen.add_vote(cast)
    if stored is not cast and (stored.choice, stored.tags) != (choice, tag_list):
        raise ListeningError("This pair already has your vote; ask for the next pair.")
    return stored
