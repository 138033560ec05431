"""What an AppTest page sends to the browser, as text: every element's protobuf, and the blind player."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

from streamlit.testing.v1 import AppTest

PAYLOAD = re.compile(r'<script type="application/json" id="payload">(.*?)</script>', re.S)
"""The blind player's audio payload inside its HTML."""


def _nodes(node) -> Iterator:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def player_pages(at: AppTest) -> list[str]:
    """Return the HTML of every embedded page (the blind player)."""
    return [n.proto.srcdoc for n in _nodes(at._tree) if getattr(n, "type", None) == "iframe"]


def player_audio(at: AppTest) -> dict[str, bytes]:
    """Return letter -> WAV bytes the player was given."""
    (html,) = player_pages(at)
    payload = json.loads(PAYLOAD.search(html).group(1))
    return {
        label: base64.b64decode(data) for label, data in zip(payload["labels"], payload["audio"], strict=True)
    }


def page_text(at: AppTest) -> str:
    """Return everything the page sends to the browser as text, the player's base64 audio left out."""
    parts = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        if getattr(node, "type", None) == "iframe":
            parts.append(PAYLOAD.sub("", proto.srcdoc))
        else:
            parts.append(str(proto))
        value = getattr(node, "value", None)
        if value is not None and not callable(value):
            parts.append(repr(value))
    return "\n".join(parts)
