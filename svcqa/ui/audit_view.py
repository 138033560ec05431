"""A workspace folder's audit on a page: from the cache at once, or the running audit's progress.

The Dataset and Prepare pages call :func:`audited`. It never measures in the page: files not
in the cache are measured by the background audit job (:mod:`svcqa.dataset.audit_job`), one per
workspace. While it runs, every page, tab and reload shows its progress (n of N, time left) and
a stop button; when it ends, the page draws the report from the cache. A report is built once
per folder, settings and file state, and kept for every session (tables and charts reuse it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from svcqa.core import jobs
from svcqa.core.errors import JobError, SvcqaError
from svcqa.core.files import json_hash, text_sha256
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace
from svcqa.dataset import audit_job
from svcqa.dataset.run import AuditReport, AuditScan, failed, finish_audit, scan_dataset
from svcqa.dataset.table import clips_frame
from svcqa.dataset.voice_analysis import voice_available
from svcqa.ui import state

_KEPT_REPORTS = 8
_LOG_LINES = 20


@dataclass(frozen=True)
class AuditView:
    """A finished audit in the forms the pages draw: the report, its JSON, its table, its rows."""

    report: AuditReport
    data: dict[str, Any]
    """``report.to_dict()``: what ``audit --json`` writes."""
    frame: pd.DataFrame
    """One row per clip, flagged clips first (:func:`~svcqa.dataset.table.clips_frame`)."""
    clips: dict[str, dict[str, Any]]
    """The ``clips[]`` rows of ``data`` by path."""
    failed_count: int
    """Clips whose analysis crashed (measuring them again may work)."""


def audited(ws: Workspace, folder: Path, settings: Settings) -> AuditView:
    """Return the audit of ``folder`` from the cache, or draw the audit in progress and stop the page.

    Files not measured yet start the background audit, unless the last audit of the folder was
    stopped or failed (the page then offers to resume).
    """
    job = audit_job.running(ws)
    if job is not None:
        _progress(ws, job, Path(folder).absolute(), settings)
        st.stop()
    try:
        scan = scan_dataset(
            folder, settings, with_voice=voice_available(), cache_path=ws.db_path, retry_failed=False
        )
    except SvcqaError as exc:
        st.error(str(exc))
        st.stop()
    if scan.todo:
        last = audit_job.latest(ws, scan.dataset_dir)
        if audit_job.should_start(scan, last, audit_job.read_progress(ws, scan.dataset_dir)):
            _start(ws, scan.dataset_dir, retry_failed=False)
        _paused(ws, scan, last)
        st.stop()
    view = _view(_view_key(scan, settings), scan, settings)
    if view.failed_count:
        left, right = st.columns([4, 1])
        left.warning(
            f"The analysis of {view.failed_count} clips crashed (their rows say why). "
            "Measuring them again may work, for example after freeing memory."
        )
        if right.button("Measure them again", key=state.AUDIT_RETRY_FAILED):
            _start(ws, scan.dataset_dir, retry_failed=True)
    return view


def shown_folder(ws: Workspace, folder: Path) -> str:
    """Return ``folder`` as the page shows it: relative to the workspace."""
    try:
        return ws.relative(folder)
    except SvcqaError:
        return str(folder)


def _start(ws: Workspace, folder: Path, retry_failed: bool) -> None:
    """Start the background audit of ``folder`` and redraw the page (which then shows its progress)."""
    try:
        audit_job.start(ws, folder, retry_failed=retry_failed)
    except JobError:
        if audit_job.running(ws) is None:  # not a race with another tab: a real failure
            raise
    st.rerun()


def _progress(ws: Workspace, job: jobs.Job, folder: Path, settings: Settings) -> None:
    """Draw the running audit's progress, redrawn every ``audit.refresh_s``, and its stop button."""
    job_folder = audit_job.folder_of(job)
    name = shown_folder(ws, job_folder)
    if job_folder != folder and job_folder not in folder.parents:
        st.info(f"An audit of `{name}` is running; this folder is audited when it ends.")

    @st.fragment(run_every=settings.audit.refresh_s)
    def live() -> None:
        if not jobs.get(ws, job.id).running:
            st.rerun()
        recorded = audit_job.read_progress(ws, job_folder)
        if recorded is None or recorded.job_id != job.id:
            st.progress(0.0, text=f"Auditing `{name}`: finding the files...")
        else:
            progress = recorded.progress
            st.progress(min(progress.fraction, 1.0), text=f"Auditing `{name}`: {progress.describe()}")

    live()
    st.caption(
        "The audit runs in the background: reloading, other tabs and other pages show it too, and "
        "every file measured is kept, also when you stop it."
    )
    if st.button("Stop auditing", key=state.AUDIT_STOP):
        audit_job.stop(ws, settings.audit.stop_timeout_s)
        st.rerun()


def _paused(ws: Workspace, scan: AuditScan, last: jobs.Job | None) -> None:
    """Say why files of ``scan`` wait to be measured, and offer to measure them."""
    done = len(scan.files) - len(scan.todo)
    name = shown_folder(ws, scan.dataset_dir)
    if last is not None and last.state == "stopped":
        st.info(
            f"The audit of `{name}` was stopped at {done:,} of {len(scan.files):,} files; those are kept."
        )
        label = "Resume the audit"
    elif last is not None and last.state == "failed":
        st.error(f"The audit of `{name}` ended with an error at {done:,} of {len(scan.files):,} files:")
        st.code(jobs.log_tail(ws, last.id, max_lines=_LOG_LINES) or "(no log)")
        label = "Try again"
    else:
        st.warning(
            f"{len(scan.todo):,} files of `{name}` were measured by the last audit but could not be "
            "stored (is the disk full?)."
        )
        label = "Audit again"
    if st.button(label, key=state.AUDIT_RESUME, type="primary"):
        _start(ws, scan.dataset_dir, retry_failed=False)


def _view_key(scan: AuditScan, settings: Settings) -> str:
    """Return what identifies a report: the folder, the settings and each file's cached state."""
    files = "\n".join(f"{p}\t{m.size_bytes}\t{m.mtime_ns}" for p, m in scan.known.items())
    return json_hash(
        {
            "folder": str(scan.dataset_dir),
            "measure_key": scan.measure_key,
            "settings": settings.to_dict(),
            "files": text_sha256(files),
        },
        chars=32,
    )


@st.cache_resource(max_entries=_KEPT_REPORTS, show_spinner=False)
def _view(key: str, _scan: AuditScan, _settings: Settings) -> AuditView:
    """Return the view of a fully measured ``_scan`` (built once per ``key``, shared by sessions)."""
    report = finish_audit(_scan, _settings)
    data = report.to_dict()
    return AuditView(
        report=report,
        data=data,
        frame=clips_frame(data),
        clips={clip["path"]: clip for clip in data["clips"]},
        failed_count=sum(1 for c in report.clips if failed(c.measurement.to_dict())),
    )
