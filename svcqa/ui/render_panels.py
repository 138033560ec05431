"""Streamlit pieces of the Renders page: song upload, excerpt defaults, the live queue, the players."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from svcqa.audio import decode
from svcqa.core import jobs
from svcqa.core.errors import SvcqaError
from svcqa.core.settings import RenderSettings
from svcqa.core.workspace import Workspace
from svcqa.listen import excerpts, render, render_worker
from svcqa.ui import blind_mode, state

LOG_LINES = 12
SOURCE_RATE_HZ = 44_100


# -- songs and excerpts ---------------------------------------------------------------------
def save_upload(ws: Workspace, settings: RenderSettings) -> None:
    """Save the file just uploaded into ``songs/`` and select it (an ``on_change`` callback)."""
    uploaded = st.session_state.get(state.RENDER_UPLOAD)
    if uploaded is None:
        return
    try:
        path = excerpts.save_song(ws, uploaded.name, uploaded.getvalue())
    except SvcqaError as exc:
        st.session_state[state.RENDER_NOTICE] = ("error", str(exc))
        return
    st.session_state[state.RENDER_NOTICE] = ("success", f"Saved as songs/{path.name}.")
    st.session_state[state.RENDER_SONG] = path.name
    reset_window()


def reset_window() -> None:
    """Forget the excerpt window, so the next song opens on its suggested one."""
    for key in (state.RENDER_SUGGESTION, state.RENDER_START_S, state.RENDER_END_S):
        st.session_state.pop(key, None)


def apply_suggestion(suggested: dict[str, excerpts.Excerpt]) -> None:
    """Move the start and end inputs to the suggested window just picked (an ``on_change`` callback)."""
    excerpt = suggested[st.session_state[state.RENDER_SUGGESTION]]
    st.session_state[state.RENDER_START_S] = excerpt.start_s
    st.session_state[state.RENDER_END_S] = excerpt.end_s


@st.cache_data(max_entries=2, show_spinner=False)
def song_audio(path: str, mtime_ns: int) -> tuple[np.ndarray, int]:
    """Return a song's mono samples and rate (cached per file version)."""
    return decode.read(Path(path), mono=True)


@st.cache_data(max_entries=16, show_spinner="Finding the highest sustained notes...")
def suggestions(root: str, path: str, mtime_ns: int, settings: RenderSettings) -> list[excerpts.Excerpt]:
    """Return the suggested excerpts of a song (cached per file version and settings)."""
    return excerpts.suggest_excerpts(Workspace(Path(root)), Path(path), settings)


@st.cache_data(max_entries=4, show_spinner=False)
def excerpt_audio(root: str, excerpt: excerpts.Excerpt, mtime_ns: int) -> np.ndarray | None:
    """Return the source audio of an excerpt to play, or None when its song is gone or changed."""
    try:
        return excerpts.read_excerpt(Workspace(Path(root)), excerpt, SOURCE_RATE_HZ)
    except SvcqaError:
        return None


# -- the live queue -------------------------------------------------------------------------
def queue_panel(ws: Workspace, blind: bool = False) -> None:
    """Show the worker's state with Start/Stop, the queue, its progress and its failures, renewed
    every ``RenderSettings.refresh_s``; ``blind`` (owner blind mode) masks the steps in its log."""
    st.fragment(_live_queue, run_every=ws.load_settings().render.refresh_s)(ws, blind)


def _live_queue(ws: Workspace, blind: bool) -> None:
    settings = ws.load_settings().render
    job = render_worker.running(ws)
    start_col, stop_col, status_col = st.columns([1, 1, 4])
    if start_col.button(
        "Start worker", key=state.RENDER_WORKER_START, disabled=job is not None, type="primary"
    ):
        try:
            job = render_worker.start(ws)
        except SvcqaError as exc:
            st.error(str(exc))
    if stop_col.button("Stop worker", key=state.RENDER_WORKER_STOP, disabled=job is None):
        with st.spinner("Stopping the render worker..."):
            render_worker.stop(ws)
        job = None
    last = next(iter(jobs.list_jobs(ws, render_worker.JOB_KIND)), None)
    if job is not None:
        status_col.markdown(f"Worker **running** for {job.elapsed_s:.0f} s (job `{job.id}`).")
    elif last is not None:
        status_col.markdown(f"Worker **{last.state}** (last job `{last.id}`).")
    else:
        status_col.markdown("Worker not started yet.")
    _queue_progress(ws, settings)
    if last is not None:
        # Also when nothing can render: a worker that died shows its last lines here.
        log = jobs.log_tail(ws, last.id, LOG_LINES) or "(no output yet)"
        st.code(blind_mode.mask_steps(log) if blind else log, language=None)


