"""Prepare page: slice, clean and rename a speaker's recordings into ``dataset_raw/<speaker>/``."""

from __future__ import annotations

import dataclasses

import streamlit as st

from svcqa.core.errors import SvcqaError
from svcqa.prepare.plan import check_speaker_name, safe_speaker_name, source_folders
from svcqa.prepare.slicer import check_settings
from svcqa.ui import prepare_form, prepare_review, state
from svcqa.ui.audit_view import audited
from svcqa.ui.preprocess_panel import preprocess_panel

ws = state.current_workspace()
base = ws.load_settings()
st.title("Prepare")
st.caption(
    "Slices long takes, leaves out flagged clips, mixes to mono, resamples, evens out loudness and "
    "renames to safe names. Your recordings are only read; the prepared copies go to "
    "`dataset_raw/<speaker>/`, the folder so-vits-svc-fork trains from."
)

sources = source_folders(ws)
if not sources:
    st.info(
        f"No recordings to prepare. Put each singer's clips in their own folder, `{ws.recordings}/<speaker>/` "
        "(WAV, FLAC, MP3, OGG or M4A), then come back. The Dataset page can create a demo singer."
    )
    if ws.has_audio(ws.dataset_raw):
        st.subheader("so-vits-svc preprocessing")
        preprocess_panel(ws)
    st.stop()

left, right = st.columns(2)
source = left.selectbox(
    "Recordings folder", sources, key=state.PREP_SOURCE, on_change=prepare_form.on_source_change
)
st.session_state.setdefault(state.PREP_SPEAKER, safe_speaker_name(source))
speaker = right.text_input(
    "Output speaker name",
    key=state.PREP_SPEAKER,
    help="The folder name under dataset_raw/; so-vits-svc-fork uses it as the speaker's name.",
)
try:
    check_speaker_name(speaker)
except SvcqaError as exc:
    st.error(f"{exc} Suggestion: `{safe_speaker_name(speaker)}`.")
    st.stop()
source_dir = ws.recordings / source
out_dir = ws.dataset_raw / speaker
try:
    source_rel, out_rel = ws.relative(source_dir), ws.relative(out_dir)
except SvcqaError as exc:  # a speaker folder that is a symlink leading out of the workspace
    st.error(str(exc))
    st.stop()
st.caption(f"From `{source_rel}/` to `{out_rel}/`.")

rows = audited(ws, source_dir, base).data["clips"]

prepare_form.init_state(base)

st.subheader("1. Slicer preview")
st.caption("Where one file would be cut, before anything is written.")
slicer = prepare_form.slicer_inputs(base.slicer)
try:
    check_settings(slicer)
except SvcqaError as exc:
    st.error(str(exc))
    st.stop()
prepare_form.slicer_preview(source_dir, rows, slicer, base.limits.slice_max_s)

st.subheader("2. Clean-up")
cleanup = prepare_form.cleanup_inputs(base.prepare, slicer.max_piece_s)
settings = dataclasses.replace(base, slicer=slicer, prepare=cleanup)
prepare_review.review(ws, rows, settings, source_dir, speaker)

st.subheader("4. so-vits-svc preprocessing")
preprocess_panel(ws)
