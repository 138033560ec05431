"""Plotly figures for the Dataset page (no Streamlit import: testable on their own)."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from svcqa.core.settings import AuditSettings


def length_histogram(durations_s: list[float], settings: AuditSettings) -> go.Figure:
    """Return a histogram of clip lengths with the limits and the sweet spot marked."""
    fig = go.Figure(go.Histogram(x=durations_s, xbins={"size": 1.0}, marker_color="#4C78A8", name="clips"))
    fig.add_vrect(
        x0=settings.sweet_spot_min_s,
        x1=settings.sweet_spot_max_s,
        fillcolor="#54A24B",
        opacity=0.15,
        line_width=0,
        annotation_text="sweet spot",
        annotation_position="top left",
    )
    for limit_s, label in ((settings.min_duration_s, "min"), (settings.max_duration_s, "max")):
        fig.add_vline(
            x=limit_s, line_dash="dash", line_color="#E45756", annotation_text=f"{label} {limit_s:g} s"
        )
    fig.update_layout(
        xaxis_title="clip length (s)", yaxis_title="clips", bargap=0.05, height=320, margin={"t": 30, "b": 40}
    )
    return fig


def loudness_histogram(lufs: list[float], target_lufs: float | None = None) -> go.Figure:
    """Return a histogram of clip loudness in LUFS, with the preparation target marked."""
    fig = go.Figure(go.Histogram(x=lufs, xbins={"size": 1.0}, marker_color="#F58518"))
    if target_lufs is not None:
        fig.add_vline(x=target_lufs, line_dash="dot", annotation_text=f"target {target_lufs:g} LUFS")
    fig.update_layout(
        xaxis_title="integrated loudness (LUFS)", yaxis_title="clips", height=280, margin={"t": 30, "b": 40}
    )
    return fig


def waveform(samples: np.ndarray, sample_rate_hz: int, points: int = 2000, marks_s: Any = ()) -> go.Figure:
    """Return a min/max envelope plot of a mono signal, with optional vertical marks in seconds."""
    n = samples.size
    step = max(n // points, 1)
    usable = samples[: n // step * step].reshape(-1, step) if n >= step else samples.reshape(-1, 1)
    t = np.arange(usable.shape[0]) * step / sample_rate_hz
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=usable.max(axis=1), line={"width": 0.6, "color": "#4C78A8"}, showlegend=False))
    fig.add_trace(
        go.Scatter(
            x=t, y=usable.min(axis=1), line={"width": 0.6, "color": "#4C78A8"}, fill="tonexty", showlegend=False
        )
    )
    for mark in marks_s:
        fig.add_vline(x=float(mark), line_color="#E45756", line_width=1)
    fig.update_layout(
        xaxis_title="time (s)", yaxis_range=[-1, 1], height=200, margin={"t": 10, "b": 40, "l": 40, "r": 10}
    )
    return fig
