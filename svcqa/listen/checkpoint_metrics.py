"""Objective metrics of the listening test's renders, cached per render and summed up per checkpoint.

The blind test decides; these numbers help in two places only:

* before reveal they may choose which checkpoints enter the test (:func:`most_promising`: the
  N best by their mean rank over the metrics), and nothing of them is shown per render or per
  checkpoint, so they cannot steer a listener;
* after reveal they are shown per checkpoint beside the blind ranking, each with its Spearman
  rank correlation to it (:func:`agreement`), stated with the p-value and the number of
  checkpoints: with five checkpoints even a correlation of 0.8 is weak evidence, and a metric
  that disagrees with the ears says so.

Each render's metrics (:func:`svcqa.listen.render_metrics.render_metrics` against its source excerpt)
are stored in the workspace database (``render_metrics``), keyed by the render id and a hash of
what they depend on: the dataset's voice centroid and singing range, the voice and pitch
settings and :data:`METRICS_VERSION`. Computing them costs a few seconds per render; reading
them back costs nothing.

Example
-------
>>> rows = [CheckpointMetrics(s, f"{s:064x}", 1, {"voice_similarity": v, "f0_error_cents": e})
...         for s, v, e in ((1000, 0.70, 80.0), (2000, 0.85, 30.0), (3000, 0.80, 35.0))]
>>> [int(sha, 16) for sha in most_promising(rows, 2)]
[2000, 3000]
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from svcqa.audio.decode import read
from svcqa.core.files import json_hash
from svcqa.core.records import Record
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace
from svcqa.listen.ranking import RankedCheckpoint
from svcqa.listen.render_metrics import METRIC_NAMES, RENDER_SAMPLE_RATE_HZ, RenderMetrics
from svcqa.listen.stimuli import Stimulus

METRICS_VERSION = 1
"""Part of the cache key: raise it when a change here changes a render's numbers."""
HIGHER_IS_BETTER: dict[str, bool] = {
    "voice_similarity": True,
    "f0_error_cents": False,
    "voicing_mismatch": False,
    "high_note_hnr_db": True,
    "dnsmos_ovrl": True,
    "dnsmos_sig": True,
}
METRIC_LABELS: dict[str, str] = {
    "voice_similarity": "voice similarity",
    "f0_error_cents": "pitch error (cents)",
    "voicing_mismatch": "voicing mismatch",
    "high_note_hnr_db": "high-note HNR (dB)",
    "dnsmos_ovrl": "DNSMOS overall (speech-trained)",
    "dnsmos_sig": "DNSMOS signal (speech-trained)",
}
MIN_CHECKPOINTS_FOR_CORRELATION = 3

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class MetricsReference:
    """What every render is measured against: the dataset's voice centroid and singing range.

    Either may be None (no dataset, too few embedded clips, no voiced singing); the metrics that
    need it are then None with the reason.
    """

    centroid: tuple[float, ...] | None
    range_midi: tuple[float, float] | None

    def key(self, settings: Settings) -> str:
        """Return the cache key (16 hex) of metrics measured against this reference with ``settings``."""
        data = {
            "version": METRICS_VERSION,
            "centroid": self.centroid,
            "range_midi": self.range_midi,
            "voice": asdict(settings.voice),
            "pitch": asdict(settings.pitch),
        }
        return json_hash(data, chars=16)


