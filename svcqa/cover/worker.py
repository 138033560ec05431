"""``python -m svcqa.cover.worker RUN_DIR``: the cover pipeline as a background job.

:func:`svcqa.cover.jobs.start_job` writes the request into RUN_DIR and starts this module through
:mod:`svcqa.core.jobs`; it runs the pipeline, keeping ``RUN_DIR/progress.json`` up to date, with the
converter's log on standard output (the job's ``log.txt``). Exit 0 when every stage is done,
1 when a stage or the run failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from svcqa.core.errors import SvcqaError
from svcqa.cover.jobs import run_job
from svcqa.engines.svc import quiet_svc_logging


def main(argv: list[str]) -> int:
    """Run the cover request in the run folder ``argv[0]``; return the exit code."""
    if len(argv) != 1:
        print("usage: python -m svcqa.cover.worker RUN_DIR", file=sys.stderr)
        return 2
    quiet_svc_logging()
    try:
        return run_job(Path(argv[0]), log=lambda line: print(line, flush=True))
    except SvcqaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
