"""Start the real server on a free port and drive Debian's Chromium with Playwright."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    workspace: Path, timeout_s: float = 180.0, extra_args: tuple[str, ...] = (), scheme: str = "http"
) -> Iterator[str]:
    """Run ``python -m svcqa serve`` for ``workspace``; yield its URL; stop it afterwards.

    ``scheme`` is ``https`` for a server given a certificate (any certificate is accepted).
    """
    port = free_port()
    log = open(workspace.parent / f"server-{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "svcqa",
            "serve",
            "--workspace",
            str(workspace),
            "--port",
            str(port),
            *extra_args,
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO), "DISPLAY": ""},
        start_new_session=True,
    )
    url = f"{scheme}://127.0.0.1:{port}"
    unverified = ssl._create_unverified_context()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(workspace.parent / f'server-{port}.log').read_text()}")
            try:
                with urllib.request.urlopen(
                    f"{url}/_stcore/health", timeout=2, context=unverified
                ) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not come up")
            time.sleep(0.5)
        yield url
    finally:
        # End the whole process group: serve and any job it started.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@contextmanager
def chromium_page() -> Iterator[object]:
    """Yield a Playwright page in headless Debian Chromium (1400x1000)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            yield page
        finally:
            browser.close()
