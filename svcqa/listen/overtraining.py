"""The overtraining watch: the objective metrics of the newest checkpoints stopped improving while
the training loss keeps falling.

That is how overtraining looks from outside: the model goes on fitting its training clips (the
loss falls) but no longer sings better (the metrics of its renders stay put or get worse). The
watch only says so and suggests the blind test, which decides; it never stops a run.

"Improving" is the mean rank over the metrics (:func:`svcqa.listen.checkpoint_metrics.metric_scores`):
the watch fires when the newest ``watch_evaluations`` measured checkpoints in a row did not beat
the best one before them, and the loss's robust (Theil-Sen) trend fell by at least
``watch_min_loss_drop`` since that best checkpoint.

Example
-------
>>> from svcqa.core.settings import ListenSettings
>>> from svcqa.engines.tb_events import ScalarSeries
>>> rows = [CheckpointMetrics(s, f"{s:064x}", 1, {"f0_error_cents": e})
...         for s, e in ((1000, 90.0), (2000, 30.0), (3000, 40.0), (4000, 45.0), (5000, 50.0))]
>>> steps = tuple(range(0, 5001, 100))
>>> loss = ScalarSeries("loss/g/mel", steps, tuple(30.0 - s / 1000 for s in steps), (0.0,) * len(steps))
>>> found = watch(rows, {"loss/g/mel": loss}, ListenSettings())
>>> found.stalled, found.best_step, found.evaluations_since_best, round(found.loss_drop, 2)
(True, 2000, 3, 0.11)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from svcqa.core.records import Record
from svcqa.core.settings import ListenSettings
from svcqa.engines.tb_events import ScalarSeries
from svcqa.listen.checkpoint_metrics import CheckpointMetrics, metric_scores

MIN_LOSS_POINTS = 3
"""A trend needs at least this many logged loss values."""


@dataclass(frozen=True)
class OvertrainingWatch(Record):
    """What the watch saw: where the metrics last improved and how the loss moved since."""

    stalled: bool
    """The metrics stopped improving for ``watch_evaluations`` checkpoints while the loss kept falling."""
    best_step: int | None
    """The measured checkpoint with the best metrics (the last improvement); None with fewer than two."""
    evaluations_since_best: int
    """Measured checkpoints after ``best_step``."""
    loss_tag: str | None
    """The loss followed; None when the run logged none of ``watch_loss_tags``."""
    loss_drop: float | None
    """Relative fall of the loss's trend from ``best_step`` to its newest value (0.05 = 5 %); None
    without enough loss values since ``best_step``."""

    def message(self, *, blind: bool = False) -> str:
        """Return the watch's finding in words; ``blind`` leaves out every step and figure."""
        if not self.stalled:
            return ""
        if blind:
            return (
                "The objective metrics of the newest checkpoints stopped improving while the loss keeps "
                "falling: a good time to start the blind listening test. Training goes on until you stop it."
            )
        return (
            f"The objective metrics have not improved for {self.evaluations_since_best} evaluations since "
            f"step {self.best_step:,}, while {self.loss_tag} fell {self.loss_drop:.0%}: the model may be "
            "starting to overtrain. Render the newest checkpoints and start the blind listening test; "
            "training goes on until you stop it."
        )


def watch(
    rows: Sequence[CheckpointMetrics], series: Mapping[str, ScalarSeries], settings: ListenSettings
) -> OvertrainingWatch:
    """Return whether the metrics of ``rows`` stopped improving while the loss in ``series`` falls."""
    scores = metric_scores(rows)
    measured = sorted(
        (r for r in rows if scores[r.checkpoint_sha256] is not None), key=lambda r: r.checkpoint_step
    )
    tag = next((t for t in settings.watch_loss_tags if t in series and series[t].steps), None)
    if len(measured) < 2:
        return OvertrainingWatch(False, None, 0, tag, None)
    values = [scores[r.checkpoint_sha256] for r in measured]
    best = int(np.argmax(values))  # the first of equals: a later equal score is no improvement
    since = len(measured) - 1 - best
    best_step = measured[best].checkpoint_step
    drop = _trend_drop(series[tag], best_step) if tag is not None else None
    stalled = (
        since >= settings.watch_evaluations and drop is not None and drop >= settings.watch_min_loss_drop
    )
    return OvertrainingWatch(stalled, best_step, since, tag, drop)


def _trend_drop(curve: ScalarSeries, from_step: int) -> float | None:
    """Return how much the Theil-Sen trend of ``curve`` fell from ``from_step`` to its last step, relative."""
    points = [
        (s, v) for s, v in zip(curve.steps, curve.values, strict=True) if s >= from_step and np.isfinite(v)
    ]
    if len(points) < MIN_LOSS_POINTS or points[-1][0] == points[0][0]:
        return None
    steps, values = (np.array(column, dtype=float) for column in zip(*points, strict=True))
    slope, intercept, _, _ = stats.theilslopes(values, steps)
    start, end = intercept + slope * steps[0], intercept + slope * steps[-1]
    if start == 0:
        return None
    return float((start - end) / abs(start))
