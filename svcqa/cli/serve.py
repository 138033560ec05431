"""Start the dashboard for a workspace (what the README's run command calls).

Streamlit runs in this process as an ASGI app (``st.App``) behind :class:`~svcqa.ui.guard.HostGuard`,
which refuses Host names the server does not serve (DNS rebinding) and, in public mode, uploads
before the password. The client of a request is its socket's peer: uvicorn reads
``X-Forwarded-For`` only from the proxies named in the settings (``server.trusted_proxies``).
Public mode hides error details from browsers and serves HTTPS when given a certificate.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from svcqa.core.auth import ADMITTED_SESSIONS, PUBLIC_ENV, AuthError, has_password
from svcqa.core.settings import DEFAULT_PORT
from svcqa.core.workspace import ENV_VAR, Workspace
from svcqa.demo.singer import create_demo
from svcqa.ui.guard import HostGuard, HostPolicy

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"
LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"
TRUSTED_PROXIES_ENV = "FORWARDED_ALLOW_IPS"
"""uvicorn believes ``X-Forwarded-For`` only from these addresses (its default trusts 127.0.0.1)."""
HIDDEN_ERROR = "Something went wrong on the server; the owner finds the details in its log."

log = logging.getLogger(__name__)


def streamlit_config(
    policy: HostPolicy, address: str, headless: bool, tls: tuple[Path, Path] | None
) -> dict[str, Any]:
    """Return the Streamlit options the server runs with (over ``.streamlit/config.toml``).

    Streamlit's own websocket Host check (which ignores ports) gets the same names as the guard,
    or any name in public mode, where the guard also lets IP addresses through.
    """
    public = policy.public
    config: dict[str, Any] = {
        "server.address": address,
        "server.port": policy.port,
        "server.allowedHosts": ["*"] if public else policy.host_names(),
        "server.headless": headless,
        "server.enableXsrfProtection": True,
        "server.enableCORS": True,
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": False,
        "client.showErrorDetails": "none" if public else "full",
    }
    if tls is not None:
        config["server.sslCertFile"], config["server.sslKeyFile"] = (str(tls[0]), str(tls[1]))
    return config


def serve_app(
    workspace: Workspace,
    port: int = DEFAULT_PORT,
    public: bool = False,
    demo: bool = True,
    hosts: tuple[str, ...] = (),
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> int:
    """Prepare the workspace (demo speaker when it has no recordings) and run the server until it
    is stopped; return its exit code.

    Public mode listens on every interface and refuses to start unless a password was set with
    ``python -m svcqa password set``. ``hosts`` adds Host names to the workspace's
    ``server.allowed_hosts``; ``tls_cert`` and ``tls_key`` (PEM files, both or neither) make it
    serve HTTPS.
    """
    if public and not has_password(workspace.auth_path):
        raise AuthError(
            "Public mode needs a password: run `python -m svcqa password set "
            f"--workspace {workspace.root}` first (or stay on 127.0.0.1 and use an SSH tunnel)."
        )
    tls = _tls_files(tls_cert, tls_key)
    workspace.ensure_layout()
    if (
        demo
        and not workspace.has_audio(workspace.recordings)
        and not workspace.has_audio(workspace.dataset_raw)
    ):
        print(f"Creating the demo workspace in {workspace.root} ...", file=sys.stderr)
        create_demo(workspace)
    server = workspace.load_settings().server
    os.environ.update(
        {
            ENV_VAR: str(workspace.root),
            PUBLIC_ENV: "1" if public else "0",
            TRUSTED_PROXIES_ENV: ",".join(server.trusted_proxies),
        }
    )
    address = ALL_INTERFACES if public else LOOPBACK
    headless = public or not os.environ.get("DISPLAY")
    policy = HostPolicy(port=port, names=(*server.allowed_hosts, *hosts), public=public, tls=tls is not None)
    scheme = "https" if tls else "http"
    print(f"svcqa: {scheme}://{address}:{port}  (workspace {workspace.root})", file=sys.stderr)
    _run_streamlit(policy, streamlit_config(policy, address, headless, tls))
    return 0


def _tls_files(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """Return the certificate and key files, or None without TLS; :class:`AuthError` when only one
    is given or one cannot be read."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise AuthError("Give both --tls-cert and --tls-key (PEM files), or neither.")
    for path in (cert, key):
        if not path.is_file() or not os.access(path, os.R_OK):
            raise AuthError(f"The TLS file {path} does not exist or cannot be read.")
    return cert.absolute(), key.absolute()


def _run_streamlit(policy: HostPolicy, config: dict[str, Any]) -> None:
    """Run the app in this process behind the guard until the server stops."""
    import streamlit as st
    from starlette.middleware import Middleware

    def on_script_error(exc: Exception) -> bool:
        if not policy.public:
            return False
        log.error("The page failed", exc_info=exc)
        st.error(HIDDEN_ERROR)
        return True

    app = st.App(
        str(APP),
        middleware=[Middleware(HostGuard, policy=policy, admitted=ADMITTED_SESSIONS)],
        on_script_error=on_script_error,
    )
    # App.run anchors the configuration and the pages on the launcher script, sys.argv[0].
    sys.argv = [str(APP)]
    app.run(config=config)
