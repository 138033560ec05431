"""The Python interpreter's own costs in a worker process: heavy imports and the collection at exit.

torch, transformers and so-vits-svc-fork create about a million long-lived objects on import.
Python's cyclic garbage collector walks all of them again and again while they are imported
(each full collection is triggered by the growth of the heap) and once more while the
interpreter shuts down: on a 2-core machine that is about 1.5 s of a 5 s import and another
1.5 s at exit, in every command that converts. Importing them with the collector paused and
then moving them to its permanent generation (:func:`gc.freeze`) skips both: module objects
live as long as the process anyway. :func:`freeze_at_exit` makes the final collection skip
what the command made, as the process is about to return its memory whole.

Example
-------
>>> import_frozen(["pyclbr"])
>>> import gc, sys
>>> "pyclbr" in sys.modules and gc.isenabled()
True

"""

from __future__ import annotations

import atexit
import gc
import importlib
import sys
from collections.abc import Iterable

_exit_hook_registered = False


def import_frozen(names: Iterable[str]) -> None:
    """Import the modules ``names`` with the garbage collector paused, then freeze everything alive.

    The collector is enabled again afterwards if it was enabled before. Objects created later
    are collected as usual. When every module is imported already nothing happens, so a
    process freezes once.
    """
    names = [name for name in names if name not in sys.modules]
    if not names:
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name in names:
            importlib.import_module(name)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def freeze_at_exit() -> None:
    """Freeze every object at interpreter exit, after the other exit handlers ran (once per process).

    Finalizers of objects still alive at exit do not run through the collector then; the
    operating system takes the memory back. The command line calls it at its start (it acts
    only at exit, so a server started from it is unaffected while it runs).
    """
    global _exit_hook_registered
    if not _exit_hook_registered:
        # atexit runs handlers last-registered-first: registered early, this one runs last.
        atexit.register(gc.freeze)
        _exit_hook_registered = True
