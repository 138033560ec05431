"""Which DDP rank this training process is, and how ranks 1 to N-1 end when rank 0 has gone.

Lightning DDP starts the training command once more per extra device, as children of rank 0,
with ``LOCAL_RANK`` (and ``NODE_RANK``) set. This module imports only the standard library, so
a rank starts its watch before the heavy imports.

Example
-------
>>> is_rank_zero({"LOCAL_RANK": "1"})
False
>>> is_rank_zero({})
True
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping


def is_rank_zero(env: Mapping[str, str] | None = None) -> bool:
    """Return True in the process that saves and reports (the only one without DDP)."""
    env = os.environ if env is None else env
    return env.get("LOCAL_RANK", "0") == "0" and env.get("NODE_RANK", "0") == "0"


def end_with_parent(interval_s: float) -> threading.Thread:
    """Start a thread that ends this process (exit code 1) once its parent has gone.

    Ranks 1 to N-1 are children of rank 0; a killed rank 0 (kill -9) would leave them waiting
    in a collective for half an hour, keeping the job alive.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        print(f"svcqa: rank {os.environ.get('LOCAL_RANK', '?')}: rank 0 has gone; ending.", flush=True)
        os._exit(1)

    thread = threading.Thread(target=watch, name="svcqa-parent-watch", daemon=True)
    thread.start()
    return thread
