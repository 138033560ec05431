"""Pages audit in a background job: wait for it before looking at what a page shows."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from svcqa.core import jobs
from svcqa.core.workspace import Workspace
from svcqa.dataset import audit_job

AUDIT_TIMEOUT_S = 300.0


def wait_for_audit(root: Path, timeout_s: float = AUDIT_TIMEOUT_S) -> jobs.Job | None:
    """Return the audit job of workspace ``root`` once it ended (None when none ran)."""
    ws = Workspace(root)
    job = audit_job.running(ws)
    return None if job is None else jobs.wait(ws, job.id, timeout_s)


def run_audited(at: AppTest, root: Path) -> AppTest:
    """Run the page; if it started an audit, wait for it and run the page again."""
    at.run()
    if wait_for_audit(root) is not None:
        at.run()
    return at


def stop_audit(root: Path) -> None:
    """Stop the audit running in workspace ``root``, if any."""
    if (root / ".svcqa").is_dir():
        audit_job.stop(Workspace(root), timeout_s=10.0)
