"""Start the Streamlit server for a workspace (what the README's run command calls)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from svcqa.demo import create_demo
from svcqa.errors import SvcqaError
from svcqa.workspace import ENV_VAR, Workspace

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"
LOOPBACK = "127.0.0.1"


def streamlit_argv(workspace: Workspace, port: int, address: str, headless: bool) -> list[str]:
    """Return the argument list that runs the app (never a shell string)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


def serve_app(workspace: Workspace, port: int = 8501, public: bool = False, demo: bool = True) -> int:
    """Prepare the workspace (demo speaker when it has no recordings) and run the server.

    Returns the server's exit code. Public mode is refused until a password can be set.
    """
    if public:
        raise SvcqaError(
            "Public mode needs a password, and password protection is not available in this "
            "version: the server stays on 127.0.0.1. Reach it through an SSH tunnel "
            "(ssh -L 8501:127.0.0.1:8501 box) or your GPU host's port proxy."
        )
    workspace.ensure_layout()
    if demo and not workspace.has_audio(workspace.recordings) and not workspace.has_audio(workspace.dataset_raw):
        print(f"Creating the demo workspace in {workspace.root} ...", file=sys.stderr)
        create_demo(workspace)
    env = {**os.environ, ENV_VAR: str(workspace.root)}
    headless = not os.environ.get("DISPLAY")
    print(f"svcqa: http://{LOOPBACK}:{port}  (workspace {workspace.root})", file=sys.stderr)
    return subprocess.call(streamlit_argv(workspace, port, LOOPBACK, headless), env=env)
