"""The Train page's objective metrics: each render's screens plotted against training step, and the
overtraining watch (:mod:`svcqa.listen.overtraining`), which only speaks and never stops a run."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from svcqa.core.settings import Settings, TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.engines.tb_events import ScalarReader
from svcqa.listen.checkpoint_metrics import METRIC_LABELS, CheckpointMetrics, workspace_metrics
from svcqa.listen.overtraining import watch
from svcqa.ui import blind_mode, state

HELP = """
What they can tell: **voice similarity** (GE2E speaker embedding of the render against the
dataset's voice) falls when the timbre is not the singer's; **pitch error** (median |cents| against
the source excerpt after transpose) and **voicing mismatch** show a model that sings off the melody
or drops notes; **high-note HNR** (Praat harmonicity on the top third of the singer's range) drops
with hoarse or breaking high notes; **DNSMOS** scores buzz and noise.
What they cannot: every model behind them was trained on speech, not singing; they do not hear
phrasing, diction or charm, and two checkpoints a metric cannot tell apart may sound very
different. Use them to choose which checkpoints are worth your ears, then listen blind.
"""


def metrics_figure(rows: list[CheckpointMetrics]) -> go.Figure:
    """Return one small panel per metric, value against step."""
    names = [n for n in METRIC_LABELS if any(r.values.get(n) is not None for r in rows)]
    fig = make_subplots(
        rows=len(names) or 1, cols=1, shared_xaxes=True, subplot_titles=[METRIC_LABELS[n] for n in names]
    )
    for i, name in enumerate(names, start=1):
        points = [(r.checkpoint_step, r.values[name]) for r in rows if r.values.get(name) is not None]
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="lines+markers",
                name=METRIC_LABELS[name],
            ),
            row=i,
            col=1,
        )
    fig.update_layout(height=170 * max(len(names), 1), showlegend=False, margin={"t": 30})
    fig.update_xaxes(title_text="step", row=len(names) or 1, col=1)
    return fig


@st.cache_resource(show_spinner=False)
def curve_reader(root: str) -> ScalarReader:
    """Return the loss-curve reader of a run folder, one per server (it reads new events only)."""
    return ScalarReader(root)


def metrics_panel(ws: Workspace, settings: Settings, train: TrainSettings) -> None:
    """Draw the overtraining watch, the cached metrics against step (unless this session takes the
    test blind), and a button measuring renders not measured yet."""
    st.caption(
        "From the renders of your test song (Renders page): where the voice stops improving. "
        "Screens that save listening time, not a verdict.",
        help=HELP,
    )
    blind = blind_mode.toggle(ws)
    if st.button("Measure new renders", key=state.TRAIN_MEASURE):
        bar = st.progress(0.0, text="Measuring renders...")
        workspace_metrics(ws, settings, measure=True, progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
        bar.empty()
    rows = workspace_metrics(ws, settings, measure=False)
    if not rows:
        st.caption("No measured renders yet.")
        return
    found = watch(rows, curve_reader(str(ws.logs_44k)).reload(), settings.listen)
    if found.stalled:
        st.warning(f"**Overtraining watch.** {found.message(blind=blind)}")
    if blind:
        st.caption(
            f"Blind mode: the objective metrics of {len(rows)} checkpoints stay hidden until reveal, "
            "because they would tell you which checkpoint sounds how."
        )
        return
    st.plotly_chart(metrics_figure(rows), width="stretch", key="train_metrics")
