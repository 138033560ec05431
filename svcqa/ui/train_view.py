"""Figures and table rows for the Train page (no Streamlit import: testable on their own)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from svcqa.core.gpu import GpuInfo
from svcqa.core.settings import TrainSettings
from svcqa.engines.tb_events import ScalarSeries, smooth
from svcqa.train.checkpoints import Checkpoint

_RAW_COLOUR = "rgba(76, 120, 168, 0.25)"
_SMOOTH_COLOUR = "#4C78A8"
_MILESTONE_COLOUR = "#E45756"


def milestones(train: TrainSettings) -> list[tuple[int, str]]:
    """Return the step marks of the tutorial's rule of thumb: listen, usable, do not go past."""
    return [
        (train.listen_from_step, "listen from here"),
        (train.suggested_steps, "usually usable"),
        (train.advised_max_steps, "do not go past"),
    ]


def next_milestone(marks: Sequence[tuple[int, str]], step: int) -> tuple[int, str] | None:
    """Return the first mark after ``step``, or None when all are passed."""
    return next((mark for mark in sorted(marks) if mark[0] > step), None)


def loss_figure(
    series: Mapping[str, ScalarSeries],
    tags: Sequence[str],
    smoothing: float,
    marks: Sequence[tuple[int, str]],
    x_max_step: int | None = None,
) -> go.Figure:
    """Return one small chart per tag (raw faint, smoothed solid) with the step marks drawn.

    Marks beyond ``x_max_step`` (default: the last logged step) are left out, so a short run's
    curves are not squeezed against a 60k axis.
    """
    shown = [tag for tag in tags if tag in series]
    columns = 2 if len(shown) > 1 else 1
    rows = max(math.ceil(len(shown) / columns), 1)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=shown or ["no curves yet"], shared_xaxes=True)
    last_step = 0
    for index, tag in enumerate(shown):
        curve = series[tag]
        row, col = index // columns + 1, index % columns + 1
        last_step = max(last_step, curve.steps[-1] if curve.steps else 0)
        fig.add_trace(
            go.Scatter(
                x=curve.steps,
                y=curve.values,
                line={"color": _RAW_COLOUR, "width": 1},
                name=f"{tag} raw",
                showlegend=False,
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=curve.steps,
                y=smooth(curve.values, smoothing),
                line={"color": _SMOOTH_COLOUR, "width": 2},
                name=tag,
                showlegend=False,
            ),
            row=row,
            col=col,
        )
    limit = x_max_step if x_max_step is not None else last_step
    for step, label in marks:
        if step <= limit:
            fig.add_vline(
                x=step,
                line_dash="dash",
                line_color=_MILESTONE_COLOUR,
                annotation_text=f"{step // 1000}k: {label}" if step >= 1000 else f"{step}: {label}",
                annotation_font_size=10,
                row="all",
                col="all",
            )
    fig.update_layout(height=max(260 * rows, 300), margin={"t": 40, "b": 30, "l": 40, "r": 10})
    fig.update_xaxes(title_text="step", row=rows)
    return fig


def checkpoint_rows(found: Sequence[Checkpoint]) -> list[dict[str, Any]]:
    """Return the registry as table rows, newest step first."""
    return [
        {
            "step": c.step,
            "derived": c.step_derived,
            "size_mb": round(c.size_bytes / 1e6, 1),
            "sha256": c.sha256[:12],
            "in run folder": c.path.exists(),
            "archived": bool(c.archived_path and c.archived_path.exists()),
            "file": c.path.name,
            "registered": c.registered_at,
        }
        for c in sorted(found, key=lambda c: c.step, reverse=True)
    ]


def gpu_rows(gpus: Sequence[GpuInfo]) -> list[dict[str, Any]]:
    """Return one row per GPU: name, utilisation and memory in GB."""
    return [
        {
            "gpu": g.index,
            "name": g.name,
            "utilisation %": g.utilization_percent,
            "memory used GB": round(g.memory_used_bytes / 1e9, 1),
            "memory total GB": round(g.memory_total_bytes / 1e9, 1),
        }
        for g in gpus
    ]


def format_duration(seconds: float | None) -> str:
    """Return ``seconds`` as "2 h 05 min", "7 min", "40 s", or "-" when unknown.

    Example
    -------
    >>> format_duration(7500)
    '2 h 05 min'
    """
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
