"""Loss curves from TensorBoard event files, read with TensorBoard's own reader, and its smoothing.

so-vits-svc-fork logs every scalar (``loss/g/total``, ``loss/g/mel``, ``loss/d/total``, ``lr``,
``grad_norm_g`` ...) into ``logs/44k/lightning_logs/version_<n>/events.out.tfevents.*`` at the
step it names checkpoints by. A resumed run appends a new event file; when it went back to an
earlier step (the previous run died after its last checkpoint), the points it overwrites are
dropped, as TensorBoard does.

Example
-------
>>> smooth([1.0, 1.0, 4.0], weight=0.5).round(3).tolist()
[1.0, 1.0, 2.714]
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EVENT_FILE_GLOB = "events.out.tfevents.*"
SKIPPED_TAGS = frozenset({"hp_metric"})
"""Lightning's placeholder metric: a single -1, not a curve."""


@dataclass(frozen=True)
class ScalarSeries:
    """One scalar tag over training: steps, values and wall-clock times (seconds since the epoch)."""

    tag: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    wall_times_s: tuple[float, ...]

    @property
    def last_value(self) -> float | None:
        """Return the newest value, or None for an empty series."""
        return self.values[-1] if self.values else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (non-finite values as None)."""
        return {
            "tag": self.tag,
            "steps": list(self.steps),
            "values": [v if math.isfinite(v) else None for v in self.values],
            "wall_times_s": list(self.wall_times_s),
        }


def event_dirs(root: Path) -> list[Path]:
    """Return the folders under ``root`` (itself included) that hold event files, oldest run first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = {path.parent for path in root.rglob(EVENT_FILE_GLOB) if path.is_file()}
    return sorted(found, key=_natural_key)


def _natural_key(path: Path) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix()))


class ScalarReader:
    """Reads the scalars of every event folder under ``root``, incrementally.

    Keep one reader per run (the Train page caches it): each :meth:`reload` parses only what
    was appended since the last one, so a long run's curves refresh cheaply.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._accumulators: dict[Path, Any] = {}
        self._lock = threading.Lock()  # one reader may serve several browser sessions

    def reload(self) -> dict[str, ScalarSeries]:
        """Return every scalar tag's series (loss tags first), after reading new events."""
        with self._lock:
            return self._reload()

    def _reload(self) -> dict[str, ScalarSeries]:
        from tensorboard.backend.event_processing import event_accumulator as ea

        keep_one = 1
        guidance = {
            ea.SCALARS: 0,  # all of them
            ea.IMAGES: keep_one,
            ea.AUDIO: keep_one,
            ea.HISTOGRAMS: keep_one,
            ea.COMPRESSED_HISTOGRAMS: keep_one,
            ea.TENSORS: keep_one,
        }
        for folder in event_dirs(self.root):
            if folder not in self._accumulators:
                self._accumulators[folder] = ea.EventAccumulator(str(folder), size_guidance=guidance)
        events: dict[str, list[Any]] = {}
        for folder in sorted(self._accumulators, key=_natural_key):
            accumulator = self._accumulators[folder]
            accumulator.Reload()
            for tag in accumulator.Tags().get("scalars", []):
                if tag not in SKIPPED_TAGS:
                    events.setdefault(tag, []).extend(accumulator.Scalars(tag))
        series = {tag: _series(tag, _drop_overwritten(found)) for tag, found in events.items()}
        return {tag: series[tag] for tag in sorted(series, key=tag_order)}


def read_scalars(root: Path) -> dict[str, ScalarSeries]:
    """Return every scalar tag's series from the event files under ``root`` (one full read)."""
    return ScalarReader(root).reload()


def tag_order(tag: str) -> tuple[int, str]:
    """Return a sort key that puts generator losses, then discriminator losses, then the rest."""
    rank = 0 if tag.startswith("loss/g/") else 1 if tag.startswith("loss/") else 2
    return rank, tag


def _drop_overwritten(events: Iterable[Any]) -> list[Any]:
    """Return ``events`` without the points a later restart at an earlier step overwrote."""
    kept: list[Any] = []
    for event in events:
        while kept and kept[-1].step >= event.step:
            kept.pop()
        kept.append(event)
    return kept


def _series(tag: str, events: Sequence[Any]) -> ScalarSeries:
    return ScalarSeries(
        tag=tag,
        steps=tuple(int(e.step) for e in events),
        values=tuple(float(e.value) for e in events),
        wall_times_s=tuple(float(e.wall_time) for e in events),
    )


def smooth(values: Sequence[float] | np.ndarray, weight: float) -> np.ndarray:
    """Return ``values`` smoothed the way TensorBoard's slider does (debiased EMA).

    Parameters
    ----------
    values : sequence of float
        A curve; non-finite values pass through unsmoothed and do not disturb the average.
    weight : float in [0, 1)
        TensorBoard's smoothing slider: 0 leaves the curve as it is, 0.99 is very smooth.

    The average starts at 0 and is divided by ``1 - weight**n`` (``n`` finite points so far), so
    the first points are not pulled towards zero; a constant curve stays constant.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    data = np.asarray(values, dtype=float)
    out = data.copy()
    finite = data[np.isfinite(data)]
    if weight == 0.0 or finite.size == 0 or np.all(finite == finite[0]):
        return out
    last = 0.0
    count = 0
    for i, value in enumerate(data):
        if not math.isfinite(value):
            continue
        last = last * weight + (1.0 - weight) * value
        count += 1
        out[i] = last / (1.0 - weight**count)
    return out
