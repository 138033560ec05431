"""MUSHRA-like rating trials: every checkpoint's render of one excerpt under a letter, one of
them twice (a hidden duplicate that measures the listener's consistency), each scored 0-100.

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
>>> trial = next_trial(store, stimuli, "alice")
>>> trial.letters
('A', 'B', 'C')
>>> rate(store, trial.id, "alice", dict.fromkeys(trial.letters, 50))["A"]
50.0
"""

from __future__ import annotations

import numbers
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from svcqa.core.settings import ListenSettings
from svcqa.core.store import Store
from svcqa.core.store.listen import TrialItem
from svcqa.listen.stimuli import ListeningError, Stimulus, anonymised_wavs, catalogue, listener_name

_DEFAULTS = ListenSettings()


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
    known = catalogue(stimuli)
    rng = rng if rng is not None else np.random.default_rng()
    store.listen.join(name, time.time())
    done = store.listen.trials_per_excerpt(name)
    if excerpt_id is None:
        rich = [e for e in sorted(known.excerpts) if len(known.excerpts[e]) >= 2]
        excerpt_id = min(rich, key=lambda e: done.get(e, 0)) if rich else ""
    renders = list(known.excerpts.get(excerpt_id, {}).values())
    if len(renders) < 2:
        raise ListeningError(
            "A rating trial needs renders of at least two checkpoints on one excerpt; "
            "render more checkpoints first."
        )
    limit = min(settings.max_trial_renders, len(string.ascii_uppercase) - 1)
    if len(renders) > limit:
        renders = [renders[k] for k in rng.choice(len(renders), size=limit, replace=False)]
    duplicate = int(rng.integers(len(renders)))
    items = [(stim, False) for stim in renders] + [(renders[duplicate], True)]
    items = [items[k] for k in rng.permutation(len(items))]
    letters = tuple(string.ascii_uppercase[: len(items)])
    audio = anonymised_wavs([stim.path for stim, _ in items], settings)
    trial_id = secrets.token_urlsafe(16)
    store.listen.add_trial(
        trial_id,
        name,
        excerpt_id,
        [
            TrialItem(letter, stim.render_id, stim.checkpoint_sha256, is_duplicate)
            for letter, (stim, is_duplicate) in zip(letters, items, strict=True)
        ],
        time.time(),
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
    known = catalogue(stimuli)
    items = store.listen.trial_items(trial_id)
    if not items:
        raise ListeningError(f"Unknown trial {trial_id!r}; start a new trial.")
    audio = anonymised_wavs([known.stimulus(item.render_id).path for item in items], settings)
    return dict(zip([item.letter for item in items], audio, strict=True))


def pending_trial(store: Store, listener: str) -> str | None:
    """Return the id of ``listener``'s latest trial without scores (to resume after a reload), or None."""
    return store.listen.pending_trial(listener_name(listener))


def rate(store: Store, trial_id: str, listener: str, scores: Mapping[str, float]) -> dict[str, float]:
    """Record ``listener``'s 0-100 score for every letter of a trial and return the stored scores.

    Sending the same scores again returns them; different scores for a rated trial raise
    :class:`ListeningError`.
    """
    name = listener_name(listener)
    owner = store.listen.trial_listener(trial_id)
    if owner is None:
        raise ListeningError(f"Unknown trial {trial_id!r}; start a new trial.")
    if owner != name:
        raise ListeningError("This trial was given to another listener; start your own trial.")
    clean = _check_scores(scores, [item.letter for item in store.listen.trial_items(trial_id)])
    stored = store.listen.add_ratings(trial_id, name, clean, time.time())
    if stored != clean:
        raise ListeningError("This trial already has your scores; start a new trial.")
    return stored


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
