"""Vote-only links: hashed tokens, a session limited to the Listen page, public mode, revocation."""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from svcqa.core.auth import set_password
from svcqa.listen import invites
from svcqa.ui import state
from tests.app_paths import APP, page
from tests.listen_workspace import ListenWorkspace, make_listen_workspace

PASSWORD = "a long enough password"


@pytest.fixture
def listen_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ListenWorkspace:
    made = make_listen_workspace(tmp_path / "ws")
    monkeypatch.setenv("SVCQA_WORKSPACE", str(made.ws.root))
    monkeypatch.delenv("SVCQA_PUBLIC", raising=False)
    return made


def session(token: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if token is not None:
        at.query_params[invites.QUERY_PARAMETER] = token
    at.run()
    assert not at.exception, at.exception
    return at


def test_token_is_stored_only_as_a_hash_and_compared_in_constant_time(
    listen_ws: ListenWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = listen_ws.ws
    invites.create_invite(ws, "first")
    invite, token = invites.create_invite(ws, "Sam")
    assert token.encode() not in ws.db_path.read_bytes()
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    assert invites.check_token(ws, token) == invite
    assert len(compared) == 2  # every open invitation compared, not a lookup that stops early
    assert invites.check_token(ws, token[:-1]) is None
    assert invites.check_token(ws, "") is None


def test_revoking_closes_the_link_and_unknown_ids_are_refused(listen_ws: ListenWorkspace) -> None:
    ws = listen_ws.ws
    invite, token = invites.create_invite(ws)
    assert invites.revoke_invite(ws, invite.id).revoked
    assert invites.check_token(ws, token) is None
    assert not invites.is_open(ws, invite.id)
    with pytest.raises(invites.InviteError, match="No invitation"):
        invites.revoke_invite(ws, "nope")
    with pytest.raises(invites.InviteError, match="label"):
        invites.create_invite(ws, "x" * 65)


def test_a_link_session_sees_only_the_listen_page_and_can_vote(listen_ws: ListenWorkspace) -> None:
    _, token = invites.create_invite(listen_ws.ws, "Sam")
    at = session(token)
    assert [t.value for t in at.title] == ["Listen"]
    assert not at.sidebar.selectbox  # no workspace switcher
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("dataset"))
    at.text_input(key=state.LISTEN_NAME_INPUT).input("sam")
    at.button(key=state.LISTEN_NAME_SUBMIT).click().run()
    at.button(key=state.LISTEN_VOTE_KEYS["A"]).click().run()
    assert not at.exception, at.exception
    assert at.metric[0].value == "1"
    owner_keys = (
        state.LISTEN_REVEAL,
        state.LISTEN_INVITE_CREATE,
        state.LISTEN_SHORTLIST,
        state.LISTEN_EXPORT,
    )
    assert not [b for b in at.button if b.key in owner_keys]
    assert not at.expander
    assert not at.toggle  # no blind mode to switch, no shortlist basis: a listener is blind by design


def test_a_wrong_link_sees_nothing_but_the_refusal(listen_ws: ListenWorkspace) -> None:
    invites.create_invite(listen_ws.ws)
    at = session("not-the-token")
    assert [e.value for e in at.error] == [
        "This listening link is not valid: it is mistyped or was revoked. Ask the owner for a new one."
    ]
    assert not at.title and not at.text_input and not at.button and not at.get("iframe")


def test_a_revoked_link_shuts_out_a_session_already_open(listen_ws: ListenWorkspace) -> None:
    invite, token = invites.create_invite(listen_ws.ws)
    at = session(token)
    assert [t.value for t in at.title] == ["Listen"]
    invites.revoke_invite(listen_ws.ws, invite.id)
    at.run()
    assert any("revoked" in e.value for e in at.error)
    assert not at.title


def test_in_public_mode_the_link_works_without_the_password_and_nothing_else_does(
    listen_ws: ListenWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_password(listen_ws.ws.auth_path, PASSWORD)
    monkeypatch.setenv("SVCQA_PUBLIC", "1")
    _, token = invites.create_invite(listen_ws.ws)
    invited = session(token)
    assert [t.value for t in invited.title] == ["Listen"]
    assert invited.text_input(key=state.LISTEN_NAME_INPUT)
    assert not [t for t in invited.text_input if t.key == "login_password"]

    plain = session()
    assert [t.key for t in plain.text_input] == ["login_password"]
    assert "Listen" not in [t.value for t in plain.title]


def test_the_owner_creates_a_link_on_the_page_and_revokes_it(listen_ws: ListenWorkspace) -> None:
    at = session()
    at.switch_page(page("listen")).run()
    at.text_input(key=state.LISTEN_NAME_INPUT).input("owner")
    at.button(key=state.LISTEN_NAME_SUBMIT).click().run()
    at.text_input(key=state.LISTEN_INVITE_LABEL).input("Sam")
    at.button(key=state.LISTEN_INVITE_CREATE).click().run()
    assert not at.exception, at.exception
    (link,) = [c.value for c in at.code]
    (token,) = parse_qs(urlsplit(link).query)[invites.QUERY_PARAMETER]
    invite = invites.check_token(listen_ws.ws, token)
    assert invite is not None and invite.label == "Sam"
    assert at.selectbox(key=state.LISTEN_REVOKE_PICK).value == invite.id
    at.button(key=state.LISTEN_REVOKE).click().run()
    assert invites.check_token(listen_ws.ws, token) is None
    assert not at.code
