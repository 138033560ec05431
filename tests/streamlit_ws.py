"""A raw Streamlit websocket client: what an attacker's script (or a rebinding web page) sends,
without a browser.

It opens ``/_stcore/stream`` with any Host, Origin and extra headers, runs the script, reads
the elements drawn (titles, errors, widget ids) and submits forms by widget id.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import ClientConnection, connect

TIMEOUT_S = 60.0


@dataclass
class Page:
    """What one script run drew."""

    headings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    widgets: dict[str, str] = field(default_factory=dict)
    """Widget id by the label shown."""
    exceptions: list[str] = field(default_factory=list)
    session_id: str = ""
    """The server's id of the session (sent with the first run)."""


@dataclass
class Session:
    """One open websocket session of the dashboard."""

    ws: ClientConnection

    def run(self, widgets: list[WidgetState] | None = None, clear_cache: bool = False) -> Page:
        """Ask for a script run (with these widget values) and return what it drew."""
        if clear_cache:
            message = BackMsg()
            message.clear_cache = True
            self.ws.send(message.SerializeToString())
        message = BackMsg()
        message.rerun_script.query_string = ""
        message.rerun_script.page_script_hash = ""
        message.rerun_script.widget_states.widgets.extend(widgets or [])
        self.ws.send(message.SerializeToString())
        return read_page(self.ws)

    def submit_password(self, page: Page, password: str) -> Page:
        """Submit the login form of ``page`` with ``password``."""
        text = WidgetState(id=page.widgets["Password"], string_value=password)
        button = WidgetState(id=page.widgets["Enter"], trigger_value=True)
        return self.run([text, button])


def read_page(ws: ClientConnection) -> Page:
    """Read forward messages until the script run finishes (the last run, when it reran itself)."""
    page = Page()
    while True:
        message = ForwardMsg()
        message.ParseFromString(ws.recv(timeout=TIMEOUT_S))
        kind = message.WhichOneof("type")
        if kind == "new_session":
            page.session_id = message.new_session.initialize.session_id
        if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            _note(page, message.delta.new_element)
        if kind == "script_finished":
            if message.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                page = Page(session_id=page.session_id)
                continue
            return page


def _note(page: Page, element: object) -> None:
    which = element.WhichOneof("type")  # type: ignore[attr-defined]
    value = getattr(element, which)
    if which == "heading":
        page.headings.append(value.body)
    elif which == "alert" and value.format == value.ERROR:
        page.errors.append(value.body)
    elif which == "exception":
        page.exceptions.append(f"{value.type}: {value.message} {list(value.stack_trace)}")
    elif which in ("text_input", "button"):
        page.widgets[value.label] = value.id


@contextmanager
def session(port: int, host: str | None = None, headers: dict[str, str] | None = None) -> Iterator[Session]:
    """Open a websocket session on 127.0.0.1:``port`` sending ``Host: host`` (default the real one)."""
    host = host or f"127.0.0.1:{port}"
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    with connect(
        f"ws://{host}/_stcore/stream",
        sock=sock,
        origin=f"http://{host}",  # type: ignore[arg-type]
        subprotocols=["streamlit"],  # type: ignore[list-item]
        additional_headers=headers or {},
        open_timeout=TIMEOUT_S,
    ) as ws:
        yield Session(ws)
