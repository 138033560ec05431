"""Renders page: test songs, their excerpts, and every checkpoint singing them, loudness-matched."""

from __future__ import annotations

import math

import streamlit as st

from svcqa.core.errors import SvcqaError
from svcqa.core.workspace import AUDIO_EXTENSIONS
from svcqa.engines import svc
from svcqa.listen import excerpts, render
from svcqa.ui import blind_mode, charts, render_panels, state

ws = state.current_workspace()
settings = ws.load_settings()
rs = settings.render
st.title("Renders")
st.caption(
    f"Every checkpoint at or past step {rs.min_step:,} sings the same excerpts of a test song, each brought "
    f"to {rs.target_lufs:g} LUFS so the loudest does not win. The content features and pitch of an excerpt "
    "are computed once; each checkpoint only decodes. This page shows steps; the Listen page compares blind."
)
blind = blind_mode.toggle(ws)

st.subheader("1. Test song")
st.file_uploader(
    "Upload a song's dry vocals (no accompaniment)",
    type=sorted(ext.lstrip(".") for ext in AUDIO_EXTENSIONS),
    key=state.RENDER_UPLOAD,
    on_change=render_panels.save_upload,
    args=(ws, rs),
)
notice = st.session_state.pop(state.RENDER_NOTICE, None)
if notice:
    (st.error if notice[0] == "error" else st.success)(notice[1])

songs = {path.name: path for path in excerpts.list_songs(ws)}
if not songs:
    st.info(f"No test song yet: upload one above or put it in `{ws.songs}`.")
else:
    name = st.selectbox("Song", list(songs), key=state.RENDER_SONG, on_change=render_panels.reset_window)
    song = songs[name]
    mtime_ns = song.stat().st_mtime_ns
    try:
        samples, rate_hz = render_panels.song_audio(str(song), mtime_ns)
        suggested = {e.label: e for e in render_panels.suggestions(str(ws.root), str(song), mtime_ns, rs)}
    except SvcqaError as exc:
        st.error(str(exc))
        st.stop()
    # The inputs' limit is the song's length rounded up to the millisecond excerpts are kept in.
    duration_s = math.ceil(samples.size / rate_hz * 1000) / 1000
    first = next(iter(suggested.values()))
    st.session_state.setdefault(state.RENDER_START_S, first.start_s)
    st.session_state.setdefault(state.RENDER_END_S, first.end_s)
    st.radio(
        "Suggested window",
        list(suggested),
        format_func=lambda label: f"{label}: {suggested[label].start_s:.1f}-{suggested[label].end_s:.1f} s",
        key=state.RENDER_SUGGESTION,
        horizontal=True,
        on_change=render_panels.apply_suggestion,
        args=(suggested,),
        help="high: around the song's highest sustained notes, where an undertrained model goes hoarse first; "
        "mid: where most of the singing sits.",
    )
    start_col, end_col, add_col = st.columns([2, 2, 1])
    start_s = start_col.number_input(
        "Start (s)", min_value=0.0, max_value=duration_s, step=0.5, format="%.2f", key=state.RENDER_START_S
    )
    end_s = end_col.number_input(
        "End (s)", min_value=0.0, max_value=duration_s, step=0.5, format="%.2f", key=state.RENDER_END_S
    )
    st.plotly_chart(
        charts.waveform(samples, rate_hz, marks_s=(start_s, end_s)), width="stretch", key="render_waveform"
    )
    if add_col.button("Add excerpt", key=state.RENDER_ADD_EXCERPT, type="primary"):
        label = next((e.label for e in suggested.values() if (e.start_s, e.end_s) == (start_s, end_s)), "")
        try:
            chosen = excerpts.choose(ws, excerpts.make_excerpt(ws, song, start_s, end_s, label, rs))
        except SvcqaError as exc:
            st.error(str(exc))
        else:
            st.success(f"Every checkpoint will render {chosen.title}.")

