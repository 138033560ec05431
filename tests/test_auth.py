"""Public mode: hashed password, constant-time check, rate limit, and the login gate."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from svcqa.cli.serve import serve_app
from svcqa.core.auth import AuthError, RateLimiter, set_password, verify_password
from svcqa.core.workspace import Workspace

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


def test_rate_limiter_locks_out_after_repeated_failures() -> None:
    limiter = RateLimiter(max_failures=3, window_s=60)
    for i in range(3):
        assert limiter.retry_after_s("1.2.3.4", now=100.0 + i) == 0
        limiter.record_failure("1.2.3.4", now=100.0 + i)
    assert limiter.retry_after_s("1.2.3.4", now=103.0) == pytest.approx(57.0)
    assert limiter.retry_after_s("5.6.7.8", now=103.0) == 0
    assert limiter.retry_after_s("1.2.3.4", now=161.0) == 0


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


def test_login_gate_hides_every_page_until_the_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
