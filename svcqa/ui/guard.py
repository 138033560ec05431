"""The gate in front of the dashboard's web server: the Host names it answers to, and no upload
before the password.

Streamlit's server answers any ``Host`` header, so a web page elsewhere whose name its owner
rebinds to 127.0.0.1 (DNS rebinding) could open the dashboard's websocket from the user's own
browser and read everything. :class:`HostGuard`, ASGI middleware that ``svcqa serve`` puts in
front of every HTTP request and websocket, refuses any Host but the ones the server is reached
by (:class:`HostPolicy`). In public mode it also refuses uploads from sessions that have not
entered the password, before reading a byte of them. Widget values a browser sends for ids the
server never gave out are dropped (:func:`drop_forged_widgets`): Streamlit would fail on them.

Example
-------
>>> policy = HostPolicy(port=8501, names=("svcqa.example.org",), public=False)
>>> [policy.allows(h) for h in ("127.0.0.1:8501", "localhost:8501", "[::1]:8501", "svcqa.example.org")]
[True, True, True, True]
>>> [policy.allows(h) for h in ("evil.example:8501", "localhost:9999", "10.0.0.5:8501", None)]
[False, False, False, False]
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Container, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.message import DecodeError
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.runtime.state.common import is_element_id

LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
"""The names of this machine a local server answers to (at its own port)."""
REFUSED_HOST = (
    b"svcqa: this dashboard does not answer to that host name (a guard against DNS rebinding). "
    b"Open it at the address `svcqa serve` printed, or add the name with `svcqa serve --host NAME`.\n"
)
REFUSED_UPLOAD = b"svcqa: enter the password before uploading files.\n"
_UPLOAD_PATH = re.compile(r"^/_stcore/upload_file/(?P<session>[^/]+)/")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` headers a server on ``port`` accepts.

    Always 127.0.0.1, localhost and [::1] at ``port`` (or with no port when ``port`` is the
    scheme's default). ``names`` adds more: ``name`` at any port, ``name:port`` at that port only.
    In ``public`` mode an IP address at any port is accepted too: a browser that typed an address
    cannot be the victim of a rebound name.
    """

    port: int
    names: tuple[str, ...] = ()
    public: bool = False
    tls: bool = False

    def allows(self, host: str | None) -> bool:
        """Return True when a request with this ``Host`` header may reach the dashboard."""
        parsed = _parse_host(host)
        if parsed is None:
            return False
        name, port = parsed
        default_port = 443 if self.tls else 80
        if name in LOOPBACK_NAMES and (port == self.port or (port is None and self.port == default_port)):
            return True
        for entry in self.names:
            allowed = _parse_host(entry)
            if allowed is not None and allowed[0] == name and allowed[1] in (None, port):
                return True
        return self.public and _is_ip(name)

    def host_names(self) -> list[str]:
        """Return the names this policy accepts, without ports (for Streamlit's own check).

        >>> HostPolicy(8501, ("a.example:8443", "B.example.")).host_names()
        ['127.0.0.1', 'localhost', '::1', 'a.example', 'b.example']
        """
        parsed = (_parse_host(entry) for entry in self.names)
        return [*LOOPBACK_NAMES, *(entry[0] for entry in parsed if entry is not None)]


class HostGuard:
    """ASGI middleware: refuse requests and websockets whose Host ``policy`` does not allow, and,
    in public mode, uploads of sessions not in ``admitted`` (by Streamlit session id)."""

    def __init__(self, app: App, policy: HostPolicy, admitted: Container[str]) -> None:
        self.app = app
        self.policy = policy
        self.admitted = admitted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not self.policy.allows(_header(scope, b"host")):
            await _refuse(kind, REFUSED_HOST, receive, send)
            return
        upload = _UPLOAD_PATH.match(scope.get("path", ""))
        if self.policy.public and upload and upload["session"] not in self.admitted:
            await _refuse(kind, REFUSED_UPLOAD, receive, send)
            return
        await self.app(scope, _filtered(receive) if kind == "websocket" else receive, send)


def drop_forged_widgets(data: bytes) -> bytes:
    """Return a browser's websocket message without widget values for ids Streamlit never makes
    (``$$ID-...`` are its own); anything else, or a message that does not parse, is unchanged.

    >>> message = BackMsg()
    >>> forged = message.rerun_script.widget_states.widgets.add(id="authenticated", bool_value=True)
    >>> real = message.rerun_script.widget_states.widgets.add(id="$$ID-ab12-login_password", string_value="x")
    >>> cleaned = BackMsg.FromString(drop_forged_widgets(message.SerializeToString()))
    >>> [w.id for w in cleaned.rerun_script.widget_states.widgets]
    ['$$ID-ab12-login_password']
    """
    try:
        message = BackMsg.FromString(data)
    except DecodeError:
        return data
    if message.WhichOneof("type") != "rerun_script":
        return data
    widgets = message.rerun_script.widget_states.widgets
    kept = [w for w in widgets if is_element_id(w.id)]
    if len(kept) == len(widgets):
        return data
    del widgets[:]
    widgets.extend(kept)
    return message.SerializeToString()


def _filtered(receive: Receive) -> Receive:
    """Return ``receive`` with :func:`drop_forged_widgets` applied to each binary message."""

    async def filtered() -> Message:
        message = await receive()
        if message.get("type") == "websocket.receive" and message.get("bytes"):
            message["bytes"] = drop_forged_widgets(message["bytes"])
        return message

    return filtered


def _header(scope: Scope, name: bytes) -> str | None:
    """Return the first header ``name`` of ``scope`` (None when absent or sent twice)."""
    values = [value for key, value in scope.get("headers", ()) if key.lower() == name]
    return values[0].decode("latin-1") if len(values) == 1 else None


def _parse_host(host: str | None) -> tuple[str, int | None] | None:
    """Return (lower-case name without brackets or final dot, port or None); None when malformed."""
    if not host:
        return None
    try:
        parts = urlsplit(f"//{host.strip()}")
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return parts.hostname.lower().rstrip("."), port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


async def _refuse(kind: str, reason: bytes, receive: Receive, send: Send) -> None:
    """Answer 403 without passing the request on (a websocket is closed before it opens)."""
    if kind == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(reason)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": reason})
