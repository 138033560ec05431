"""Start the Streamlit server for a workspace (what the README's run command calls)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from svcqa.core.auth import PUBLIC_ENV, AuthError, has_password
from svcqa.core.settings import DEFAULT_PORT
from svcqa.core.workspace import ENV_VAR, Workspace
from svcqa.demo.singer import create_demo

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"
LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"


def streamlit_argv(workspace: Workspace, port: int, address: str, headless: bool) -> list[str]:
    """Return the argument list that runs the app (never a shell string)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


def serve_app(workspace: Workspace, port: int = DEFAULT_PORT, public: bool = False, demo: bool = True) -> int:
    """Prepare the workspace (demo speaker when it has no recordings) and run the server.

    Returns the server's exit code. Public mode listens on every interface and refuses to
    start unless a password was set with ``python -m svcqa password set``.
    """
    if public and not has_password(workspace.auth_path):
        raise AuthError(
            "Public mode needs a password: run `python -m svcqa password set "
            f"--workspace {workspace.root}` first (or stay on 127.0.0.1 and use an SSH tunnel)."
        )
    workspace.ensure_layout()
    if demo and not workspace.has_audio(workspace.recordings) and not workspace.has_audio(workspace.dataset_raw):
        print(f"Creating the demo workspace in {workspace.root} ...", file=sys.stderr)
        create_demo(workspace)
    env = {**os.environ, ENV_VAR: str(workspace.root), PUBLIC_ENV: "1" if public else "0"}
    address = ALL_INTERFACES if public else LOOPBACK
    headless = public or not os.environ.get("DISPLAY")
    print(f"svcqa: http://{address}:{port}  (workspace {workspace.root})", file=sys.stderr)
    return subprocess.call(streamlit_argv(workspace, port, address, headless), env=env)
