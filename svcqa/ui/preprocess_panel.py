"""The Prepare page's last section: so-vits-svc-fork preprocessing as a background job."""

from __future__ import annotations

import streamlit as st

from svcqa.core import jobs
from svcqa.core.errors import SvcqaError
from svcqa.core.workspace import Workspace
from svcqa.engines import svc
from svcqa.prepare import preprocess
from svcqa.ui import state


def preprocess_panel(ws: Workspace) -> None:
    """Draw preflight problems, the f0 method, Start/Stop, and the live progress and log."""
    st.caption(
        "Runs so-vits-svc-fork's `pre-resample`, `pre-config` (then svcqa sets keep_ckpts 0 and "
        "ckpt_name_by_step true, so no checkpoint is rotated away before it is compared) and "
        "`pre-hubert`, in the background: you can close the tab and come back."
    )
    prep = ws.load_settings().prepare
    problems = preprocess.preflight(ws)
    for problem in problems:
        st.warning(problem)
    methods = ["auto", *svc.available_f0_methods()]
    configured = ws.load_settings().train.f0_method
    method = st.selectbox(
        "Pitch tracker for pre-hubert",
        methods,
        index=methods.index(configured) if configured in methods else 0,
        key=state.PREPROCESS_F0,
        help="'auto' picks crepe (the most accurate) on a CUDA GPU, and parselmouth on a CPU, "
        "where crepe would take many minutes per minute of audio.",
    )
    job = preprocess.latest(ws)
    running = job is not None and job.running
    start_col, stop_col = st.columns(2)
    if start_col.button(
        "Run preprocessing", key=state.PREPROCESS_START, disabled=bool(problems) or running, type="primary"
    ):
        try:
            preprocess.start(ws, method)
        except SvcqaError as exc:
            st.error(str(exc))
        st.rerun()
    if running and stop_col.button("Stop", key=state.PREPROCESS_STOP):
        jobs.stop(ws, job.id, timeout_s=prep.stop_timeout_s)
        st.rerun()
    st.fragment(run_every=prep.refresh_s)(_live)(ws)


def _live(ws: Workspace) -> None:
    """Draw the preprocessing job's progress and log (a fragment refreshed every ``prepare.refresh_s``)."""
    job = preprocess.latest(ws)
    now = preprocess.progress(ws, job)
    if job is None:
        return
    if now.state == "running":
        st.progress(now.fraction, text=f"Preprocessing: {now.step or 'starting'}")
    elif now.state == "succeeded":
        st.success("Preprocessing finished: the workspace is ready to train (Train page).")
    else:
        st.error(f"Preprocessing {now.state} (job {job.id}, exit code {job.exit_code}). See the log below.")
    with st.expander("Log", expanded=now.state not in ("succeeded",)):
        st.code(jobs.log_tail(ws, job.id, max_lines=40) or "(no output yet)", language=None)
