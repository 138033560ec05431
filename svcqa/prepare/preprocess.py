"""so-vits-svc-fork preprocessing of a prepared workspace, as a background job with progress.

The job runs ``python -m svcqa preprocess WORKSPACE`` (which calls
:func:`svcqa.engines.svc.preprocess`: pre-resample, pre-config, svcqa's config edits, pre-hubert) and
writes ``== <step>`` lines to its log; the page reads them back as progress.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from svcqa.core import jobs
from svcqa.core.errors import SvcqaError
from svcqa.core.workspace import Workspace
from svcqa.engines import svc

JOB_KIND = "preprocess"
STEPS: tuple[str, ...] = ("pre-resample", "pre-config", "edit-config", "pre-hubert")
_STEP_MARK = "== "


@dataclass(frozen=True)
class PreprocessProgress:
    """Where a preprocessing job is: its state, the step it is on, and the share done."""

    state: str
    step: str | None
    fraction: float
    job_id: str | None


def preflight(ws: Workspace) -> list[str]:
    """Return what stops preprocessing from running now (empty when it can run)."""
    problems = []
    try:
        svc.check_dataset_raw(ws)
    except SvcqaError as exc:
        problems.append(str(exc))
    env = svc.subprocess_env(svc.workspace_env(ws))
    if svc.find_contentvec(env) is None and svc.is_offline(env):
        problems.append(svc.contentvec_missing_message(env))
    return problems


def preprocess_argv(ws: Workspace, f0_method: str) -> list[str]:
    """Return the job's command (an argument list, never a shell string)."""
    return [sys.executable, "-m", "svcqa", "preprocess", str(ws.root), "--f0-method", f0_method]


def start(ws: Workspace, f0_method: str = "auto") -> jobs.Job:
    """Start preprocessing in the background after the preflight; return the job."""
    problems = preflight(ws)
    if problems:
        raise SvcqaError(" ".join(problems))
    svc.resolve_f0_method(f0_method)
    return jobs.start(ws, JOB_KIND, preprocess_argv(ws, f0_method))


def latest(ws: Workspace) -> jobs.Job | None:
    """Return the newest preprocessing job (state up to date), if any."""
    found = jobs.list_jobs(ws, JOB_KIND)
    return found[0] if found else None


def progress(ws: Workspace, job: jobs.Job | None) -> PreprocessProgress:
    """Return the job's progress, read from the step marks in its log."""
    if job is None:
        return PreprocessProgress("none", None, 0.0, None)
    log = jobs.log_tail(ws, job.id, max_lines=10_000)
    seen = [line[len(_STEP_MARK) :].strip() for line in log.splitlines() if line.startswith(_STEP_MARK)]
    step = seen[-1] if seen else None
    done = STEPS.index(step) if step in STEPS else 0
    fraction = 1.0 if job.state == "succeeded" else done / len(STEPS)
    return PreprocessProgress(job.state, step, fraction, job.id)
