"""BLAS on one thread while the audit computes: it already runs one worker process per core.

On a busy 2-core machine a multi-threaded BLAS spins against the other workers: the small
matrix products and decompositions of the voice checks (mel filterbank, principal axes of the
voice map) get 5-70x slower than on one thread.

Example
-------
>>> import numpy as np
>>> with one_blas_thread():
...     float(np.linalg.eigh(np.eye(3))[0].sum())
3.0
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run BLAS and LAPACK on one thread inside the block (OpenMP and torch are left alone)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield


@functools.cache
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    # Scanning the loaded libraries costs a millisecond; do it once per process.
    return ThreadpoolController()
