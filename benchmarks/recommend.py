"""How often the recommendation names the simulated truth: the peak, and where overtraining starts.

Run: ``.venv/bin/python benchmarks/recommend.py [--seeds 50] [--votes 120 240] [--checkpoints 8]``.
Each seed draws a true quality curve (``tests/listen_simulation.py``): *peaked* rises to a peak
before the last checkpoint and falls after it; *monotone* rises at every checkpoint by less and
less. Four simulated listeners vote blind through the real scheduler (logistic noise, some "no
difference"), then the test is revealed and :func:`svcqa.listen.recommend.recommend` answers.

Printed per curve and vote count: how often the recommended step is the true peak; how often
``overtraining_from_step`` is exactly the first step at least ``CLEAR_GAP`` below the peak
(``null`` for a monotone curve), and how often it is that step or the next; how often it names a
step where truth has none (false alarm); how often it comes later than truth or misses it; the
median confidence; seconds per test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.listen_simulation import CLEAR_GAP, monotone_curve, peaked_curve, run_test, truth

CURVES = {"peaked": peaked_curve, "monotone": monotone_curve}
SHM = Path("/dev/shm")
"""Votes are one SQLite transaction each: in memory the benchmark measures the statistics, not the disk."""


def _exact_or_next(steps: list[int], step: int | None) -> tuple[int | None, ...]:
    """Return ``step`` and the step after it (just ``(None,)`` when truth has no overtraining)."""
    if step is None:
        return (None,)
    k = steps.index(step)
    return tuple(steps[k : k + 2])


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--votes", type=int, nargs="+", default=[120, 240])
    parser.add_argument("--checkpoints", type=int, default=8)
    args = parser.parse_args()
    steps = [5_000 * (k + 1) for k in range(args.checkpoints)]
    print(
        f"{args.seeds} seeds per row, {args.checkpoints} checkpoints, 4 listeners; clearly worse = {CLEAR_GAP} log-odds"
    )
    header = [
        "curve",
        "votes",
        "peak named",
        "overtraining exact",
        "exact or next step",
        "false alarm",
        "late or missed",
        "median confidence",
        "s/test",
    ]
    print(_row(header))
    print(_row(["---"] * len(header)))
    folder = SHM if SHM.is_dir() else None
    for name, curve in CURVES.items():
        for votes in args.votes:
            peak_hits = exact = near = false_alarm = late = 0
            confidences = []
            started = time.perf_counter()
            for seed in range(args.seeds):
                quality = curve(args.checkpoints, np.random.default_rng(10_000 + seed))
                expected = truth(steps, quality)
                with tempfile.TemporaryDirectory(dir=folder) as work:
                    advice = run_test(Path(work), steps, quality, votes, seed)
                found = advice.recommendation
                peak_hits += found.checkpoint_step == expected.peak_step
                exact += advice.overtraining_from_step == expected.overtraining_step
                near += advice.overtraining_from_step in _exact_or_next(steps, expected.overtraining_step)
                false_alarm += (
                    advice.overtraining_from_step is not None and expected.overtraining_step is None
                )
                late += expected.overtraining_step is not None and (
                    advice.overtraining_from_step is None
                    or advice.overtraining_from_step > expected.overtraining_step
                )
                confidences.append(found.confidence or 0.0)
            per_test_s = (time.perf_counter() - started) / args.seeds
            n = args.seeds
            print(
                _row(
                    [
                        name,
                        str(votes),
                        f"{peak_hits / n:.0%}",
                        f"{exact / n:.0%}",
                        f"{near / n:.0%}",
                        f"{false_alarm / n:.0%}",
                        f"{late / n:.0%}",
                        f"{np.median(confidences):.2f}",
                        f"{per_test_s:.2f}",
                    ]
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
