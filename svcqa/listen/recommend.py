"""Which checkpoint to use, and from which step training overtrained: the blind test, the
objective metrics and the loss combined into one answer with its reasons.

After reveal, with every checkpoint in at least ``min_comparisons`` blind judgements, the answer
is the best checkpoint of the blind ranking (paired votes; the ratings when there are no paired
votes enough). Scores closer than the tie margin are broken by the interval (the higher lower
bound: surer to be good), then by the objective metrics, then by the earlier step. Overtraining
starts at the first later step whose whole interval lies below the chosen one's; it is None
when no later step is clearly worse. ``confidence`` is the probability that the chosen
checkpoint is the best of those compared (:func:`svcqa.listen.ranking.best_probabilities`).

Before reveal, or with too few blind judgements, there is no answer: the recommendation then
gives the shortlist basis, the checkpoint the objective metrics rank best with the loss's
overtraining watch beside it, labelled ``"shortlist"`` and with no confidence.

Example
-------
>>> from svcqa.listen.ranking import RankedCheckpoint, Results
>>> ranked = tuple(RankedCheckpoint(s, f"{s:064x}", v, v - 0.4, v + 0.4, 12, p)
...                for s, v, p in ((3000, 1.2, 0.9), (2000, 0.5, 0.1), (4000, -0.6, 0.0), (1000, -1.1, 0.0)))
>>> found = recommend(Results(48, 0, True, None, ranked, (), ()), [], {}, ListenSettings())
>>> found.recommendation.checkpoint_step, found.recommendation.basis, found.overtraining_from_step
(3000, 'blind_ranking', 4000)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from svcqa.core.settings import ListenSettings, Settings
from svcqa.core.workspace import Workspace
from svcqa.engines.tb_events import ScalarSeries
from svcqa.listen.checkpoint_metrics import METRIC_LABELS, CheckpointMetrics, MetricsReference, metric_scores
from svcqa.listen.overtraining import watch
from svcqa.listen.ranking import Results
from svcqa.listen.stimuli import Stimulus

BASES: dict[str, str] = {
    "blind_ranking": "the blind paired votes",
    "blind_ratings": "the blind ratings (MUSHRA-like)",
    "shortlist": "shortlist basis (objective metrics and loss), not a listening result",
    "none": "nothing to go on yet",
}
"""Basis of a recommendation -> what it rests on, in words."""
BLIND_BASES = frozenset({"blind_ranking", "blind_ratings"})


@dataclass(frozen=True)
class Recommendation:
    """The checkpoint to use, what the choice rests on, how sure it is and why."""

    checkpoint_step: int | None
    """None when nothing can be recommended yet."""
    basis: str
    """A key of :data:`BASES`."""
    confidence: float | None
    """Probability (0-1) that it is the best checkpoint compared; None on the shortlist basis."""
    reasons: tuple[str, ...]
    checkpoint_sha256: str | None = field(default=None, repr=False)
    """Which checkpoint of that step (for the export); not in :meth:`to_dict`."""

    @property
    def is_answer(self) -> bool:
        """Return True when the listeners chose it (a blind basis), False for the shortlist basis."""
        return self.basis in BLIND_BASES

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"checkpoint_step", "basis", "confidence", "reasons"}``."""
        return {
            "checkpoint_step": self.checkpoint_step,
            "basis": self.basis,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Advice:
    """The recommendation and the step overtraining starts from (None when the evidence shows none)."""

    recommendation: Recommendation
    overtraining_from_step: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return the keys ``listen results --json`` adds: ``recommendation``, ``overtraining_from_step``."""
        return {
            "recommendation": self.recommendation.to_dict(),
            "overtraining_from_step": self.overtraining_from_step,
        }


@dataclass(frozen=True)
class _Judged:
    """One checkpoint's blind judgement on either scale (Bradley-Terry score or mean rating)."""

    step: int
    sha256: str
    score: float
    low: float
    high: float
    p_best: float | None


def recommend(
    results: Results,
    metrics: Sequence[CheckpointMetrics],
    series: Mapping[str, ScalarSeries],
    settings: ListenSettings,
) -> Advice:
    """Return the checkpoint to use and where overtraining starts, with the reasons.

    ``metrics`` are the test's checkpoints' objective metrics (tie-break, shortlist basis) and
    ``series`` the run's loss curves (the overtraining watch of the shortlist basis).
    """
    scores = metric_scores(metrics)
    paired = _paired(results, settings)
    if paired:
        return _blind("blind_ranking", paired, scores, settings.tie_log_strength, settings)
    rated = _rated(results, settings)
    if rated:
        return _blind("blind_ratings", rated, scores, settings.tie_rating_points, settings)
    return Advice(_shortlist(results, metrics, scores, series, settings), None)


def advise(
    ws: Workspace,
    results: Results,
    stimuli: Sequence[Stimulus],
    settings: Settings,
    reference: MetricsReference | None = None,
    series: Mapping[str, ScalarSeries] | None = None,
) -> Advice:
    """Return :func:`recommend` for the workspace: the stimuli's cached metrics and the run's loss.

    Nothing is measured here; ``reference`` defaults to the dataset's (:func:`dataset_reference`),
    ``series`` to the loss curves read from ``logs/44k``.
    """
    from svcqa.engines.tb_events import read_scalars
    from svcqa.listen.checkpoint_metrics import cached_metrics, dataset_reference, per_checkpoint

    reference = reference if reference is not None else dataset_reference(ws, settings)
    rows = per_checkpoint(stimuli, cached_metrics(ws, stimuli, reference, settings))
    series = series if series is not None else read_scalars(ws.logs_44k)
    return recommend(results, rows, series, settings.listen)


def _paired(results: Results, settings: ListenSettings) -> list[_Judged]:
    """Return the paired ranking when revealed and every checkpoint had enough paired comparisons."""
    ranked = results.ranking
    if (
        not results.revealed
        or len(ranked) < 2
        or any(r.comparisons < settings.min_comparisons for r in ranked)
    ):
        return []
    return [
        _Judged(r.checkpoint_step, r.checkpoint_sha256, r.score, r.ci_low, r.ci_high, r.p_best)
        for r in ranked
    ]


def _rated(results: Results, settings: ListenSettings) -> list[_Judged]:
    """Return the ratings when revealed and every checkpoint of the test was rated in enough trials."""
    rated = results.ratings
    tested = {r.checkpoint_sha256 for r in results.ranking}
    if (
        not results.revealed
        or len(rated) < 2
        or {r.checkpoint_sha256 for r in rated} != tested
        or any(r.trials < settings.min_comparisons or r.ci_low is None or r.ci_high is None for r in rated)
    ):
        return []
    return [
        _Judged(
            r.checkpoint_step,
            r.checkpoint_sha256,
            r.mean_score,
            float(r.ci_low or 0),
            float(r.ci_high or 0),
            r.p_best,
        )
        for r in rated
    ]


def _blind(
    basis: str,
    judged: list[_Judged],
    scores: Mapping[str, float | None],
    tie: float,
    settings: ListenSettings,
) -> Advice:
    """Return the advice of a blind ranking or rating."""
    top = max(j.score for j in judged)

    def order(j: _Judged) -> tuple[float, float, int]:
        return (-j.low, -_metric_score(j.sha256, scores), j.step)

    tied = sorted((j for j in judged if top - j.score <= tie), key=order)
    chosen = tied[0]
    by_step = sorted(judged, key=lambda j: j.step)
    worse = next((j.step for j in by_step if j.step > chosen.step and j.high < chosen.low), None)
    overlapping = [
        j.step for j in by_step if j is not chosen and j.high >= chosen.low and j.low <= chosen.high
    ]
    reasons = [_evidence(basis, chosen, judged)]
    if chosen.p_best is not None:
        verdict = (
            "the listeners singled it out"
            if chosen.p_best >= settings.confident_p_best
            else "not sure yet: more votes would sharpen it"
        )
        reasons.append(
            f"Probability it is the best of the {len(judged)} checkpoints compared: {chosen.p_best:.0%} ({verdict})."
        )
    if len(tied) > 1:
        others = _steps(sorted(j.step for j in tied[1:]))
        reasons.append(
            f"{others.capitalize()} scored the same (within {tie:g}); {_tie_break(chosen, tied[1], scores)}."
        )
    if overlapping:
        reasons.append(
            f"The listeners could not tell {_steps(overlapping)} from it (intervals overlap): "
            f"{'they sound' if len(overlapping) > 1 else 'it sounds'} about as good."
        )
    else:
        reasons.append("Every other checkpoint is clearly worse (intervals apart).")
    if worse is not None:
        reasons.append(f"From step {worse:,} on, checkpoints are clearly worse than it: overtraining.")
    elif chosen.step == by_step[-1].step:
        reasons.append("It is the newest checkpoint tested: more training may still improve it.")
    else:
        reasons.append("No later checkpoint is clearly worse: no overtraining shows yet.")
    rank = _metric_rank(chosen.sha256, scores)
    if rank is not None:
        reasons.append(
            f"The objective metrics rank it {rank[0]} of {rank[1]} (screens, not the ears' verdict)."
        )
    recommendation = Recommendation(chosen.step, basis, chosen.p_best, tuple(reasons), chosen.sha256)
    return Advice(recommendation, worse)


def _steps(steps: Sequence[int]) -> str:
    """Return "step 2,000" or "steps 2,000, 3,000 and 4,000".

    Example
    -------
    >>> _steps([2, 6, 8])
    'steps 2, 6 and 8'
    """
    named = [f"{s:,}" for s in steps]
    if len(named) == 1:
        return f"step {named[0]}"
    return f"steps {', '.join(named[:-1])} and {named[-1]}"


def _evidence(basis: str, chosen: _Judged, judged: Sequence[_Judged]) -> str:
    """Return the sentence stating the blind judgement the choice rests on."""
    if basis == "blind_ranking":
        return (
            f"The blind paired votes rank it first of {len(judged)}: score {chosen.score:+.2f} "
            f"(95% {chosen.low:+.2f} to {chosen.high:+.2f})."
        )
    return (
        f"The blind ratings rank it first of {len(judged)}: mean {chosen.score:.0f} of 100 "
        f"(95% {chosen.low:.0f} to {chosen.high:.0f}); too few paired votes for a ranking."
    )


def _tie_break(chosen: _Judged, runner_up: _Judged, scores: Mapping[str, float | None]) -> str:
    """Return which rule put ``chosen`` before ``runner_up``, its tie in blind score."""
    if chosen.low != runner_up.low:
        return "it has the higher lower bound (surer to be good)"
    if _metric_score(chosen.sha256, scores) != _metric_score(runner_up.sha256, scores):
        return "the objective metrics rank it higher"
    return "it is the earlier step"


def _metric_score(sha256: str, scores: Mapping[str, float | None]) -> float:
    """Return a checkpoint's metric score (0-1), or -1 without one (it sorts last)."""
    found = scores.get(sha256)
    return -1.0 if found is None else found


def _metric_rank(sha256: str, scores: Mapping[str, float | None]) -> tuple[int, int] | None:
    """Return (rank, out of) of a checkpoint by the metrics' mean rank; None when it has none."""
    measured = {sha: s for sha, s in scores.items() if s is not None}
    if sha256 not in measured:
        return None
    return 1 + sum(s > measured[sha256] for s in measured.values()), len(measured)


def _shortlist(
    results: Results,
    metrics: Sequence[CheckpointMetrics],
    scores: Mapping[str, float | None],
    series: Mapping[str, ScalarSeries],
    settings: ListenSettings,
) -> Recommendation:
    """Return the shortlist basis: the checkpoint the objective metrics rank best, and why it is not an answer."""
    why_not = (
        "The blind test is not revealed yet: only the listeners' verdict is an answer."
        if not results.revealed
        else f"Too few blind judgements for an answer: every checkpoint needs {settings.min_comparisons} "
        "paired comparisons, or that many rated trials."
    )
    measured = [r for r in metrics if scores.get(r.checkpoint_sha256) is not None]
    if not measured:
        return Recommendation(
            None,
            "none",
            None,
            (
                why_not,
                "No objective metrics yet: measure the renders (Listen page, Train page or `svcqa metrics`).",
            ),
        )
    best = max(measured, key=lambda r: (scores[r.checkpoint_sha256], -r.checkpoint_step))
    used = sorted(
        {METRIC_LABELS[name] for r in measured for name, value in r.values.items() if value is not None}
    )
    reasons = [
        why_not,
        f"Shortlist basis, not a listening result: the objective metrics ({', '.join(used)}) rank step "
        f"{best.checkpoint_step:,} best of {len(measured)} checkpoints.",
    ]
    found = watch(metrics, series, settings)
    if found.stalled:
        reasons.append(found.message())
    elif found.loss_tag is not None:
        reasons.append(
            f"The loss ({found.loss_tag}) cannot choose a checkpoint: it keeps falling while a model overtrains."
        )
    return Recommendation(best.checkpoint_step, "shortlist", None, tuple(reasons), best.checkpoint_sha256)
