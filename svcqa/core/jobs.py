"""Background jobs: detached OS processes with a state file and a log in the workspace.

Each job lives in ``<workspace>/.svcqa/jobs/<id>/``: ``job.json`` (:class:`Job`) and
``log.txt`` (stdout and stderr). A small wrapper process (:mod:`svcqa.core.jobrunner`) runs the
command in a session of its own and records the exit code, so a job outlives the Streamlit
server or CLI call that started it, and any later process re-attaches by reading ``job.json``.
The recorded pid is the wrapper's, which is also the process group id; its start time guards
against a reused pid.

Example
-------
>>> import sys, tempfile
>>> ws = Workspace(Path(tempfile.mkdtemp())).ensure_layout()
>>> job = start(ws, "demo", [sys.executable, "-c", "print('hi')"])
>>> wait(ws, job.id, timeout_s=30).state
'succeeded'
>>> log_tail(ws, job.id)
'hi'
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from svcqa.core import jobrunner
from svcqa.core.errors import JobError, WorkspaceError
from svcqa.core.files import iso_to_epoch_s, now_iso
from svcqa.core.records import Record
from svcqa.core.workspace import Workspace

STATES = ("running", "succeeded", "failed", "stopped")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``svcqa`` package (the repository root)."""
_KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_PID_START_TOLERANCE_S = 1.0
_POLL_S = 0.1
_TERM_GRACE_S = 10.0
# The Popen objects of runners this process started, so their exit is reaped (no zombies).
_STARTED: dict[str, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Job(Record):
    """One background process as recorded in ``job.json``.

    ``pid`` is the wrapper process (and process group) id, ``pid_start_time`` its start time
    in seconds since the epoch (psutil), ``exit_code`` the command's exit status (negative:
    killed by that signal), None while it runs or when the wrapper itself vanished.
    """

    id: str
    kind: str
    argv: tuple[str, ...]
    cwd: str
    pid: int
    pid_start_time: float
    started_at: str
    state: str
    exit_code: int | None = None
    ended_at: str | None = None

    @property
    def running(self) -> bool:
        """Return True while the job is recorded as running."""
        return self.state == "running"

    @property
    def elapsed_s(self) -> float:
        """Return seconds from start to end, or to now while running."""
        end_s = iso_to_epoch_s(self.ended_at) if self.ended_at else time.time()
        return end_s - iso_to_epoch_s(self.started_at)


# -- paths ----------------------------------------------------------------------------------
def job_dir(workspace: Workspace, job_id: str) -> Path:
    """Return the folder of job ``job_id``."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", job_id) or job_id.startswith("."):
        raise JobError(f"{job_id[:128]!r} is not a job id.")
    return workspace.jobs_dir / job_id


def log_path(workspace: Workspace, job_id: str) -> Path:
    """Return the log file (stdout and stderr) of job ``job_id``."""
    return job_dir(workspace, job_id) / jobrunner.LOG_FILE


# -- starting -------------------------------------------------------------------------------
def start(
    workspace: Workspace,
    kind: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Job:
    """Return the job running ``argv`` detached, in ``cwd`` (default: the workspace root).

    ``env`` is added to this process's environment (and ``PYTHONUNBUFFERED=1``). Raises
    :class:`JobError` when a job of the same ``kind`` is already running, or it cannot start.
    """
    if not _KIND_PATTERN.fullmatch(kind):
        raise JobError(f"Job kind {kind!r} must be a short lower-case name such as 'train'.")
    if not argv or not all(isinstance(part, str) for part in argv):
        raise JobError("A job needs a command: a non-empty list of strings.")
    workdir = Path(cwd) if cwd is not None else workspace.root
    workspace.jobs_dir.mkdir(parents=True, exist_ok=True)
    with _jobs_lock(workspace):
        busy = running_job(workspace, kind)
        if busy is not None:
            raise JobError(
                f"A {kind} job is already running ({busy.id}, pid {busy.pid}). "
                "Stop it or wait for it to end before starting another."
            )
        job_id = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        folder = job_dir(workspace, job_id)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        # Jobs run svcqa's own modules from the workspace folder: make the package importable there.
        full_env["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(PACKAGE_ROOT), full_env.get("PYTHONPATH", "")) if part
        )
        try:
            folder.mkdir()
            with (folder / jobrunner.LOG_FILE).open("ab") as log:
                runner = subprocess.Popen(
                    [sys.executable, str(Path(jobrunner.__file__)), str(folder)],
                    cwd=workdir,
                    env=full_env,
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
        except OSError as exc:
            raise JobError(f"Could not start the {kind} job: {exc}") from exc
        try:
            pid_start_time = psutil.Process(runner.pid).create_time()
        except psutil.NoSuchProcess as exc:
            raise JobError(f"The {kind} job ended before it was recorded; see {folder / 'log.txt'}.") from exc
        job = Job(
            id=job_id,
            kind=kind,
            argv=tuple(argv),
            cwd=str(workdir),
            pid=runner.pid,
            pid_start_time=pid_start_time,
            started_at=now_iso(),
            state="running",
        )
        assert runner.stdin is not None
        try:
            jobrunner.write_record(folder / jobrunner.JOB_FILE, job.to_dict())
        except WorkspaceError as exc:
            runner.stdin.close()  # finding no record, the runner ends without running the command
            runner.wait()
            raise JobError(f"Could not record the {kind} job: {exc}") from exc
        runner.stdin.close()  # the go signal: the runner starts the command now
        _STARTED[job_id] = runner
    return job


# -- reading --------------------------------------------------------------------------------
def get(workspace: Workspace, job_id: str) -> Job:
    """Return job ``job_id`` with its state brought up to date; :class:`JobError` if unknown."""
    path = job_dir(workspace, job_id) / jobrunner.JOB_FILE
    try:
        job = Job.from_dict(jobrunner.read_record(path))
    except FileNotFoundError as exc:
        raise JobError(f"There is no job {job_id} in {workspace.jobs_dir}.") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JobError(f"The record of job {job_id} ({path}) is unreadable: {exc}.") from exc
    return refresh(workspace, job)


def list_jobs(workspace: Workspace, kind: str | None = None) -> list[Job]:
    """Return the jobs of the workspace (of ``kind`` if given), newest first, states up to date.

    Folders without a readable ``job.json`` (a start that died half-way) are left out.
    """
    if not workspace.jobs_dir.is_dir():
        return []
    jobs = []
    for folder in workspace.jobs_dir.iterdir():
        if not (folder / jobrunner.JOB_FILE).is_file():
            continue
        try:
            job = get(workspace, folder.name)
        except JobError:
            continue
        if kind is None or job.kind == kind:
            jobs.append(job)
    return sorted(jobs, key=lambda j: (j.started_at, j.id), reverse=True)


def running_job(workspace: Workspace, kind: str) -> Job | None:
    """Return the running job of ``kind``, or None."""
    return next((job for job in list_jobs(workspace, kind) if job.running), None)


def refresh(workspace: Workspace, job: Job) -> Job:
    """Return ``job`` with its state checked against the live process.

    A job runs while any process of its group does. One recorded as running whose processes
    are all gone without the wrapper recording an exit is "stopped" when a stop was asked
    for, else "failed"; the record is updated.
    """
    if not job.running or _is_alive(job):
        return job
    folder = job_dir(workspace, job.id)
    # The wrapper may have recorded the outcome between our read and its exit.
    latest = Job.from_dict(jobrunner.read_record(folder / jobrunner.JOB_FILE))
    if not latest.running:
        return latest
    vanished = dataclasses.replace(
        latest,
        state="stopped" if (folder / jobrunner.STOP_FILE).exists() else "failed",
        ended_at=now_iso(),
    )
    # On a full disk the record stays "running"; the next reader finds the processes gone again.
    with contextlib.suppress(WorkspaceError):
        jobrunner.write_record(folder / jobrunner.JOB_FILE, vanished.to_dict())
    return vanished


def wait(workspace: Workspace, job_id: str, timeout_s: float) -> Job:
    """Return job ``job_id`` once it is no longer running; :class:`JobError` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = get(workspace, job_id)
        if not job.running:
            return job
        if time.monotonic() > deadline:
            raise JobError(f"Job {job_id} is still running after {timeout_s:.0f} s.")
        time.sleep(_POLL_S)


def log_tail(workspace: Workspace, job_id: str, max_lines: int = 50, max_bytes: int = 65_536) -> str:
    """Return the last ``max_lines`` lines of the job's log (text after a carriage return wins,
    as a terminal would show a redrawn progress bar)."""
    path = log_path(workspace, job_id)
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - max_bytes, 0))
        text = f.read().decode("utf-8", errors="replace")
    lines = [line.rsplit("\r", 1)[-1] for line in text.rstrip("\r\n").split("\n")]
    return "\n".join(lines[-max_lines:])


