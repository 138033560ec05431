"""Plotly figures for the Dataset page (no Streamlit import: testable on their own)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from svcqa.core.settings import AuditSettings

CLEAN_COLOUR = "#4C78A8"
FLAGGED_COLOUR = "#E45756"


@dataclass(frozen=True)
class Outlier:
    """A flagged clip to mark on a histogram's strip: its value, path and flag codes."""

    value: float
    path: str
    flags: str


def outliers(clips: list[dict[str, Any]], field: str) -> list[Outlier]:
    """Return the flagged ``clips[]`` rows that have a value of ``field``, as strip marks.

    >>> outliers([{"path": "a.wav", "flags": ["too_short"], "duration_s": 0.6},
    ...           {"path": "b.wav", "flags": [], "duration_s": 12.0}], "duration_s")
    [Outlier(value=0.6, path='a.wav', flags='too_short')]
    """
    return [
        Outlier(float(c[field]), c["path"], " ".join(c["flags"]))
        for c in clips
        if c["flags"] and c.get(field) is not None
    ]


def _histogram_with_strip(
    values: list[float], outliers: list[Outlier], colour: str, bin_size: float, name: str
) -> go.Figure:
    """Return a histogram with a strip under it holding one tick per flagged clip.

    The bars are split into clean and flagged clips (stacked); the strip shows each flagged
    clip on its own, so one clip beside a 200-clip bar is still seen (hover names it).
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.82, 0.18], vertical_spacing=0.03)
    flagged_values = Counter(o.value for o in outliers)
    clean = []
    for value in values:
        if flagged_values[value]:
            flagged_values[value] -= 1
        else:
            clean.append(value)
    bins = {"size": bin_size}
    fig.add_trace(go.Histogram(x=clean, xbins=bins, marker_color=colour, name="clean"), row=1, col=1)
    fig.add_trace(
        go.Histogram(x=[o.value for o in outliers], xbins=bins, marker_color=FLAGGED_COLOUR, name="flagged"),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[o.value for o in outliers],
            y=[0.0] * len(outliers),
            mode="markers",
            marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 2}, "color": FLAGGED_COLOUR},
            customdata=[[o.path, o.flags] for o in outliers],
            hovertemplate=f"%{{customdata[0]}}<br>%{{x:.2f}} {name}<br>%{{customdata[1]}}<extra></extra>",
            name="flagged clips",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(visible=False, row=2, col=1)
    fig.update_layout(barmode="stack", legend={"orientation": "h", "y": 1.12})
    return fig


def length_histogram(
    durations_s: list[float], settings: AuditSettings, outliers: list[Outlier] | None = None
) -> go.Figure:
    """Return a histogram of clip lengths with the limits and the sweet spot marked, and a strip
    of the flagged clips (``outliers``) under it."""
    fig = _histogram_with_strip(durations_s, outliers or [], CLEAN_COLOUR, 1.0, "s")
    fig.add_vrect(
        x0=settings.sweet_spot_min_s,
        x1=settings.sweet_spot_max_s,
        fillcolor="#54A24B",
        opacity=0.15,
        line_width=0,
        annotation_text="sweet spot",
        annotation_position="top left",
        row=1,
        col=1,
    )
    for limit_s, label in ((settings.min_duration_s, "min"), (settings.max_duration_s, "max")):
        fig.add_vline(
            x=limit_s, line_dash="dash", line_color=FLAGGED_COLOUR, annotation_text=f"{label} {limit_s:g} s"
        )
    fig.update_layout(bargap=0.05, height=360, margin={"t": 30, "b": 40})
    fig.update_xaxes(title_text="clip length (s)", row=2, col=1)
    fig.update_yaxes(title_text="clips", row=1, col=1)
    return fig


def loudness_histogram(
    lufs: list[float], target_lufs: float | None = None, outliers: list[Outlier] | None = None
) -> go.Figure:
    """Return a histogram of clip loudness in LUFS with the preparation target marked, and a
    strip of the flagged clips (``outliers``) under it."""
    fig = _histogram_with_strip(lufs, outliers or [], "#F58518", 1.0, "LUFS")
    if target_lufs is not None:
        fig.add_vline(x=target_lufs, line_dash="dot", annotation_text=f"target {target_lufs:g} LUFS")
    fig.update_layout(height=320, margin={"t": 30, "b": 40})
    fig.update_xaxes(title_text="integrated loudness (LUFS)", row=2, col=1)
    fig.update_yaxes(title_text="clips", row=1, col=1)
    return fig


def waveform(samples: np.ndarray, sample_rate_hz: int, points: int = 2000, marks_s: Any = ()) -> go.Figure:
    """Return a min/max envelope plot of a mono signal, with optional vertical marks in seconds."""
    n = samples.size
    step = max(n // points, 1)
    usable = samples[: n // step * step].reshape(-1, step) if n >= step else samples.reshape(-1, 1)
    t = np.arange(usable.shape[0]) * step / sample_rate_hz
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=t, y=usable.max(axis=1), line={"width": 0.6, "color": "#4C78A8"}, showlegend=False)
    )
    fig.add_trace(
        go.Scatter(
            x=t,
            y=usable.min(axis=1),
            line={"width": 0.6, "color": "#4C78A8"},
            fill="tonexty",
            showlegend=False,
        )
    )
    for mark in marks_s:
        fig.add_vline(x=float(mark), line_color="#E45756", line_width=1)
    fig.update_layout(
        xaxis_title="time (s)", yaxis_range=[-1, 1], height=200, margin={"t": 10, "b": 40, "l": 40, "r": 10}
    )
    return fig