@dataclass(frozen=True)
class CheckpointMetrics:
    """A checkpoint's metrics: each the mean over its renders that have a value (None when none has)."""

    checkpoint_step: int
    checkpoint_sha256: str
    renders: int
    values: Mapping[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: step, hash, renders and one key per metric."""
        return {
            "checkpoint_step": self.checkpoint_step,
            "checkpoint_sha256": self.checkpoint_sha256,
            "renders": self.renders,
            **{name: self.values.get(name) for name in METRIC_NAMES},
        }


@dataclass(frozen=True)
class MetricAgreement(Record):
    """How well one metric's order of the checkpoints matches the blind ranking."""

    metric: str
    rho: float | None
    """Spearman correlation of the metric (turned so higher means better) with the blind score."""
    p_value: float | None
    checkpoints: int
    """Checkpoints with both a value and a blind score."""
    statement: str
    """The result in words, with its uncertainty."""


def dataset_reference(ws: Workspace, settings: Settings) -> MetricsReference:
    """Return the voice centroid and singing range of the workspace's dataset (its cached audit).

    The prepared ``dataset_raw`` is used when it holds audio, else ``recordings``; without
    either both are None.
    """
    from svcqa.dataset.run import audit_dataset

    folder = next((f for f in (ws.dataset_raw, ws.recordings) if ws.has_audio(f)), None)
    if folder is None:
        return MetricsReference(None, None)
    summary = audit_dataset(folder, settings, with_voice=True).summary
    centroid = (summary.get("voice_consistency") or {}).get("centroid")
    span = summary.get("pitch_range") or {}
    low, high = span.get("range_low_midi"), span.get("range_high_midi")
    return MetricsReference(
        tuple(float(v) for v in centroid) if centroid else None,
        (float(low), float(high)) if low is not None and high is not None else None,
    )


def cached_metrics(
    ws: Workspace, stimuli: Iterable[Stimulus], reference: MetricsReference, settings: Settings
) -> dict[str, RenderMetrics]:
    """Return render id -> stored metrics for the stimuli measured before with this reference."""
    stored = ws.store().render_metrics.get_many([s.render_id for s in stimuli], reference.key(settings))
    return {render_id: RenderMetrics.from_dict(data) for render_id, data in stored.items()}


def measure_renders(
    ws: Workspace,
    stimuli: Sequence[Stimulus],
    reference: MetricsReference,
    settings: Settings,
    progress: ProgressCallback | None = None,
) -> dict[str, RenderMetrics]:
    """Return render id -> metrics of every stimulus, measuring and storing those not cached.

    A render whose source excerpt is gone or changed gets metrics of None with the reason, and
    is not stored (it is measured again once the excerpt is back).
    """
    from svcqa.listen.excerpts import ExcerptError, known_excerpts, read_excerpt
    from svcqa.listen.render_metrics import render_metrics

    report = progress or (lambda _f, _m: None)
    found = cached_metrics(ws, stimuli, reference, settings)
    todo = [s for s in stimuli if s.render_id not in found]
    excerpts = known_excerpts(ws)
    transposes = _render_transposes(ws, [s.render_id for s in todo])
    sources: dict[str, np.ndarray | ExcerptError] = {}
    key = reference.key(settings)
    cache = ws.store().render_metrics
    for k, stim in enumerate(todo):
        report(k / max(len(todo), 1), f"Measuring render {k + 1} of {len(todo)}")
        if stim.excerpt_id not in sources:
            excerpt = excerpts.get(stim.excerpt_id)
            try:
                if excerpt is None:
                    raise ExcerptError("the excerpt of this render is no longer known")
                sources[stim.excerpt_id] = read_excerpt(ws, excerpt, RENDER_SAMPLE_RATE_HZ)
            except ExcerptError as exc:
                sources[stim.excerpt_id] = exc
        source = sources[stim.excerpt_id]
        if isinstance(source, ExcerptError):
            found[stim.render_id] = RenderMetrics(
                *(None,) * len(METRIC_NAMES), reasons=dict.fromkeys(METRIC_NAMES, str(source))
            )
            continue
        metrics = render_metrics(
            _read_16k(stim.path),
            source,
            transposes.get(stim.render_id, 0.0),
            reference.centroid,
            reference.range_midi,
            settings.voice,
            settings.pitch,
        )
        cache.put(stim.render_id, key, metrics.to_dict(), time.time())
        found[stim.render_id] = metrics
    report(1.0, f"Measured {len(todo)} renders ({len(stimuli) - len(todo)} cached)")
    return found


def _read_16k(path: Path) -> np.ndarray:
    """Return the file as mono float32 at 16 kHz."""
    return read(path, RENDER_SAMPLE_RATE_HZ, mono=True)[0]


def _render_transposes(ws: Workspace, render_ids: Sequence[str]) -> dict[str, float]:
    """Return render id -> the transpose (semitones) it was rendered with."""
    settings = ws.store().render_metrics.render_settings(render_ids)
    return {render_id: float(data.get("transpose_semitones", 0.0)) for render_id, data in settings.items()}


def per_checkpoint(
    stimuli: Iterable[Stimulus], metrics: Mapping[str, RenderMetrics]
) -> list[CheckpointMetrics]:
    """Return each checkpoint's mean metrics over its measured renders, by step."""
    grouped: dict[str, list[Stimulus]] = defaultdict(list)
    for stim in stimuli:
        if stim.render_id in metrics:
            grouped[stim.checkpoint_sha256].append(stim)
    rows = []
    for sha, renders in grouped.items():
        values: dict[str, float | None] = {}
        for name in METRIC_NAMES:
            present = [getattr(metrics[s.render_id], name) for s in renders]
            present = [v for v in present if v is not None]
            values[name] = round(float(np.mean(present)), 4) if present else None
        rows.append(CheckpointMetrics(renders[0].checkpoint_step, sha, len(renders), values))
    return sorted(rows, key=lambda r: (r.checkpoint_step, r.checkpoint_sha256))


def metric_scores(rows: Sequence[CheckpointMetrics]) -> dict[str, float | None]:
    """Return checkpoint hash -> its mean rank over the metrics, scaled to 0-1 (1 = best on every one).

    Each metric with a value for at least two checkpoints ranks them (best = 1, turned by
    :data:`HIGHER_IS_BETTER`, ties share their mean rank); a checkpoint without any such value
    gets None.

    Example
    -------
    >>> rows = [CheckpointMetrics(s, f"{s:064x}", 1, {"f0_error_cents": e}) for s, e in ((1, 90.0), (2, 30.0))]
    >>> list(metric_scores(rows).values())
    [0.5, 1.0]
    """
    scores: dict[str, list[float]] = {r.checkpoint_sha256: [] for r in rows}
    for name, higher in HIGHER_IS_BETTER.items():
        present = [(r.checkpoint_sha256, r.values.get(name)) for r in rows if r.values.get(name) is not None]
        if len(present) < 2:
            continue
        values = np.array([float(v) for _, v in present])
        ranks = stats.rankdata(values if higher else -values) / len(present)
        for (sha, _), rank in zip(present, ranks, strict=True):
            scores[sha].append(float(rank))
    return {sha: float(np.mean(found)) if found else None for sha, found in scores.items()}


def most_promising(rows: Sequence[CheckpointMetrics], count: int) -> list[str]:
    """Return the hashes of the ``count`` checkpoints with the best mean rank over the metrics.

    The mean rank is :func:`metric_scores`. A checkpoint without any value comes last. Ties go
    to the later step.
    """
    if count < 2:
        raise ValueError("count must be at least 2")
    scores = metric_scores(rows)
    step = {r.checkpoint_sha256: r.checkpoint_step for r in rows}
    ordered = sorted(
        scores, key=lambda sha: (-(scores[sha] if scores[sha] is not None else -1.0), -step[sha], sha)
    )
    return ordered[:count]


def agreement(
    rows: Sequence[CheckpointMetrics], ranking: Sequence[RankedCheckpoint], confidence: float = 0.95
) -> list[MetricAgreement]:
    """Return, per metric, its Spearman rank correlation with the blind scores and what it means.

    The metric is turned so that a positive correlation means "the metric prefers what the
    listeners preferred". ``confidence`` sets the significance level (1 - confidence).
    """
    scores = {r.checkpoint_sha256: r.score for r in ranking}
    alpha = 1.0 - confidence
    out = []
    for name, higher in HIGHER_IS_BETTER.items():
        label = METRIC_LABELS[name]
        pairs = [
            (float(r.values[name]) * (1 if higher else -1), scores[r.checkpoint_sha256])
            for r in rows
            if r.values.get(name) is not None and r.checkpoint_sha256 in scores
        ]
        n = len(pairs)
        if n < MIN_CHECKPOINTS_FOR_CORRELATION:
            out.append(
                MetricAgreement(
                    name,
                    None,
                    None,
                    n,
                    f"{label}: {n} checkpoints with a value, too few to compare with the ranking.",
                )
            )
            continue
        metric_values, blind = (np.array(column) for column in zip(*pairs, strict=True))
        if np.ptp(metric_values) == 0 or np.ptp(blind) == 0:
            out.append(
                MetricAgreement(
                    name, None, None, n, f"{label}: no spread over {n} checkpoints, it tells nothing here."
                )
            )
            continue
        result = stats.spearmanr(metric_values, blind)
        rho, p_value = float(result.statistic), float(result.pvalue)
        numbers = f"Spearman rho {rho:+.2f}, p = {p_value:.2g}, {n} checkpoints"
        if p_value < alpha and rho > 0:
            statement = f"{label} agrees with the listeners ({numbers})."
        elif p_value < alpha:
            statement = f"{label} contradicts the listeners ({numbers}): trust your ears, not this number."
        else:
            statement = (
                f"{label} shows no reliable agreement with the listeners ({numbers}); "
                "do not choose a checkpoint by it."
            )
        out.append(MetricAgreement(name, round(rho, 4), round(p_value, 4), n, statement))
    return out


def workspace_metrics(
    ws: Workspace, settings: Settings, measure: bool = True, progress: ProgressCallback | None = None
) -> list[CheckpointMetrics]:
    """Return every rendered checkpoint's metrics, by step (measuring uncached renders when asked)."""
    from svcqa.listen.stimuli import stimuli_from_renders

    stimuli = stimuli_from_renders(ws, use_shortlist=False)
    if not stimuli:
        return []
    reference = dataset_reference(ws, settings)
    if measure:
        found = measure_renders(ws, stimuli, reference, settings, progress)
    else:
        found = cached_metrics(ws, stimuli, reference, settings)
    return per_checkpoint(stimuli, found)
