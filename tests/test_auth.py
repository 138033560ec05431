"""Public mode: hashed password, constant-time check, growing waits after wrong guesses that no
browser message, race or forged header gets round, the login gate, and HTTPS."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import ssl
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from svcqa.cli.serve import serve_app, streamlit_config
from svcqa.core.auth import AuthError, Lockout, set_password, unlock, verify_password
from svcqa.core.settings import ServerSettings
from svcqa.core.store import Store
from svcqa.core.workspace import Workspace
from svcqa.ui.guard import REFUSED_UPLOAD, HostPolicy
from tests import streamlit_ws
from tests.browser import running_server

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "a long test password"


def test_password_is_stored_hashed_with_owner_only_access(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    set_password(path, PASSWORD)
    text = path.read_text()
    assert PASSWORD not in text
    assert json.loads(text)["scheme"] == "scrypt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert verify_password(path, PASSWORD)
    assert not verify_password(path, PASSWORD + "x")


def test_a_new_password_is_owner_only_even_over_a_world_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text("{}")
    path.chmod(0o644)
    stale = tmp_path / ".auth.json.svcqa-partial"
    stale.write_text("left by a killed write")
    stale.chmod(0o666)
    set_password(path, PASSWORD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert verify_password(path, PASSWORD)
    assert not stale.exists()


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="at least"):
        set_password(tmp_path / "auth.json", "short")


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lockout_makes_a_client_wait_longer_after_each_failure_and_never_for_good(tmp_path: Path) -> None:
    clock = Clock()
    lockout = Lockout(Store(tmp_path / "state.sqlite"), ServerSettings(), clock)
    assert [lockout.claim("password", "1.2.3.4") for _ in range(5)] == [0.0] * 5  # five free tries
    assert lockout.claim("password", "1.2.3.4") == pytest.approx(1.0)
    assert lockout.claim("password", "5.6.7.8") == 0.0  # another client is not slowed
    waits = []
    for _ in range(12):
        clock.now += lockout.claim("password", "1.2.3.4")
        assert lockout.claim("password", "1.2.3.4") == 0.0  # once the wait is over, one more try
        waits.append(round(lockout.claim("password", "1.2.3.4"), 3))
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0, 300.0, 300.0]
    clock.now += ServerSettings().login_forget_s
    assert lockout.claim("password", "1.2.3.4") == 0.0  # forgotten a day later


def test_a_success_forgets_only_its_own_kind_of_failures(tmp_path: Path) -> None:
    lockout = Lockout(Store(tmp_path / "state.sqlite"), ServerSettings(login_free_failures=1), Clock())
    lockout.claim("password", "c")
    lockout.claim("link", "c")
    lockout.succeeded("link", "c")  # a valid listening link
    assert lockout.claim("password", "c") == pytest.approx(1.0)
    assert lockout.claim("link", "c") == 0.0
    lockout.succeeded("password", "c")
    assert lockout.claim("password", "c") == 0.0


def test_the_waits_are_kept_in_the_workspace_database_and_unlock_ends_them(tmp_path: Path) -> None:
    """Nothing in a server process (a cache a browser can clear) holds them: a new process sees them."""
    clock = Clock()
    for _ in range(6):
        Lockout(Store(tmp_path / "state.sqlite"), ServerSettings(), clock).claim("password", "c")
    st.cache_data.clear()
    st.cache_resource.clear()
    fresh = Lockout(Store(tmp_path / "state.sqlite"), ServerSettings(), clock)
    assert fresh.claim("password", "c") == pytest.approx(1.0)
    assert [(f.client, f.failures) for f in unlock(Store(tmp_path / "state.sqlite"))] == [("password:c", 5)]
    assert fresh.claim("password", "c") == 0.0


def test_guesses_sent_at_the_same_moment_are_counted_one_by_one(tmp_path: Path) -> None:
    Store(tmp_path / "state.sqlite")
    start = threading.Barrier(12)

    def guess(_: int) -> float:
        lockout = Lockout(Store(tmp_path / "state.sqlite"), ServerSettings(), Clock())
        start.wait()
        return lockout.claim("password", "c")

    with cf.ThreadPoolExecutor(max_workers=12) as pool:
        waits = list(pool.map(guess, range(12)))
    assert waits.count(0.0) == 5  # the free tries, and not one more
    assert all(w == pytest.approx(1.0) for w in waits if w)


def test_public_mode_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="password set"):
        serve_app(Workspace(tmp_path / "ws"), public=True)


def test_password_set_cli_reads_stdin(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "svcqa", "password", "set", "--workspace", str(tmp_path / "ws"), "--stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert verify_password(tmp_path / "ws" / ".svcqa" / "auth.json", PASSWORD)


def test_login_gate_hides_every_page_until_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    set_password(ws.auth_path, PASSWORD)
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    monkeypatch.setenv("SVCQA_PUBLIC", "1")
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["svcqa"]
    assert not at.metric and not at.info
    at.text_input(key="login_password").input("wrong password!")
    at.button(key="login_submit").click().run()
    assert any("Wrong password" in e.value for e in at.error)
    at.text_input(key="login_password").input(PASSWORD)
    at.button(key="login_submit").click().run()
    assert not at.exception
    assert "Dataset" in [t.value for t in at.title]


# -- a real public server, driven by a raw websocket client --------------------------------
@dataclass
class PublicServer:
    ws: Workspace
    port: int
    url: str


WAIT = "Too many wrong passwords. Try again in N s."


def said(page: streamlit_ws.Page) -> list[str]:
    """Return the page's errors, waits of any length (at most 600 s here) written as ``N s``."""
    assert all(int(n) <= 600 for n in re.findall(r"in (\d+) s", " ".join(page.errors))), page.errors
    return [re.sub(r"in \d+ s", "in N s", error) for error in page.errors]


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublicServer]:
    """``serve --public`` on an empty workspace: three free guesses, then a 10-minute wait."""
    ws = Workspace(tmp_path_factory.mktemp("public") / "ws").ensure_layout()
    set_password(ws.auth_path, PASSWORD)
    server = ServerSettings(login_free_failures=3, login_delay_s=600.0, login_max_delay_s=600.0)
    ws.save_settings(ws.load_settings().with_section("server", **server.to_dict()))
    with running_server(ws.root, extra_args=("--public", "--no-demo")) as url:
        yield PublicServer(ws, int(url.rsplit(":", 1)[1]), url)


