"""The audit as a background job: one per workspace, picked up by any page, tab or reload.

``python -m svcqa.dataset.audit_job WORKSPACE FOLDER`` audits ``FOLDER`` (inside the
workspace) with the workspace's settings and cache, as the ``audit`` job of
:mod:`svcqa.core.jobs`: it goes on when the browser tab closes or reloads, only one runs per
workspace, and each file's result is stored as soon as it is measured, so a stop or a crash
keeps everything measured so far. The job records its progress (n of N, the pace) in the
workspace database, where any page reads it.

Example
-------
>>> import tempfile
>>> from svcqa.core.workspace import Workspace
>>> ws = Workspace(Path(tempfile.mkdtemp())).ensure_layout()
>>> running(ws) is None
True
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.core import jobs
from svcqa.core.errors import SvcqaError, WorkspaceError
from svcqa.core.files import iso_to_epoch_s
from svcqa.core.workspace import Workspace
from svcqa.dataset.run import AuditProgress, AuditScan, audit_dataset, measure_key

JOB_KIND = "audit"
KEPT_JOBS = 5
"""Finished audit jobs kept (with their logs); older ones are removed when a new one starts."""
RETRY_FAILED_ARG = "--retry-failed"


@dataclass(frozen=True)
class RecordedProgress:
    """The progress row of a folder: which job wrote it, with which measuring settings, how far."""

    job_id: str | None
    measure_key: str
    progress: AuditProgress


def running(ws: Workspace) -> jobs.Job | None:
    """Return the workspace's running audit job, or None."""
    return jobs.running_job(ws, JOB_KIND)


def folder_of(job: jobs.Job) -> Path:
    """Return the folder the audit job ``job`` audits."""
    args = [a for a in job.argv if a != RETRY_FAILED_ARG]
    return Path(args[-1])


def latest(ws: Workspace, folder: Path) -> jobs.Job | None:
    """Return the newest audit job of ``folder``, or None."""
    folder = Path(folder).absolute()
    return next((j for j in jobs.list_jobs(ws, JOB_KIND) if folder_of(j) == folder), None)


def start(ws: Workspace, folder: Path, retry_failed: bool = False) -> jobs.Job:
    """Start auditing ``folder`` (inside ``ws``) in the background and return the job.

    Raises :class:`JobError` when an audit already runs in this workspace, and
    :class:`~svcqa.core.errors.PathOutsideWorkspaceError` for a folder outside it.
    """
    folder = Path(folder).absolute()
    ws.relative(folder)
    _prune(ws)
    argv = [sys.executable, "-m", "svcqa.dataset.audit_job", str(ws.root)]
    argv += [RETRY_FAILED_ARG] if retry_failed else []
    return jobs.start(ws, JOB_KIND, [*argv, str(folder)])


def stop(ws: Workspace, timeout_s: float) -> jobs.Job | None:
    """Stop the running audit (what it measured stays stored); return it, or None if none ran."""
    job = running(ws)
    return None if job is None else jobs.stop(ws, job.id, timeout_s=timeout_s)


def read_progress(ws: Workspace, folder: Path) -> RecordedProgress | None:
    """Return the progress the latest audit of ``folder`` recorded, or None."""
    try:
        row = ws.store().audit_progress.get(str(Path(folder).absolute()))
    except WorkspaceError:
        return None
    if row is None:
        return None
    data = dict(row.data)
    return RecordedProgress(
        job_id=data.pop("job_id", None),
        measure_key=data.pop("measure_key", ""),
        progress=AuditProgress.from_dict(data),
    )


def should_start(scan: AuditScan, last: jobs.Job | None, recorded: RecordedProgress | None) -> bool:
    """Return True when a page should start auditing the folder of ``scan`` by itself.

    Nothing to measure: no. Never audited, or audited with other measuring settings: yes.
    The last audit still running, stopped or failed: no (the page attaches, or offers to resume).
    It succeeded: only for files changed (or copied in) after it started; files it measured
    but could not store (a full disk) are not measured again and again.
    """
    if not scan.todo:
        return False
    if last is None or (recorded is not None and recorded.measure_key != scan.measure_key):
        return True
    if last.state != "succeeded":
        return False
    started_ns = int(iso_to_epoch_s(last.started_at) * 1e9)
    return any(scan.changed_ns.get(str(p), 0) > started_ns for p in scan.todo)


def _prune(ws: Workspace) -> None:
    """Remove finished audit jobs beyond the newest :data:`KEPT_JOBS`."""
    finished = [j for j in jobs.list_jobs(ws, JOB_KIND) if not j.running]
    for job in finished[KEPT_JOBS:]:
        shutil.rmtree(jobs.job_dir(ws, job.id), ignore_errors=True)


def _own_job(ws: Workspace) -> jobs.Job | None:
    """Return the job record of this process (its runner is our parent), if it was started as one."""
    job = running(ws)
    return job if job is not None and job.pid == os.getppid() else None


def run(ws: Workspace, folder: Path, retry_failed: bool = False) -> int:
    """Audit ``folder`` with the workspace's settings and cache, recording progress; return an exit code."""
    from svcqa.dataset.voice_analysis import voice_available

    settings = ws.load_settings()
    with_voice = voice_available()
    folder = Path(folder).absolute()
    own = _own_job(ws)
    store = ws.store()
    extra: dict[str, Any] = {
        "job_id": own.id if own else None,
        "measure_key": measure_key(settings, with_voice),
    }

    def record(progress: AuditProgress) -> None:
        print(f"{progress.describe()}: {progress.current}", flush=True)
        with contextlib.suppress(WorkspaceError):  # a full disk must not end the audit
            store.audit_progress.put(str(folder), {**progress.to_dict(), **extra})

    try:
        report = audit_dataset(
            folder,
            settings,
            cache_path=ws.db_path,
            with_voice=with_voice,
            retry_failed=retry_failed,
            on_progress=record,
        )
    except KeyboardInterrupt:
        print("Stopped; every file measured so far is stored.", flush=True)
        return 130
    except SvcqaError as exc:
        print(f"svcqa: {exc}", file=sys.stderr, flush=True)
        return 1
    cache = report.cache
    print(f"Audited {len(report.clips)} files ({cache.measured if cache else 0} measured).", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry of the job."""
    parser = argparse.ArgumentParser(prog="python -m svcqa.dataset.audit_job", description=__doc__)
    parser.add_argument("workspace", type=Path)
    parser.add_argument(RETRY_FAILED_ARG, dest="retry_failed", action="store_true")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    return run(Workspace(args.workspace), args.folder, args.retry_failed)


if __name__ == "__main__":
    sys.exit(main())
