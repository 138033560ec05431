"""Vote-only links: invitations that let a friend vote in the blind test and reach nothing else.

The owner creates an invitation (on the Listen page or with ``python -m svcqa listen invite``)
and sends the link ``<app url>?listen=<token>``. The token is 32 random bytes; the workspace
database keeps only its sha256, so a copy of the database cannot be turned into a link.
:func:`check_token` compares the hash with every open invitation in constant time. A session
that opens such a link sees only the Listen page, and in public mode the link works without
the password: the token is the credential. Revoking an invitation closes its link at once, also
for sessions already open.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> ws = Workspace(Path(tempfile.mkdtemp())).ensure_layout()
>>> invite, token = create_invite(ws, "Sam")
>>> check_token(ws, token) == invite, check_token(ws, "guess")
(True, None)
>>> revoke_invite(ws, invite.id).revoked, check_token(ws, token)
(True, None)
"""

from __future__ import annotations

import hmac
import secrets
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

from svcqa.core.errors import SvcqaError
from svcqa.core.files import text_sha256
from svcqa.core.store.invites import Invite
from svcqa.core.workspace import Workspace

QUERY_PARAMETER = "listen"
"""The query parameter of a vote-only link: ``?listen=<token>``."""
MAX_LABEL_CHARS = 64
_TOKEN_BYTES = 32


class InviteError(SvcqaError):
    """An invitation cannot be created or revoked as asked (unknown id, bad label)."""


def _digest(token: str) -> str:
    # surrogatepass: a pasted token with a lone surrogate is just a wrong token, not a crash.
    return text_sha256(token.encode("utf-8", "surrogatepass"))


def create_invite(ws: Workspace, label: str = "") -> tuple[Invite, str]:
    """Return a new invitation and its token (shown to the owner once, stored only hashed)."""
    label = label.strip()
    if len(label) > MAX_LABEL_CHARS or any(not ch.isprintable() for ch in label):
        raise InviteError(f"Give the invitation a label of up to {MAX_LABEL_CHARS} printable characters.")
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    invite = Invite(secrets.token_hex(4), label, time.time(), None)
    ws.store().invites.add(invite, _digest(token))
    return invite, token


def list_invites(ws: Workspace) -> list[Invite]:
    """Return every invitation, newest first (revoked ones included)."""
    return ws.store().invites.all_invites()


def check_token(ws: Workspace, token: str) -> Invite | None:
    """Return the open invitation whose token is ``token``, else None.

    Every open invitation's hash is compared in constant time, so the answer time does not
    tell how much of a guess was right.
    """
    if not isinstance(token, str) or not token or len(token) > 256:
        return None
    digest = _digest(token).encode("ascii")
    found = None
    for candidate in ws.store().invites.open_invites():
        if hmac.compare_digest(digest, candidate.token_sha256.encode("ascii")):
            found = candidate.invite
    return found


def is_open(ws: Workspace, invite_id: str) -> bool:
    """Return True when invitation ``invite_id`` exists and was not revoked."""
    return ws.store().invites.is_open(invite_id)


def revoke_invite(ws: Workspace, invite_id: str) -> Invite:
    """Close invitation ``invite_id`` (its link stops working at once) and return it."""
    invite = ws.store().invites.revoke(invite_id, time.time())
    if invite is None:
        raise InviteError(f"No invitation {invite_id!r}; `python -m svcqa listen invites` lists them.")
    return invite


def invite_link(base_url: str, token: str) -> str:
    """Return the vote-only link: ``base_url`` with ``?listen=<token>`` as its only query.

    The path is kept, so a link made behind a port proxy's prefix (``/proxy/8501/listen``)
    goes through the same proxy.

    Example
    -------
    >>> invite_link("http://127.0.0.1:8501/listen?x=1#top", "abc")
    'http://127.0.0.1:8501/listen?listen=abc'
    """
    parts = urlsplit(base_url)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path or "/", urlencode({QUERY_PARAMETER: token}), "")
    )
