"""The blind test's outcome: the Bradley-Terry ranking of the votes, the mean ratings, listener
consistency, progress, the reveal, and where quality peaks over training steps.

:func:`results` names checkpoints only after an explicit :func:`reveal`; :func:`progress`
never names one.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from svcqa.core.store import Store
>>> folder = Path(tempfile.mkdtemp())
>>> stimuli = [Stimulus(f"r{s}", "verse", s, f"{s:064x}", folder / f"{s}.wav") for s in (1000, 2000)]
>>> results(Store(folder / "state.sqlite"), stimuli).to_dict()["ranking"]
[]
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from svcqa.core.records import Record
from svcqa.core.settings import ListenSettings
from svcqa.core.store import Store
from svcqa.core.store.listen import RatingRow, VotedPair
from svcqa.listen.stimuli import Catalogue, ListeningError, Stimulus, catalogue, listener_name

_DEFAULTS = ListenSettings()


class RevealRefusedError(ListeningError):
    """Reveal was asked for before every checkpoint took part in enough comparisons."""


@dataclass(frozen=True)
class RankedCheckpoint(Record):
    """A checkpoint's Bradley-Terry score: natural-log strength, mean of all checkpoints = 0."""

    checkpoint_step: int
    checkpoint_sha256: str
    score: float
    ci_low: float
    ci_high: float
    comparisons: int
    """Paired votes this checkpoint took part in."""
    p_best: float | None = None
    """Probability that it is the best of the ranked checkpoints, from the fit's normal
    approximation (:func:`best_probabilities`); None when not computed."""


@dataclass(frozen=True)
class RatedCheckpoint(Record):
    """A checkpoint's mean MUSHRA-like score (0-100) over the trials that rated it."""

    checkpoint_step: int
    checkpoint_sha256: str
    mean_score: float
    ci_low: float | None
    """None with a single trial (no spread to estimate)."""
    ci_high: float | None
    trials: int
    p_best: float | None = None
    """Probability that it is the best of the rated checkpoints (:func:`best_probabilities`);
    None while any rated checkpoint has a single trial."""


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
class Progress(Record):
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


@dataclass(frozen=True)
class QualityCurve(Record):
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


# -- results and reveal -----------------------------------------------------------------
def results(store: Store, stimuli: Sequence[Stimulus], *, settings: ListenSettings = _DEFAULTS) -> Results:
    """Return vote counts, listener consistency and, once revealed, the rankings.

    The ranking covers the checkpoints in ``stimuli`` and every vote between two of them.
    Before :func:`reveal`, ``ranking`` and ``ratings`` are empty so nothing names a checkpoint.
    """
    known = catalogue(stimuli)
    state = store.listen.state()
    order = known.checkpoints
    index = {sha: k for k, sha in enumerate(order)}
    ranking: tuple[RankedCheckpoint, ...] = ()
    ratings: tuple[RatedCheckpoint, ...] = ()
    if state.revealed:
        ranking = _ranking(state.voted, known, index, settings)
        ratings = _ratings(state.ratings, known, settings)
    return Results(
        votes=len(state.voted),
        rated_trials=len({row.trial_id for row in state.ratings}),
        revealed=state.revealed,
        refusal=_refusal(state.voted, state.ratings, order, index, settings),
        ranking=ranking,
        ratings=ratings,
        listeners=tuple(
            _listener_stats(name, state.voted, state.ratings, settings) for name in state.listeners
        ),
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
    store.listen.reveal(time.time())
    return results(store, stimuli, settings=settings)


def progress(
    store: Store,
    stimuli: Sequence[Stimulus],
    listener: str | None = None,
    *,
    settings: ListenSettings = _DEFAULTS,
) -> Progress:
    """Return how far the test is (votes, checkpoints short of comparisons), naming no checkpoint."""
    known = catalogue(stimuli)
    name = listener_name(listener) if listener is not None else None
    state = store.listen.state()
    index = {sha: k for k, sha in enumerate(known.checkpoints)}
    comparisons = _comparisons(state.voted, state.ratings, index)
    short = comparisons < settings.min_comparisons
    return Progress(
        votes=len(state.voted),
        listener_votes=sum(p.listener == name for p in state.voted),
        rated_trials=len({row.trial_id for row in state.ratings}),
        checkpoints=len(index),
        checkpoints_short=int(short.sum()),
        min_comparisons=settings.min_comparisons,
        votes_needed=math.ceil(int(np.sum(settings.min_comparisons - comparisons[short])) / 2),
        revealed=state.revealed,
    )


def _comparisons(
    voted: Sequence[VotedPair], ratings: Sequence[RatingRow], index: Mapping[str, int]
) -> np.ndarray:
    """Return each checkpoint's comparisons: paired votes plus rated trials that included it."""
    wins = wins_matrix(voted, index)
    comparisons = (wins + wins.T).sum(axis=1)
    for _, sha in {(row.trial_id, row.sha256) for row in ratings if row.sha256 in index}:
        comparisons[index[sha]] += 1
    return comparisons


def _refusal(
    voted: Sequence[VotedPair],
    ratings: Sequence[RatingRow],
    order: Sequence[str],
    index: Mapping[str, int],
    settings: ListenSettings,
) -> str | None:
    """Return why reveal is not allowed yet, without naming any checkpoint; None when it is."""
    if len(order) < 2:
        return "Reveal needs renders of at least two checkpoints; render more checkpoints first."
    comparisons = _comparisons(voted, ratings, index)
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
    voted: Sequence[VotedPair],
    known: Catalogue,
    index: Mapping[str, int],
    settings: ListenSettings,
) -> tuple[RankedCheckpoint, ...]:
    """Return the Bradley-Terry ranking of the listed checkpoints, best first."""
    wins = wins_matrix(voted, index)
    scores, covariance = bradley_terry(wins, settings.prior_strength)
    z = stats.norm.ppf(0.5 + settings.confidence / 2)
    half_widths = z * np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    games = (wins + wins.T).sum(axis=1)
    p_best = best_probabilities(scores, covariance, settings.best_probability_draws)
    ranked = [
        RankedCheckpoint(
            checkpoint_step=known.steps[sha],
            checkpoint_sha256=sha,
            score=float(scores[k]),
            ci_low=float(scores[k] - half_widths[k]),
            ci_high=float(scores[k] + half_widths[k]),
            comparisons=int(games[k]),
            p_best=round(float(p_best[k]), 4),
        )
        for sha, k in index.items()
    ]
    return tuple(sorted(ranked, key=lambda r: (-r.score, r.checkpoint_step)))


