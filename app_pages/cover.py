"""Cover page: song -> vocals -> de-reverb -> lead vocals -> converted voice -> mix -> download."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import streamlit as st

from svcqa.core.errors import SvcqaError
from svcqa.core.uploads import save_upload
from svcqa.core.workspace import AUDIO_EXTENSIONS
from svcqa.cover import jobs as cover_jobs
from svcqa.cover import pipeline
from svcqa.cover.records import CoverRequest
from svcqa.train.checkpoints import list_checkpoints
from svcqa.ui import blind_mode, cover_form, state

ws = state.current_workspace()
base = ws.load_settings()
st.title("Cover")
st.caption(
    "Separates the song's vocals, removes reverb and backing vocals, converts the dry vocals with a "
    "trained checkpoint and mixes them over the instrumental. Every stage is kept, so changing one "
    "setting only re-makes what depends on it. Your song in `songs/` is only read."
)

job = cover_jobs.latest_job(ws)
busy = job is not None and job.running
if job is not None:
    cover_form.job_panel(ws, job, base.cover.refresh_s)

st.subheader("1. Song")
upload = st.file_uploader(
    "Upload a song to songs/", type=[e.lstrip(".") for e in sorted(AUDIO_EXTENSIONS)], key=state.COVER_UPLOAD
)
if upload is not None and st.button("Save to songs/", key=state.COVER_UPLOAD_SAVE):
    try:
        saved = save_upload(ws, "songs", upload.name, upload.getvalue())
    except SvcqaError as exc:
        st.error(str(exc))
    else:
        st.session_state[state.COVER_SONG] = saved.name
        st.rerun()
songs = sorted(p.name for p in ws.songs.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
if not songs:
    st.info(f"No songs yet: upload one above, or put it in `{ws.songs}`.")
    st.stop()
song_name = st.selectbox("Song", songs, key=state.COVER_SONG)
try:
    song = ws.resolve(Path("songs") / song_name)
except SvcqaError as exc:  # a symlink in songs/ leading out of the workspace
    st.error(str(exc))
    st.stop()

st.subheader("2. Separation")
separation_settings, model_blocker = cover_form.separation_inputs(ws, base.separation)

st.subheader("3. Conversion")
if blind_mode.is_blind(ws):
    st.warning(blind_mode.COVER_WARNING)
registered = list_checkpoints(ws)
if not registered:
    st.info(
        "No trained checkpoint is registered yet: train a model first (its G_<step>.pth files register themselves)."
    )
    st.stop()
checkpoint_sha, cover_settings = cover_form.conversion_inputs(base.cover, base.conversion, registered)

st.subheader("4. Mix")
mix_settings, export_format = cover_form.mix_inputs(base.mix, base.cover)
cover_settings = dataclasses.replace(cover_settings, export_format=export_format)

request = CoverRequest(
    song=str(song),
    checkpoint=checkpoint_sha,
    separation=separation_settings,
    mix=mix_settings,
    cover=cover_settings,
    conversion=base.conversion,
    loudness=base.loudness,
)
try:
    planned = pipeline.plan(ws, request)
except SvcqaError as exc:
    st.error(str(exc))
    st.stop()

to_make = [o.stage for o in planned.outcomes if o.status != "cached"]
run_label = (
    f"Run pipeline ({len(to_make)} of {len(planned.outcomes)} stages to make)"
    if to_make
    else "Run pipeline (all cached)"
)
run_all = st.button(run_label, key=state.COVER_RUN, type="primary", disabled=busy or bool(model_blocker))
st.subheader("Stages")
rerun = cover_form.stage_panels(planned, busy=busy or bool(model_blocker))
if run_all or rerun is not None:
    ws.save_settings(
        dataclasses.replace(base, separation=separation_settings, mix=mix_settings, cover=cover_settings)
    )
    try:
        cover_jobs.start_job(ws, dataclasses.replace(request, rerun=rerun))
    except SvcqaError as exc:
        st.error(str(exc))
    else:
        st.rerun()

if planned.cover is not None:
    st.subheader("Listen and download")
    step = next(c.step for c in registered if c.sha256 == checkpoint_sha)
    cover_form.listen_and_download(planned, song, step)
