"""Plotly figures of the revealed listening test (no Streamlit import).

Example
-------
>>> from svcqa.listen.ranking import RankedCheckpoint, quality_curve
>>> ranked = [RankedCheckpoint(s, f"{s:064x}", v, v - 0.4, v + 0.4, 6)
...           for s, v in ((1000, -0.8), (2000, 0.6), (3000, 0.2))]
>>> fig = preference_chart(ranked, quality_curve(ranked))
>>> list(fig.data[0].x)
[1000, 2000, 3000]
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from svcqa.listen.ranking import QualityCurve, RankedCheckpoint, RatedCheckpoint

SCORE_COLOUR = "#4C78A8"
PEAK_COLOUR = "#54A24B"
OVERTRAINING_COLOUR = "#E45756"
RATING_COLOUR = "#F58518"


def preference_chart(ranking: Sequence[RankedCheckpoint], curve: QualityCurve) -> go.Figure:
    """Return the Bradley-Terry score against training step with its intervals, peak and overtraining."""
    ranked = sorted(ranking, key=lambda r: r.checkpoint_step)
    steps = [r.checkpoint_step for r in ranked]
    fig = go.Figure(
        go.Scatter(
            x=steps,
            y=[r.score for r in ranked],
            mode="lines+markers",
            marker={"color": SCORE_COLOUR, "size": 9},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [r.ci_high - r.score for r in ranked],
                "arrayminus": [r.score - r.ci_low for r in ranked],
            },
            customdata=[[r.comparisons, r.ci_low, r.ci_high] for r in ranked],
            hovertemplate="step %{x}<br>score %{y:.2f} (%{customdata[1]:.2f} to %{customdata[2]:.2f})"
            "<br>%{customdata[0]} comparisons<extra></extra>",
            name="preference",
        )
    )
    fig.add_vline(
        x=curve.peak_step,
        line_color=PEAK_COLOUR,
        line_dash="dash",
        annotation_text=f"peak {curve.peak_step:,}",
    )
    if curve.overtraining_step is not None:
        # Shade from halfway after the last checkpoint not clearly worse, so a single step shows too.
        before = max((s for s in steps if s < curve.overtraining_step), default=curve.overtraining_step)
        margin = (curve.overtraining_step - before) / 2
        fig.add_vrect(
            x0=curve.overtraining_step - margin,
            x1=max(steps) + margin,
            fillcolor=OVERTRAINING_COLOUR,
            opacity=0.1,
            line_width=0,
            annotation_text="clearly worse than the peak",
            annotation_position="top right",
        )
    fig.add_hline(y=0.0, line_color="#BAB0AC", line_width=1)
    fig.update_layout(
        xaxis_title="training step",
        yaxis_title="preference (Bradley-Terry log-strength)",
        height=380,
        margin={"t": 30, "b": 40},
        showlegend=False,
    )
    return fig


def ratings_chart(ratings: Sequence[RatedCheckpoint]) -> go.Figure:
    """Return the mean MUSHRA-like score (0-100) against training step, with intervals where known."""
    rated = sorted(ratings, key=lambda r: r.checkpoint_step)
    fig = go.Figure(
        go.Scatter(
            x=[r.checkpoint_step for r in rated],
            y=[r.mean_score for r in rated],
            mode="lines+markers",
            marker={"color": RATING_COLOUR, "size": 9},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [(r.ci_high - r.mean_score) if r.ci_high is not None else 0.0 for r in rated],
                "arrayminus": [(r.mean_score - r.ci_low) if r.ci_low is not None else 0.0 for r in rated],
            },
            customdata=[r.trials for r in rated],
            hovertemplate="step %{x}<br>mean %{y:.1f}<br>%{customdata} trials<extra></extra>",
            name="rating",
        )
    )
    fig.update_layout(
        xaxis_title="training step",
        yaxis_title="mean rating (0-100)",
        yaxis_range=[0, 100],
        height=320,
        margin={"t": 30, "b": 40},
        showlegend=False,
    )
    return fig
