"""The recommendation (which checkpoint to use, from which step training overtrained) and the
overtraining watch, against simulated listeners with a known truth (``tests.listen_simulation``)
and hand-made rankings, metrics and loss curves."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from svcqa.core.settings import ListenSettings
from svcqa.engines.tb_events import ScalarSeries
from svcqa.listen.checkpoint_metrics import CheckpointMetrics
from svcqa.listen.overtraining import watch
from svcqa.listen.ranking import RankedCheckpoint, RatedCheckpoint, Results
from svcqa.listen.recommend import recommend
from tests.listen_simulation import monotone_curve, peaked_curve, run_test, truth

STEPS = [5_000 * (k + 1) for k in range(8)]
PEAKED = [-2.0, -1.0, 0.0, 1.0, 2.0, 0.0, -0.5, -1.0]
"""True preference: peaks at step 25,000; 30,000 is already clearly worse (2 log-odds below)."""
MONOTONE = [-2.5, -1.5, -0.7, 0.0, 0.6, 1.1, 1.6, 2.6]
"""True preference: every checkpoint better than the one before."""
SETTINGS = ListenSettings()


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A folder for one simulated test: in memory where the system has /dev/shm (a vote is one
    SQLite transaction, on disk several times slower), else ``tmp_path``."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm) as folder:
        yield Path(folder)


def _sha(step: int) -> str:
    return f"{step:064x}"


def _ranked(*rows: tuple[int, float, float, int, float | None]) -> tuple[RankedCheckpoint, ...]:
    """Return a ranking from (step, score, interval half-width, comparisons, p_best) rows, best first."""
    ranked = [RankedCheckpoint(s, _sha(s), v, v - h, v + h, n, p) for s, v, h, n, p in rows]
    return tuple(sorted(ranked, key=lambda r: (-r.score, r.checkpoint_step)))


def _results(ranking: tuple[RankedCheckpoint, ...], revealed: bool = True, ratings=()) -> Results:
    votes = sum(r.comparisons for r in ranking) // 2
    return Results(votes, 0, revealed, None, ranking, tuple(ratings), ())


def _metrics(**by_step: float) -> list[CheckpointMetrics]:
    """Return metric rows with a pitch error (cents, lower is better) per step ``s<step>``."""
    return [
        CheckpointMetrics(int(key[1:]), _sha(int(key[1:])), 2, {"f0_error_cents": value})
        for key, value in by_step.items()
    ]


def _loss(start_step: int, end_step: int, start: float, end: float) -> dict[str, ScalarSeries]:
    steps = tuple(range(start_step, end_step + 1, 200))
    values = tuple(float(v) for v in np.linspace(start, end, len(steps)))
    return {"loss/g/mel": ScalarSeries("loss/g/mel", steps, values, (0.0,) * len(steps))}


# -- simulated listeners --------------------------------------------------------------------
def test_a_preference_peaking_before_the_last_checkpoint_names_the_peak_and_the_first_clearly_worse_step(
    work: Path,
) -> None:
    expected = truth(STEPS, PEAKED)
    assert (expected.peak_step, expected.overtraining_step) == (25_000, 30_000)

    advice = run_test(work, STEPS, PEAKED, votes=240, seed=0)

    found = advice.recommendation
    assert found.checkpoint_step == 25_000 and advice.overtraining_from_step == 30_000
    assert found.basis == "blind_ranking" and found.is_answer
    assert 0.5 < found.confidence <= 1.0
    assert any(
        "From step 30,000 on, checkpoints are clearly worse than it: overtraining" in r for r in found.reasons
    )
    assert advice.to_dict()["recommendation"].keys() == {"checkpoint_step", "basis", "confidence", "reasons"}
    assert advice.to_dict()["overtraining_from_step"] == 30_000


def test_a_monotone_preference_names_the_last_step_and_no_overtraining(work: Path) -> None:
    advice = run_test(work, STEPS, MONOTONE, votes=240, seed=1)

    assert advice.recommendation.checkpoint_step == STEPS[-1]
    assert advice.overtraining_from_step is None
    assert advice.to_dict()["overtraining_from_step"] is None
    assert any("newest checkpoint tested" in r for r in advice.recommendation.reasons)


@pytest.mark.slow
def test_the_recommendation_matches_the_simulated_truth_over_many_seeds(work: Path) -> None:
    seeds = 20
    named = {"peaked": 0, "monotone": 0}
    exact_overtraining = {"peaked": 0, "monotone": 0}
    for name, curve in (("peaked", peaked_curve), ("monotone", monotone_curve)):
        for seed in range(seeds):
            quality = curve(len(STEPS), np.random.default_rng(10_000 + seed))
            expected = truth(STEPS, quality)
            advice = run_test(work / f"{name}{seed}", STEPS, quality, votes=240, seed=seed)
            named[name] += advice.recommendation.checkpoint_step == expected.peak_step
            exact_overtraining[name] += advice.overtraining_from_step == expected.overtraining_step
    rates = {name: hits / seeds for name, hits in named.items()}
    print(
        f"\nrecommendation names the true peak: peaked {rates['peaked']:.0%}, monotone {rates['monotone']:.0%}; "
        f"overtraining_from_step exact: peaked {exact_overtraining['peaked'] / seeds:.0%}, "
        f"monotone (null) {exact_overtraining['monotone'] / seeds:.0%} ({seeds} seeds, 240 votes each)"
    )
    assert rates["peaked"] >= 0.85
    assert rates["monotone"] >= 0.7
    assert exact_overtraining["monotone"] == seeds  # no false alarm on a monotone preference


# -- the rules, on hand-made rankings --------------------------------------------------------
def test_tied_scores_go_to_the_higher_lower_bound_then_the_metrics_then_the_earlier_step() -> None:
    by_interval = _results(
        _ranked((1000, 0.5, 0.6, 9, 0.4), (2000, 0.52, 0.3, 20, 0.5), (3000, -1.0, 0.3, 9, 0.0))
    )
    found = recommend(by_interval, [], {}, SETTINGS).recommendation
    assert found.checkpoint_step == 2000 and any("higher lower bound" in r for r in found.reasons)

    same = _results(_ranked((1000, 0.5, 0.4, 9, 0.45), (2000, 0.5, 0.4, 9, 0.45), (3000, -1.0, 0.4, 9, 0.1)))
    by_metrics = recommend(same, _metrics(s1000=80.0, s2000=20.0, s3000=50.0), {}, SETTINGS).recommendation
    assert by_metrics.checkpoint_step == 2000 and any(
        "objective metrics rank it higher" in r for r in by_metrics.reasons
    )
    by_step = recommend(same, [], {}, SETTINGS).recommendation
    assert by_step.checkpoint_step == 1000 and any("earlier step" in r for r in by_step.reasons)

    clear = _results(_ranked((1000, 0.2, 0.4, 9, 0.3), (2000, 0.3, 0.4, 9, 0.7), (3000, -1.0, 0.4, 9, 0.0)))
    assert recommend(clear, [], {}, SETTINGS).recommendation.checkpoint_step == 2000  # 0.1 apart: no tie


def test_overtraining_starts_at_the_first_later_step_whose_interval_lies_below() -> None:
    ranking = _ranked(
        (1000, -1.5, 0.3, 12, 0.0),
        (2000, 1.0, 0.3, 12, 0.8),
        (3000, 0.6, 0.3, 12, 0.2),  # overlaps the peak: not clearly worse
        (4000, 0.1, 0.3, 12, 0.0),  # 0.4 above 0.7: apart
        (5000, -0.8, 0.3, 12, 0.0),
    )
    advice = recommend(_results(ranking), [], {}, SETTINGS)
    assert advice.recommendation.checkpoint_step == 2000 and advice.overtraining_from_step == 4000
    assert any("could not tell step 3,000 from it" in r for r in advice.recommendation.reasons)
    assert advice.recommendation.confidence == 0.8


def test_ratings_decide_when_there_are_too_few_paired_votes() -> None:
    ranking = _ranked((1000, 0.0, 2.0, 0, 0.3), (2000, 0.0, 2.0, 0, 0.3), (3000, 0.0, 2.0, 0, 0.3))
    ratings = [
        RatedCheckpoint(1000, _sha(1000), 40.0, 35.0, 45.0, 4, 0.0),
        RatedCheckpoint(2000, _sha(2000), 72.0, 67.0, 77.0, 4, 0.97),
        RatedCheckpoint(3000, _sha(3000), 55.0, 50.0, 60.0, 4, 0.03),
    ]
    advice = recommend(_results(ranking, ratings=ratings), [], {}, SETTINGS)
    assert advice.recommendation.checkpoint_step == 2000 and advice.recommendation.basis == "blind_ratings"
    assert advice.recommendation.confidence == 0.97 and advice.overtraining_from_step == 3000


def test_before_reveal_or_with_too_few_votes_only_the_shortlist_basis_is_given_labelled_as_such() -> None:
    ranking = _ranked((1000, -0.5, 1.5, 2, 0.2), (2000, 0.5, 1.5, 2, 0.5), (3000, 0.0, 1.5, 2, 0.3))
    metrics = _metrics(s1000=90.0, s2000=40.0, s3000=30.0, s4000=35.0, s5000=45.0)
    loss = _loss(0, 5000, 30.0, 24.0)
    for results in (
        _results((), revealed=False),
        _results(ranking),
    ):  # hidden; revealed with 2 comparisons each
        advice = recommend(results, metrics, loss, SETTINGS)
        found = advice.recommendation
        assert found.basis == "shortlist" and not found.is_answer
        assert found.checkpoint_step == 3000 and found.confidence is None
        assert advice.overtraining_from_step is None
        assert any(r.startswith("Shortlist basis, not a listening result") for r in found.reasons)
        assert any("pitch error" in r for r in found.reasons)
    assert any(
        "not revealed yet" in r
        for r in recommend(_results((), revealed=False), metrics, loss, SETTINGS).recommendation.reasons
    )
    assert any(
        "Too few blind judgements" in r
        for r in recommend(_results(ranking), metrics, loss, SETTINGS).recommendation.reasons
    )

    nothing = recommend(_results((), revealed=False), [], {}, SETTINGS).recommendation
    assert (nothing.checkpoint_step, nothing.basis, nothing.confidence) == (None, "none", None)
    assert any("measure the renders" in r for r in nothing.reasons)


# -- the overtraining watch ------------------------------------------------------------------
def test_the_watch_speaks_when_the_metrics_stall_while_the_loss_keeps_falling() -> None:
    stalled = _metrics(s1000=90.0, s2000=40.0, s3000=45.0, s4000=50.0, s5000=42.0)
    found = watch(stalled, _loss(0, 5000, 30.0, 24.0), SETTINGS)
    assert found.stalled and found.best_step == 2000 and found.evaluations_since_best == 3
    assert found.loss_tag == "loss/g/mel" and found.loss_drop == pytest.approx(3.6 / 27.6)
    assert "since step 2,000" in found.message() and "start the blind listening test" in found.message()
    assert not re.search(r"\d", found.message(blind=True))  # no step, no figure

    assert not watch(stalled, _loss(0, 5000, 30.0, 29.9), SETTINGS).stalled  # the loss is flat too
    assert not watch(stalled, {}, SETTINGS).stalled  # no loss logged
    improving = _metrics(s1000=90.0, s2000=40.0, s3000=35.0, s4000=30.0, s5000=25.0)
    assert not watch(improving, _loss(0, 5000, 30.0, 24.0), SETTINGS).stalled
    early = _metrics(s1000=90.0, s2000=40.0, s3000=45.0, s4000=50.0)  # two evaluations since the best
    assert watch(early, _loss(0, 4000, 30.0, 24.0), SETTINGS).evaluations_since_best == 2
    assert not watch(early, _loss(0, 4000, 30.0, 24.0), SETTINGS).stalled
    assert watch(early, _loss(0, 4000, 30.0, 24.0), ListenSettings(watch_evaluations=2)).stalled
