"""The gates drawn before any page: the password of public mode, and vote-only links.

Who entered the password is kept by the server process (:data:`~svcqa.core.auth.ADMITTED_SESSIONS`,
by session id and a ticket), never decided by the session's own state, which a browser can send
values for; failed
attempts make the client wait longer each time (:class:`~svcqa.core.auth.Lockout`, in the
workspace database, so no browser message resets them).
"""

from __future__ import annotations

import logging
import math
import os

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from svcqa.core.auth import ADMITTED_SESSIONS, PUBLIC_ENV, Lockout, verify_password
from svcqa.core.errors import SvcqaError
from svcqa.core.workspace import Workspace
from svcqa.listen.invites import QUERY_PARAMETER, check_token, is_open
from svcqa.ui import state

log = logging.getLogger(__name__)

PASSWORD = "password"
LINK = "link"
_UNAVAILABLE = "Logging in is unavailable right now; the owner finds the reason in the server's log."


def client_address() -> str:
    """Return the client's address: the socket's peer (``loopback`` for this machine), or the
    address a trusted proxy names (``svcqa serve`` lets only those set ``X-Forwarded-For``)."""
    return st.context.ip_address or "loopback"


def session_id() -> str:
    """Return the Streamlit id of this browser session ("" outside a script run)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def _lockout() -> Lockout:
    ws = Workspace(state.startup_root())
    return Lockout(ws.store(), ws.load_settings().server)


def require_login() -> None:
    """In public mode, stop the script until this session has entered the password."""
    if os.environ.get(PUBLIC_ENV) != "1" or ADMITTED_SESSIONS.admits(
        session_id(), st.session_state.get(state.ADMISSION)
    ):
        return
    st.title("svcqa")
    with st.form("login"):
        attempt = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Enter", key="login_submit")
    if submitted:
        st.error(_try_password(attempt))
    st.stop()


def _try_password(attempt: object) -> str:
    """Admit this session when ``attempt`` is the password (and rerun); else return why not."""
    client = client_address()
    try:
        lockout = _lockout()
        wait_s = lockout.claim(PASSWORD, client)
        if wait_s > 0:
            return f"Too many wrong passwords. Try again in {math.ceil(wait_s)} s."
        # A forged widget value can be anything; only a string is a password.
        if isinstance(attempt, str) and verify_password(state.startup_auth_path(), attempt):
            lockout.succeeded(PASSWORD, client)
            st.session_state[state.ADMISSION] = ADMITTED_SESSIONS.admit(session_id())
            st.rerun()
    except SvcqaError:
        log.exception("The password could not be checked")
        return _UNAVAILABLE
    return "Wrong password."


def vote_only_session() -> bool:
    """Return True when this session came through a vote-only link; stop the script once it was revoked.

    Pages that serve such sessions call it too, so a revoked link shuts out an open session
    even where the entry script's gate did not run.
    """
    invite_id = st.session_state.get(state.LISTEN_INVITE)
    if invite_id is None:
        return False
    if not isinstance(invite_id, str) or not is_open(Workspace(state.startup_root()), invite_id):
        st.error("This listening link was revoked. Ask the owner for a new one.")
        st.stop()
    return True


def invited_session() -> bool:
    """Return True when this session came through a vote-only link; stop the script on a bad link.

    The ``?listen=<token>`` token is checked against the startup workspace's invitations
    (:mod:`svcqa.listen.invites`), with the password's growing waits (counted apart from wrong
    passwords). An admitted session stays vote-only (it works in the startup workspace, without
    the sidebar) until its invitation is revoked. In public mode such a session needs no password:
    the token is the credential.
    """
    token = st.query_params.get(QUERY_PARAMETER)
    if token is None or st.session_state.get(state.LISTEN_INVITE) is not None:
        return vote_only_session()
    client = client_address()
    try:
        lockout = _lockout()
        wait_s = lockout.claim(LINK, client)
        invite = None if wait_s > 0 else check_token(Workspace(state.startup_root()), token)
    except SvcqaError:
        log.exception("The listening link could not be checked")
        st.error(_UNAVAILABLE)
        st.stop()
    if wait_s > 0:
        st.error(f"Too many wrong links. Try again in {math.ceil(wait_s)} s.")
        st.stop()
    if invite is None:
        st.error(
            "This listening link is not valid: it is mistyped or was revoked. Ask the owner for a new one."
        )
        st.stop()
    lockout.succeeded(LINK, client)
    st.session_state[state.LISTEN_INVITE] = invite.id
    st.session_state.pop(state.WORKSPACE_ROOT, None)
    return True
