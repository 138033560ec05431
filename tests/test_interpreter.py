"""The interpreter's own costs: heavy imports with the collector paused, and no full collection at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the repository root."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_frozen_imports_with_the_collector_paused_then_freezes_once() -> None:
    done = run_python(
        """
        import gc, sys
        from svcqa.core.interpreter import import_frozen
        seen = []
        gc.callbacks.append(lambda phase, info: seen.append(info["generation"]) if phase == "start" else None)
        import_frozen(["email.mime.multipart", "http.client"])
        print("collections during import:", len(seen))
        print("imported:", all(name in sys.modules for name in ("email.mime.multipart", "http.client")))
        print("enabled after:", gc.isenabled())
        frozen = gc.get_freeze_count()
        print("frozen:", frozen > 1000)
        import_frozen(["http.client"])   # imported already: nothing happens
        print("frozen again:", gc.get_freeze_count() != frozen)
        gc.disable()
        import_frozen(["xml.dom.minidom"])
        print("stays disabled:", not gc.isenabled())
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "collections during import: 0",
        "imported: True",
        "enabled after: True",
        "frozen: True",
        "frozen again: False",
        "stays disabled: True",
    ]


def test_freeze_at_exit_runs_after_the_other_exit_handlers_and_keeps_the_exit_code() -> None:
    done = run_python(
        """
        import atexit, gc, sys
        from svcqa.core.interpreter import freeze_at_exit
        freeze_at_exit()
        freeze_at_exit()   # once per process
        atexit.register(lambda: print("frozen before my handler:", gc.get_freeze_count() > 0, flush=True))
        print("handlers:", atexit._ncallbacks())
        sys.exit(3)
        """
    )
    assert done.returncode == 3
    assert done.stdout.splitlines() == ["handlers: 2", "frozen before my handler: False"]


def test_a_converter_imports_so_vits_svc_fork_frozen() -> None:
    """Making the conversion engine imports torch and so-vits-svc-fork once, frozen (3 s less at
    real size on 2 cores: 1.5 s of collections while importing and 1.5 s at exit)."""
    done = run_python(
        """
        import gc, sys
        from svcqa.engines.svc.converter import CONVERSION_MODULES
        from svcqa.core.interpreter import import_frozen
        before = gc.get_freeze_count()
        import_frozen(CONVERSION_MODULES)
        imported = all(name in sys.modules for name in CONVERSION_MODULES)
        print("result:", imported, gc.get_freeze_count() - before > 100_000)
        """
    )
    assert done.returncode == 0, done.stderr
    # so-vits-svc-fork logs its own warnings to stdout through rich: read our line.
    assert done.stdout.splitlines()[-1] == "result: True True"