# -- stopping -------------------------------------------------------------------------------
def stop(workspace: Workspace, job_id: str, timeout_s: float) -> Job:
    """Return job ``job_id`` after stopping it: SIGINT to its process group, then after
    ``timeout_s`` SIGTERM, then SIGKILL, until no process of the group is left.

    A job that already ended is returned as it is.
    """
    job = get(workspace, job_id)
    if not job.running:
        return job
    folder = job_dir(workspace, job_id)
    jobrunner.write_record(folder / jobrunner.STOP_FILE, {"requested_at": now_iso()})
    for signum, patience_s in (
        (signal.SIGINT, timeout_s),
        (signal.SIGTERM, _TERM_GRACE_S),
        (signal.SIGKILL, _TERM_GRACE_S),
    ):
        _signal_group(job, signum)
        if _wait_gone(job, patience_s):
            break
    else:
        raise JobError(f"Job {job_id} (process group {job.pid}) survived SIGKILL; check the machine.")
    return get(workspace, job_id)


def _is_alive(job: Job) -> bool:
    return bool(_live_members(job))


def _live_members(job: Job) -> list[psutil.Process]:
    """Return the live processes of the job's process group (the wrapper first when alive)."""
    runner = _STARTED.get(job.id)
    if runner is not None:
        runner.poll()  # reap our own exited wrapper, so it is not mistaken for a live process
    try:
        leader = psutil.Process(job.pid)
        if abs(leader.create_time() - job.pid_start_time) >= _PID_START_TOLERANCE_S:
            # The pid was reused, which the kernel only does once the old group is empty.
            return []
        if leader.status() != psutil.STATUS_ZOMBIE:
            return [leader]
    except psutil.NoSuchProcess:
        pass
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == job.pid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def _signal_group(job: Job, signum: int) -> None:
    if not _live_members(job):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(job.pid, signum)


def _wait_gone(job: Job, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _is_alive(job):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True


@contextlib.contextmanager
def _jobs_lock(workspace: Workspace) -> Iterator[None]:
    """Hold an exclusive lock on the jobs folder, so two starts cannot both pass the guard."""
    with (workspace.jobs_dir / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
