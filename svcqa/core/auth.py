"""Password protection for public mode: a salted scrypt hash in the workspace, never the password.

``python -m svcqa password set`` writes ``<workspace>/.svcqa/auth.json`` (mode 0600). The app
compares a derived key in constant time and makes each client wait longer after each failed
attempt (:class:`Lockout`, kept in the workspace database); ``svcqa password unlock`` ends the waits.

Example
-------
>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "auth.json"
>>> set_password(path, "correct horse battery")
>>> verify_password(path, "correct horse battery"), verify_password(path, "wrong")
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from svcqa.core.errors import SvcqaError
from svcqa.core.files import atomic_write_json
from svcqa.core.settings import ServerSettings
from svcqa.core.store import Store
from svcqa.core.store.login_failures import LoginFailure

MIN_PASSWORD_CHARS = 10
AUTH_FILE_MODE = 0o600
"""Owner-only: the hash file gets these permission bits whatever file was there before."""
PUBLIC_ENV = "SVCQA_PUBLIC"
"""Set to ``1`` by ``serve --public`` for the app: every session must then log in."""
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class AuthError(SvcqaError):
    """Public mode cannot be protected as asked (no password set, or a password too weak)."""


def _derive(password: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, maxmem=64 * 1024 * 1024, **params)


def set_password(path: Path, password: str) -> None:
    """Store a salted scrypt hash of ``password`` at ``path`` (owner-only permissions)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AuthError(f"Use a password of at least {MIN_PASSWORD_CHARS} characters.")
    salt = secrets.token_bytes(16)
    record = {
        "scheme": "scrypt",
        "params": _SCRYPT,
        "salt": base64.b64encode(salt).decode(),
        "hash": base64.b64encode(_derive(password, salt, _SCRYPT)).decode(),
    }
    atomic_write_json(path, record, mode=AUTH_FILE_MODE, indent=None)


def has_password(path: Path) -> bool:
    """Return True when a password hash is stored at ``path``."""
    return path.is_file()


def verify_password(path: Path, attempt: str) -> bool:
    """Return True when ``attempt`` matches the stored hash (constant-time comparison)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        salt = base64.b64decode(record["salt"])
        expected = base64.b64decode(record["hash"])
        params = {k: int(v) for k, v in record["params"].items()}
    except (OSError, ValueError, KeyError) as exc:
        raise AuthError(f"The password file {path} is unreadable ({exc}); set the password again.") from exc
    return hmac.compare_digest(_derive(attempt, salt, params), expected)


def wait_after_s(failures: int, settings: ServerSettings) -> float:
    """Return how long a client waits after its ``failures``-th failed attempt in a row: nothing
    for the first few, then a wait that doubles each time up to ``settings.login_max_delay_s``.

    >>> [wait_after_s(n, ServerSettings()) for n in (1, 4, 5, 6, 7, 14, 1000)]
    [0.0, 0.0, 1.0, 2.0, 4.0, 300.0, 300.0]
    """
    beyond = failures - settings.login_free_failures
    if beyond < 0:
        return 0.0
    return min(settings.login_max_delay_s, settings.login_delay_s * 2.0 ** min(beyond, 64))


class Lockout:
    """Slows down guessing: each client's failed attempts of one kind (``password``, ``link``) make
    it wait longer before the next, never for good.

    The counts live in the workspace database, not in the server's memory or caches, so no
    browser message resets them and every server process shares them; an attempt is claimed
    (counted as failed) before it is checked, atomically, so attempts sent at the same moment
    cannot all be checked. A success clears only its own kind, so a valid listening link does
    not reset password guesses.
    """

    def __init__(
        self, store: Store, settings: ServerSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self._failures = store.login_failures
        self._settings = settings
        self._clock = clock

    def claim(self, kind: str, client: str) -> float:
        """Return 0.0 when ``client`` may try now (the try counts as failed until :meth:`succeeded`),
        else the seconds it must still wait."""
        return self._failures.claim(
            f"{kind}:{client}",
            self._clock,
            self._settings.login_forget_s,
            lambda failures: wait_after_s(failures, self._settings),
        )

    def succeeded(self, kind: str, client: str) -> None:
        """Forget ``client``'s failures of ``kind`` (its attempt was right)."""
        self._failures.clear(f"{kind}:{client}")


def unlock(store: Store) -> list[LoginFailure]:
    """Forget every client's failed attempts (``svcqa password unlock``); return them."""
    return store.login_failures.clear_all()


class AdmittedSessions:
    """The browser sessions that entered the password: Streamlit session id -> a random ticket.

    Kept by the server process: a browser can send widget values for its session, but cannot add
    itself here. The session holds its ticket too, so a session id used again (as by Streamlit's
    test harness) admits nothing without it.
    """

    def __init__(self) -> None:
        self._tickets: dict[str, str] = {}
        self._lock = threading.Lock()

    def admit(self, session_id: str) -> str:
        """Remember that ``session_id`` entered the password; return the ticket the session keeps."""
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            self._tickets[session_id] = ticket
        return ticket

    def admits(self, session_id: str, ticket: object) -> bool:
        """Return True when ``session_id`` was admitted with ``ticket``."""
        with self._lock:
            expected = self._tickets.get(session_id)
        return isinstance(ticket, str) and expected is not None and hmac.compare_digest(ticket, expected)

    def __contains__(self, session_id: object) -> bool:
        with self._lock:
            return session_id in self._tickets


ADMITTED_SESSIONS = AdmittedSessions()
"""The sessions of this server process that entered the password."""
