"""The wrapper process of a background job: runs its command, then records how it ended.

:func:`svcqa.core.jobs.start` launches ``python jobrunner.py JOB_DIR`` in a session of its own.
The runner waits until its stdin closes (by then the starter has written ``job.json`` with
the runner's pid), runs the recorded command with stdout and stderr appended to ``log.txt``,
and on exit writes the state and exit code into ``job.json``, so the record is right even when
whoever started the job (a Streamlit server, a CLI call) is gone.

The stop signals (SIGINT, then SIGTERM) reach the whole process group; the runner outlives
them so it can record the outcome. The runner is started by file path with svcqa on its
``PYTHONPATH`` and imports only :mod:`svcqa.core.files` (standard library and Unidecode), so it
starts fast and a broken optional package cannot keep a job from being recorded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from svcqa.core.files import atomic_write_json, now_iso

JOB_FILE = "job.json"
LOG_FILE = "log.txt"
STOP_FILE = "stop_requested"
"""Present once a stop was asked for: an exit after it counts as "stopped", not "failed"."""


def read_record(path: Path) -> dict[str, Any]:
    """Return the JSON object stored at ``path``."""
    return json.loads(path.read_text(encoding="utf-8"))


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` as JSON to ``path`` atomically (:func:`svcqa.core.files.atomic_write_json`).

    Raises :class:`~svcqa.core.errors.WorkspaceError` when it cannot be written (a full disk).
    """
    atomic_write_json(path, record)


def final_state(exit_code: int, stop_requested: bool) -> str:
    """Return the state of a job whose command exited with ``exit_code``."""
    if stop_requested:
        return "stopped"
    return "succeeded" if exit_code == 0 else "failed"


def run(job_dir: Path) -> int:
    """Run the job recorded in ``job_dir`` and record its outcome; return the command's exit code."""
    sys.stdin.read()
    job_path = job_dir / JOB_FILE
    if not job_path.is_file():
        # The starter died before recording the job: nothing may run unrecorded.
        return 2
    record = read_record(job_path)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    with (job_dir / LOG_FILE).open("ab", buffering=0) as log:
        try:
            child = subprocess.Popen(
                record["argv"], cwd=record["cwd"], stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        except OSError as exc:
            log.write(f"\nsvcqa: could not start the command: {exc}\n".encode())
            exit_code = 127
        else:
            exit_code = child.wait()
    record.update(
        state=final_state(exit_code, (job_dir / STOP_FILE).exists()),
        exit_code=exit_code,
        ended_at=now_iso(),
    )
    write_record(job_path, record)
    return exit_code


if __name__ == "__main__":
    sys.exit(0 if run(Path(sys.argv[1])) == 0 else 1)
