"""Password protection for public mode: a salted scrypt hash in the workspace, never the password.

``python -m svcqa password set`` writes ``<workspace>/.svcqa/auth.json`` (mode 0600). The app
compares a derived key in constant time and rate-limits failed attempts per client address.

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
from dataclasses import dataclass, field
from pathlib import Path

from svcqa.core.errors import SvcqaError
from svcqa.core.files import atomic_write_json

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


@dataclass
class RateLimiter:
    """Allows ``max_failures`` failed attempts per client within ``window_s``, then locks it out."""

    max_failures: int = 5
    window_s: float = 300.0
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after_s(self, client: str, now: float | None = None) -> float:
        """Return how long ``client`` must wait before another attempt (0 when allowed)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < self.window_s]
            self._failures[client] = recent
            if len(recent) < self.max_failures:
                return 0.0
            return self.window_s - (now - recent[0])

    def record_failure(self, client: str, now: float | None = None) -> None:
        """Count one failed attempt of ``client``."""
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic() if now is None else now)

    def reset(self, client: str) -> None:
        """Forget ``client``'s failures (after a success)."""
        with self._lock:
            self._failures.pop(client, None)
