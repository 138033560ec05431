"""Listen page: blind paired comparisons or ratings of the checkpoints, then reveal, results and export."""

from __future__ import annotations

import streamlit as st

from svcqa.listen.ranking import progress, results
from svcqa.listen.stimuli import shortlist, stimuli_from_renders
from svcqa.ui import blind_mode, listen_panels, state
from svcqa.ui.login import vote_only_session

ws = state.current_workspace()
settings = ws.load_settings()
invited = vote_only_session()
st.title("Listen")
st.caption(
    "A blind test: the renders play under letters only, at the same loudness, in random order. "
    "Which checkpoint is which stays hidden until the owner reveals it."
)

store = ws.store()
stimuli = stimuli_from_renders(ws)
if len({s.checkpoint_sha256 for s in stimuli}) < 2:
    if invited:
        st.info("Nothing to listen to yet. Ask the owner to render the checkpoints first.")
        st.stop()
    st.info("The blind test needs renders of at least two checkpoints: make them on the Renders page.")
    if shortlist(ws):
        listen_panels.shortlist_panel(ws, settings)
    listen_panels.invites_panel(ws)
    st.stop()

blind = False if invited else blind_mode.toggle(ws)
name = listen_panels.listener_gate()
listen_panels.change_listener_button(name)
listen_panels.show_notice()
listen_panels.progress_panel(progress(store, stimuli, name, settings=settings.listen))

mode = st.radio(
    "Mode",
    list(listen_panels.MODES),
    format_func=listen_panels.MODES.__getitem__,
    horizontal=True,
    key=state.LISTEN_MODE,
)
if mode == "paired":
    listen_panels.paired_panel(store, stimuli, name, settings)
else:
    listen_panels.ratings_panel(store, stimuli, name, settings)

if invited:
    st.stop()

st.divider()
outcome = results(store, stimuli, settings=settings.listen)
if not outcome.revealed:
    st.subheader("Reveal")
    listen_panels.reveal_panel(store, stimuli, settings, outcome)
    listen_panels.shortlist_basis_panel(lambda: listen_panels.advice(ws, outcome, stimuli, settings), blind)
    listen_panels.shortlist_panel(ws, settings)
else:
    st.subheader("Results")
    listen_panels.recommendation_card(ws, listen_panels.advice(ws, outcome, stimuli, settings), outcome)
    listen_panels.results_panel(outcome)
    st.subheader("Objective metrics")
    listen_panels.metrics_panel(ws, stimuli, settings, outcome)
listen_panels.invites_panel(ws)