def guess(server: PublicServer, password: str, headers: dict[str, str] | None = None) -> streamlit_ws.Page:
    """Open a new session (a new browser tab), clear the server's caches, submit ``password``."""
    with streamlit_ws.session(server.port, headers=headers) as session:
        return session.submit_password(session.run(clear_cache=True), password)


def test_the_lockout_survives_cache_clears_forged_forwarded_for_and_new_sessions(
    public_server: PublicServer,
) -> None:
    unlock(public_server.ws.store())
    pages = [
        guess(public_server, f"wrong guess {n}", {"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(6)
    ]
    assert [said(p) for p in pages] == [["Wrong password."]] * 3 + [[WAIT]] * 3
    assert said(guess(public_server, PASSWORD)) == [WAIT]  # the owner waits too, for a while
    done = subprocess.run(
        [sys.executable, "-m", "svcqa", "password", "unlock", "--workspace", str(public_server.ws.root)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "password:loopback: 3 failed" in done.stdout  # one client, whatever it claimed to be
    page = guess(public_server, PASSWORD)
    assert page.errors == [] and "Dataset" in page.headings


def test_guesses_sent_at_the_same_moment_are_checked_no_more_than_the_free_ones(
    public_server: PublicServer,
) -> None:
    unlock(public_server.ws.store())
    start = threading.Barrier(12)

    def guess_at_once(n: int) -> list[str]:
        with streamlit_ws.session(public_server.port) as session:
            page = session.run()
            start.wait()
            return said(session.submit_password(page, f"wrong guess {n}"))

    with cf.ThreadPoolExecutor(max_workers=12) as pool:
        answers = sorted(error for errors in pool.map(guess_at_once, range(12)) for error in errors)
    assert answers == [WAIT] * 9 + ["Wrong password."] * 3


def test_forged_widget_values_are_a_wrong_password_or_ignored_never_a_traceback(
    public_server: PublicServer,
) -> None:
    unlock(public_server.ws.store())
    with streamlit_ws.session(public_server.port) as session:
        page = session.run()
        submit = WidgetState(id=page.widgets["Enter"], trigger_value=True)
        typed = session.run([WidgetState(id=page.widgets["Password"], int_value=12345), submit])
        forged = session.run(
            [
                WidgetState(id="authenticated", bool_value=True),
                WidgetState(id="listen_invite", string_value="x"),
            ]
        )
    assert (typed.errors, typed.exceptions) == (["Wrong password."], [])
    assert (forged.errors, forged.exceptions, forged.headings) == ([], [], ["svcqa"])


def _put_upload(server: PublicServer, session_id: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(
        f"{server.url}/_stcore/health", timeout=30
    ) as response:  # sets the XSRF cookie
        cookie = response.headers["Set-Cookie"].split(";")[0]
    request = urllib.request.Request(
        f"{server.url}/_stcore/upload_file/{session_id}/file-1",
        data=b'--b\r\nContent-Disposition: form-data; name="files[]"; filename="a.wav"\r\n\r\n'
        + b"\0" * 10_000  # small enough to be sent whole before a refusal closes the connection
        + b"\r\n--b--\r\n",
        method="PUT",
        headers={
            "Content-Type": "multipart/form-data; boundary=b",
            "Cookie": cookie,
            "X-Xsrftoken": cookie.split("=", 1)[1],
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_no_upload_is_taken_before_the_password(public_server: PublicServer) -> None:
    unlock(public_server.ws.store())
    with streamlit_ws.session(public_server.port) as session:
        page = session.run()
        assert _put_upload(public_server, page.session_id) == (403, REFUSED_UPLOAD)
        assert "Dataset" in session.submit_password(page, PASSWORD).headings
        assert _put_upload(public_server, page.session_id)[0] == 204


def test_public_mode_shows_browsers_no_error_details() -> None:
    public = streamlit_config(HostPolicy(8501, public=True), "0.0.0.0", True, None)
    local = streamlit_config(HostPolicy(8501), "127.0.0.1", True, None)
    assert (public["client.showErrorDetails"], local["client.showErrorDetails"]) == ("none", "full")


def test_public_mode_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    set_password(ws.auth_path, PASSWORD)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    with running_server(ws.root, extra_args=("--public", "--no-demo", *tls), scheme="https") as url:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=30, context=context) as response:
            assert response.status == 200
        with pytest.raises(OSError):  # no plain HTTP on that port
            urllib.request.urlopen(f"{url.replace('https', 'http')}/_stcore/health", timeout=30)


@pytest.mark.parametrize(
    ("cert", "key", "says"),
    [("cert.pem", None, "both --tls-cert and --tls-key"), ("nowhere.pem", "nowhere.key", "does not exist")],
)
def test_tls_needs_a_readable_certificate_and_key(
    tmp_path: Path, cert: str, key: str | None, says: str
) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    set_password(ws.auth_path, PASSWORD)
    (tmp_path / "cert.pem").write_text("x")
    with pytest.raises(AuthError, match=says):
        serve_app(ws, public=True, tls_cert=tmp_path / cert, tls_key=tmp_path / key if key else None)
