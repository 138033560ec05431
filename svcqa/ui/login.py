"""The gates drawn before any page: the password of public mode, and vote-only links."""

from __future__ import annotations

import os

import streamlit as st

from svcqa.core.auth import PUBLIC_ENV, RateLimiter, verify_password
from svcqa.core.workspace import Workspace
from svcqa.listen.invites import QUERY_PARAMETER, check_token, is_open
from svcqa.ui import state


@st.cache_resource
def _limiter() -> RateLimiter:
    """One limiter per server process, shared by every browser session."""
    return RateLimiter()


def require_login() -> None:
    """In public mode, stop the script until this session has entered the password."""
    if os.environ.get(PUBLIC_ENV) != "1" or st.session_state.get(state.AUTHENTICATED):
        return
    limiter = _limiter()
    client = st.context.ip_address or "unknown"
    st.title("svcqa")
    wait_s = limiter.retry_after_s(client)
    if wait_s > 0:
        st.error(f"Too many wrong passwords. Try again in {wait_s:.0f} s.")
        st.stop()
    with st.form("login"):
        attempt = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Enter", key="login_submit")
    if submitted:
        if verify_password(state.startup_auth_path(), attempt):
            limiter.reset(client)
            st.session_state[state.AUTHENTICATED] = True
            st.rerun()
        limiter.record_failure(client)
        st.error("Wrong password.")
    st.stop()


def vote_only_session() -> bool:
    """Return True when this session came through a vote-only link; stop the script once it was revoked.

    Pages that serve such sessions call it too, so a revoked link shuts out an open session
    even where the entry script's gate did not run.
    """
    invite_id = st.session_state.get(state.LISTEN_INVITE)
    if invite_id is None:
        return False
    if not is_open(Workspace(state.startup_root()), invite_id):
        st.error("This listening link was revoked. Ask the owner for a new one.")
        st.stop()
    return True


def invited_session() -> bool:
    """Return True when this session came through a vote-only link; stop the script on a bad link.

    The ``?listen=<token>`` token is checked against the startup workspace's invitations
    (:mod:`svcqa.listen.invites`), with the password's rate limit. An admitted session stays vote-only
    (it works in the startup workspace, without the sidebar) until its invitation is revoked.
    In public mode such a session needs no password: the token is the credential.
    """
    token = st.query_params.get(QUERY_PARAMETER)
    if token is None or st.session_state.get(state.LISTEN_INVITE) is not None:
        return vote_only_session()
    limiter = _limiter()
    client = st.context.ip_address or "unknown"
    wait_s = limiter.retry_after_s(client)
    if wait_s > 0:
        st.error(f"Too many wrong links. Try again in {wait_s:.0f} s.")
        st.stop()
    invite = check_token(Workspace(state.startup_root()), token)
    if invite is None:
        limiter.record_failure(client)
        st.error("This listening link is not valid: it is mistyped or was revoked. Ask the owner for a new one.")
        st.stop()
    st.session_state[state.LISTEN_INVITE] = invite.id
    st.session_state.pop(state.WORKSPACE_ROOT, None)
    return True