def _queue_progress(ws: Workspace, settings: RenderSettings) -> None:
    """Show the queue of the current settings: pending, done, failed (with a retry), or why none."""
    try:
        context = render.render_context(ws, settings)
    except SvcqaError as exc:
        st.info(str(exc))
        return
    queue = render.render_queue(ws, context, settings.min_step)
    pending_col, done_col, failed_col = st.columns(3)
    pending_col.metric("Pending", len(queue.pending))
    done_col.metric("Done", len(queue.done))
    failed_col.metric("Failed", len(queue.failed))
    if queue.total:
        finished = len(queue.done) + len(queue.failed)
        st.progress(
            finished / queue.total, text=f"{finished} of {queue.total} renders for the current settings"
        )
    else:
        st.caption(
            f"Nothing to render yet: it needs a chosen excerpt and a checkpoint at or past step {settings.min_step:,}."
        )
    if queue.failed:
        st.dataframe(
            [{"step": r.checkpoint_step, "excerpt": r.excerpt_id, "error": r.error} for r in queue.failed],
            hide_index=True,
            width="stretch",
            key="render_failed_table",
        )
        if st.button("Retry failed renders", key=state.RENDER_RETRY):
            render.clear_failed(ws, queue.settings_hash)


# -- players ----------------------------------------------------------------------------------
def players(ws: Workspace, excerpt: excerpts.Excerpt, settings_hash: str, blind: bool = False) -> None:
    """Show the source excerpt and one player per checkpoint that rendered it, by step.

    ``blind`` (owner blind mode) numbers the playable renders in this session's random order
    instead, with no step, loudness or message (:mod:`svcqa.ui.blind_mode`).
    """
    song = ws.root / excerpt.song
    source = excerpt_audio(str(ws.root), excerpt, song.stat().st_mtime_ns) if song.is_file() else None
    if source is not None:
        st.markdown("**Source excerpt**")
        st.audio(source, sample_rate=SOURCE_RATE_HZ)
    records = render.list_renders(ws, settings_hash=settings_hash, excerpt_id=excerpt.id)
    if not records:
        st.info("No render of this excerpt with the current settings yet; start the worker.")
        return
    if blind:
        _blind_players(ws, records)
        return
    for record in records:
        step_col, info_col, player_col = st.columns([1, 2, 4])
        step_col.markdown(f"**step {record.checkpoint_step:,}**")
        if record.error:
            info_col.error("failed")
            player_col.caption(record.error)
            continue
        info_col.caption(
            "silence" if record.lufs is None else f"{record.lufs:.1f} LUFS, gain {record.gain_db:+.1f} dB"
        )
        path = ws.root / record.path if record.path else None
        if path is not None and path.is_file():
            player_col.audio(str(path))
        if record.message:
            player_col.caption(record.message)


def _blind_players(ws: Workspace, records: list[render.RenderRecord]) -> None:
    """Show the playable renders as "render 1", "render 2", ... in this session's random order."""
    playable = [r for r in records if r.ok and r.path and (ws.root / r.path).is_file()]
    st.caption(
        "Blind mode: the renders play in a random order, without their steps, until reveal. "
        f"{len(records) - len(playable)} of {len(records)} cannot be played (failed, or file gone)."
    )
    for number, record in enumerate(blind_mode.shuffled(playable, "id"), start=1):
        label_col, player_col = st.columns([1, 6])
        label_col.markdown(f"**render {number}**")
        player_col.audio((ws.root / record.path).read_bytes(), format="audio/wav")  # no file name