st.subheader("2. Excerpts to render")
chosen_excerpts = {e.id: e for e in excerpts.chosen_excerpts(ws)}
if chosen_excerpts:
    st.dataframe(
        [{"excerpt": e.title, "length (s)": e.duration_s, "id": e.id} for e in chosen_excerpts.values()],
        hide_index=True,
        width="stretch",
        key="render_excerpts_table",
    )
    drop_col, drop_button_col = st.columns([4, 1])
    drop = drop_col.selectbox(
        "Stop rendering",
        list(chosen_excerpts),
        format_func=lambda i: chosen_excerpts[i].title,
        key=state.RENDER_DROP_PICK,
    )
    if drop_button_col.button("Remove", key=state.RENDER_DROP):
        excerpts.unchoose(ws, drop)
        st.rerun()
else:
    st.caption("No excerpt chosen yet: pick a window above and add it.")

st.subheader("3. Settings")
config_path = svc.model_config_path(ws)
speakers = list(svc.model_speakers(config_path)) if config_path.is_file() else []
st.session_state.setdefault(state.RENDER_TRANSPOSE, rs.transpose_semitones)
st.session_state.setdefault(state.RENDER_F0_METHOD, rs.f0_method)
st.session_state.setdefault(state.RENDER_SPEAKER, rs.speaker)
st.session_state.setdefault(state.RENDER_MIN_STEP, rs.min_step)
st.session_state.setdefault(state.RENDER_WAIT_TRAINING, rs.only_while_training_stopped)
c1, c2, c3, c4 = st.columns(4)
c1.number_input("Transpose (semitones)", min_value=-24, max_value=24, step=1, key=state.RENDER_TRANSPOSE)
f0_options = ["auto", *svc.available_f0_methods()]
if st.session_state[state.RENDER_F0_METHOD] not in f0_options:
    st.session_state[state.RENDER_F0_METHOD] = "auto"
c2.selectbox(
    "Pitch tracker",
    f0_options,
    key=state.RENDER_F0_METHOD,
    help="auto: the most accurate one installed. RMVPE is not in so-vits-svc-fork 4.2.30.",
)
speaker_options = ["", *speakers]
if st.session_state[state.RENDER_SPEAKER] not in speaker_options:
    st.session_state[state.RENDER_SPEAKER] = ""
c3.selectbox(
    "Speaker",
    speaker_options,
    format_func=lambda s: s or (f"{speakers[0]} (lowest id)" if speakers else "the model's lowest id"),
    key=state.RENDER_SPEAKER,
)
c4.number_input("Render from step", min_value=0, step=1000, key=state.RENDER_MIN_STEP)
st.caption(svc.describe_conversion(settings.conversion))
st.checkbox(
    "Render only while training is stopped",
    key=state.RENDER_WAIT_TRAINING,
    help="On a machine with one GPU, rendering then never slows training down.",
)
if st.button("Save render settings", key=state.RENDER_SAVE):
    ws.save_settings(
        settings.with_section(
            "render",
            transpose_semitones=int(st.session_state[state.RENDER_TRANSPOSE]),
            f0_method=st.session_state[state.RENDER_F0_METHOD],
            speaker=st.session_state[state.RENDER_SPEAKER],
            min_step=int(st.session_state[state.RENDER_MIN_STEP]),
            only_while_training_stopped=bool(st.session_state[state.RENDER_WAIT_TRAINING]),
        )
    )
    st.rerun()

st.subheader("4. Render worker")
st.caption("Renders every checkpoint as it appears, one at a time, on the GPU when there is one.")
render_panels.queue_panel(ws, blind)

st.subheader("5. Listen")
try:
    context = render.render_context(ws, ws.load_settings().render)
except SvcqaError:
    context = None
if context is None or not chosen_excerpts:
    st.caption("Renders appear here once the worker has made some.")
else:
    listen_id = st.selectbox(
        "Excerpt",
        list(chosen_excerpts),
        format_func=lambda i: chosen_excerpts[i].title,
        key=state.RENDER_LISTEN_EXCERPT,
    )
    st.button("Refresh", key=state.RENDER_REFRESH)
    render_panels.players(ws, chosen_excerpts[listen_id], context.settings_hash, blind=blind)
