"""A cover run as a background job: its run folder, request, progress file and exit code.

:func:`start_job` writes the request into ``.svcqa/covers/<run>/`` and starts
``python -m svcqa.cover.worker RUN_DIR`` through :mod:`svcqa.core.jobs`; the worker runs
:func:`run_job`, which keeps ``progress.json`` up to date for the page (:func:`job_progress`).

Example
-------
>>> p = CoverProgress("s.wav", None, (StageProgress("mix", "running", 0.5, ""),))
>>> p.fraction
0.5
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.core import jobs
from svcqa.core.errors import JobError, SvcqaError
from svcqa.core.files import atomic_write_json
from svcqa.core.records import Record
from svcqa.core.workspace import Workspace
from svcqa.cover.pipeline import run_cover
from svcqa.cover.records import CoverRequest

JOB_KIND = "cover"
REQUEST_FILE = "request.json"
PROGRESS_FILE = "progress.json"


@dataclass(frozen=True)
class StageProgress(Record):
    """One stage's line of the progress file."""

    stage: str
    status: str
    """``pending``, ``running``, ``cached``, ``ran`` or ``failed``."""
    fraction: float
    message: str


@dataclass(frozen=True)
class CoverProgress(Record):
    """The progress file of a background cover job (``progress.json`` in its run folder)."""

    song: str
    rerun: str | None
    stages: tuple[StageProgress, ...]
    error: str | None = None
    """Why the run stopped before or between stages (a stage's own failure is in its line)."""
    finished: bool = False

    @property
    def fraction(self) -> float:
        """Return the share of the run done, counting each stage equally."""
        done = sum(1.0 if s.status in ("cached", "ran", "failed") else s.fraction for s in self.stages)
        return done / len(self.stages) if self.stages else 1.0


class ProgressWriter:
    """A stage callback (``(stage, status, fraction, message)``) keeping a run's progress file."""

    def __init__(self, run_dir: Path, request: CoverRequest) -> None:
        self.path = Path(run_dir) / PROGRESS_FILE
        self.progress = CoverProgress(
            song=request.song,
            rerun=request.rerun,
            stages=tuple(StageProgress(s, "pending", 0.0, "") for s in request.stages),
        )
        self._write()

    def __call__(self, stage: str, status: str, fraction: float, message: str) -> None:
        """Record ``stage``'s new status and write the file."""
        stages = tuple(
            StageProgress(stage, status, round(min(max(fraction, 0.0), 1.0), 3), message)
            if s.stage == stage
            else s
            for s in self.progress.stages
        )
        self.progress = dataclasses.replace(self.progress, stages=stages)
        self._write()

    def finish(self, error: str | None = None) -> None:
        """Mark the run as over, with the error that stopped it, if any."""
        self.progress = dataclasses.replace(self.progress, error=error, finished=True)
        self._write()

    def _write(self) -> None:
        atomic_write_json(self.path, self.progress.to_dict())


def start_job(workspace: Workspace, request: CoverRequest, env: Mapping[str, str] | None = None) -> jobs.Job:
    """Return the background job running ``request`` (``python -m svcqa.cover.worker RUN_DIR``).

    The run folder ``.svcqa/covers/<run>/`` holds the request and the progress file. ``env`` is
    added to this process's environment. Raises :class:`JobError` while a cover job runs.
    """
    run_dir = workspace.cover_runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    run_dir.mkdir(parents=True)
    atomic_write_json(
        run_dir / REQUEST_FILE, {"workspace": str(workspace.root), "request": request.to_dict()}
    )
    ProgressWriter(run_dir, request)
    argv = [sys.executable, "-m", "svcqa.cover.worker", str(run_dir)]
    try:
        return jobs.start(workspace, JOB_KIND, argv, env=env)
    except JobError:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def latest_job(workspace: Workspace) -> jobs.Job | None:
    """Return the newest cover job (running or not), None when there was none."""
    return next(iter(jobs.list_jobs(workspace, JOB_KIND)), None)


def run_dir_of(job: jobs.Job) -> Path:
    """Return the run folder of a cover job (the last argument of its command)."""
    return Path(job.argv[-1])


def job_request(job: jobs.Job) -> CoverRequest | None:
    """Return the request a cover job runs, None when its run folder is gone."""
    path = run_dir_of(job) / REQUEST_FILE
    if not path.is_file():
        return None
    return CoverRequest.from_dict(_read_json(path)["request"])


def job_progress(job: jobs.Job) -> CoverProgress | None:
    """Return the progress file of a cover job, None when it is missing or half-written."""
    try:
        return CoverProgress.from_dict(_read_json(run_dir_of(job) / PROGRESS_FILE))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_job(run_dir: Path, log: Callable[[str], None] | None = None) -> int:
    """Run the request in ``run_dir`` keeping its progress file; return the exit code (0 done)."""
    data = _read_json(Path(run_dir) / REQUEST_FILE)
    workspace = Workspace(Path(data["workspace"]))
    request = CoverRequest.from_dict(data["request"])
    writer = ProgressWriter(run_dir, request)

    def progress(stage: str, status: str, fraction: float, message: str) -> None:
        writer(stage, status, fraction, message)
        if log is not None:
            log(f"[{stage}] {status} {fraction:.0%} {message}")

    try:
        result = run_cover(workspace, request, progress=progress, log=log)
    except Exception as exc:
        writer.finish(str(exc) if isinstance(exc, SvcqaError) else f"{type(exc).__name__}: {exc}")
        raise
    failed = result.failed
    writer.finish(failed.record.error if failed and failed.record else None)
    return 1 if failed else 0


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