def _ratings(
    ratings: Sequence[RatingRow], known: Catalogue, settings: ListenSettings
) -> tuple[RatedCheckpoint, ...]:
    """Return each checkpoint's mean score over trials (a duplicate counts once), best first."""
    per_trial: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in ratings:
        if row.sha256 in known.steps:
            per_trial[row.trial_id, row.sha256].append(row.score)
    per_checkpoint: dict[str, list[float]] = defaultdict(list)
    for (_, sha), scores in per_trial.items():
        per_checkpoint[sha].append(float(np.mean(scores)))
    rated = []
    errors = []
    for sha, means in per_checkpoint.items():
        mean = float(np.mean(means))
        low = high = None
        if len(means) > 1:
            errors.append(float(stats.sem(means)))
            half = stats.t.ppf(0.5 + settings.confidence / 2, len(means) - 1) * errors[-1]
            low, high = mean - float(half), mean + float(half)
        rated.append(RatedCheckpoint(known.steps[sha], sha, mean, low, high, len(means)))
    if rated and len(errors) == len(rated):
        p_best = best_probabilities(
            np.array([r.mean_score for r in rated]),
            np.diag(np.square(errors)),
            settings.best_probability_draws,
        )
        rated = [
            dataclasses.replace(r, p_best=round(float(p), 4)) for r, p in zip(rated, p_best, strict=True)
        ]
    return tuple(sorted(rated, key=lambda r: (-r.mean_score, r.checkpoint_step)))


def _listener_stats(
    listener: str,
    voted: Sequence[VotedPair],
    ratings: Sequence[RatingRow],
    settings: ListenSettings,
) -> ListenerStats:
    """Return one listener's vote count, repeat consistency and hidden-duplicate agreement."""
    own = {p.id: p for p in voted if p.listener == listener}
    repeats = [(p, own[p.repeat_of]) for p in own.values() if p.repeat_of in own]
    consistent = sum(repeat.winner() == original.winner() for repeat, original in repeats)
    by_trial: dict[str, list[RatingRow]] = defaultdict(list)
    for row in ratings:
        if row.listener == listener:
            by_trial[row.trial_id].append(row)
    diffs = []
    for items in by_trial.values():
        copy = next(row for row in items if row.is_duplicate)
        original = next(row for row in items if row.sha256 == copy.sha256 and not row.is_duplicate)
        diffs.append(abs(copy.score - original.score))
    return ListenerStats(
        listener=listener,
        votes=len(own),
        repeats=len(repeats),
        consistent_repeats=int(consistent),
        trials=len(diffs),
        duplicate_mean_abs_diff=float(np.mean(diffs)) if diffs else None,
        duplicates_within_tolerance=sum(d <= settings.duplicate_tolerance_points for d in diffs),
    )


def best_probabilities(means: np.ndarray, covariance: np.ndarray, draws: int) -> np.ndarray:
    """Return, per item, the probability that it is the best under a normal posterior.

    ``draws`` samples of ``N(means, covariance)`` (a fixed seed: the same votes give the same
    numbers); each item's share of the draws in which it scores highest.

    Example
    -------
    >>> p = best_probabilities(np.array([1.0, 0.0, -1.0]), np.eye(3) * 0.01, 2000)
    >>> [round(float(v), 2) for v in p]
    [1.0, 0.0, 0.0]
    """
    means = np.asarray(means, dtype=float)
    if means.size == 0:
        return np.zeros(0)
    covariance = np.asarray(covariance, dtype=float)
    rng = np.random.default_rng(0)
    samples = rng.multivariate_normal(means, (covariance + covariance.T) / 2, size=draws, method="eigh")
    return np.bincount(np.argmax(samples, axis=1), minlength=means.size) / draws


# -- Bradley-Terry ----------------------------------------------------------------------
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


def wins_matrix(voted: Iterable[VotedPair], index: Mapping[str, int]) -> np.ndarray:
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
