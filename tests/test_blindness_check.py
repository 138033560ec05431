"""The browser's blindness check (``tests.blindness``) fails wherever a step label or a secret is
planted: visible or hidden text, an attribute, an iframe, a URL, a played file's metadata.

Each page is served to headless Chromium through Playwright's routing: the blind player as the
Listen page embeds it (:func:`svcqa.ui.ab_player.player_html`) and an ``<audio>`` element whose
file the check fetches, as Streamlit serves ``st.audio``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from html import escape
from pathlib import Path

import numpy as np
import pytest

from svcqa.audio.encode import wav_bytes
from svcqa.ui.ab_player import player_html
from tests.blindness import page_leaks, presented_audio
from tests.browser import CHROMIUM, chromium_page

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium is installed by `make test`"
)

ORIGIN = "http://svcqa.test"
SHA = "5" * 64
SECRETS = {SHA, SHA[:12], "a1b2c3d4e5f60718", "a1b2c3d4e5f60718.wav"}


def _wav(seed: int, extra_chunk: bytes = b"") -> bytes:
    """Return a bare WAV of noise; ``extra_chunk`` is appended as a LIST chunk (metadata) when given."""
    data = wav_bytes(np.random.default_rng(seed).uniform(-0.1, 0.1, 800), 16_000, "PCM_16")
    if not extra_chunk:
        return data
    chunk = b"LIST" + len(extra_chunk).to_bytes(4, "little") + extra_chunk + b"\0" * (len(extra_chunk) % 2)
    riff = data + chunk
    return riff[:4] + (len(riff) - 8).to_bytes(4, "little") + riff[8:]


def _page(body: str = "", player: dict[str, bytes] | None = None, title: str = "Listen") -> str:
    sides = player or {"A": _wav(1), "B": _wav(2)}
    return (
        f"<html><head><title>{title}</title></head><body><h1>Listen</h1>"
        "<p>A blind test: the renders play under letters only.</p>"
        f'<iframe srcdoc="{escape(player_html(sides))}" title="Blind player"></iframe>'
        f'<audio controls src="{ORIGIN}/media/0f3a.wav"></audio>{body}</body></html>'
    )


@pytest.fixture
def browser_page() -> Iterator[object]:
    with chromium_page() as page:
        yield page


def _leaks(page, html: str, media: bytes | None = None) -> list[str]:
    files = {
        f"{ORIGIN}/listen": (html.encode(), "text/html"),
        f"{ORIGIN}/media/0f3a.wav": (media or _wav(3), "audio/wav"),
    }

    def serve(route) -> None:
        body, kind = files.get(route.request.url, (b"", "text/plain"))
        route.fulfill(status=200 if body else 404, body=body, content_type=kind)

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/listen", wait_until="load")
    page.wait_for_timeout(300)
    return page_leaks(page, SECRETS)


def test_a_blind_page_passes_and_its_player_audio_is_read(browser_page) -> None:
    assert _leaks(browser_page, _page()) == []
    assert [io.BytesIO(w).read(4) for w in presented_audio(browser_page)] == [b"RIFF", b"RIFF"]


@pytest.mark.parametrize(
    "planted",
    [
        "<p>Now playing step 8</p>",
        '<div style="display:none">G_8.pth</div>',
        '<span aria-label="Step #8">A</span>',
        '<button title="render of step 12,000">B</button>',
        f'<div data-render="{SHA[:12]}"></div>',
        '<img alt="" src="http://svcqa.test/renders/a1b2c3d4e5f60718.wav">',
        '<iframe srcdoc="&lt;p&gt;step 8&lt;/p&gt;"></iframe>',
    ],
)
def test_a_step_label_or_secret_planted_anywhere_in_the_page_fails_the_check(
    browser_page, planted: str
) -> None:
    assert _leaks(browser_page, _page(body=planted)), planted


def test_a_planted_label_in_the_title_or_in_audio_metadata_fails_the_check(browser_page) -> None:
    assert _leaks(browser_page, _page(title="Listen: step 8"))
    tagged = {"A": _wav(1, b"INFOINAM\x08\x00\x00\x00G_8.pth\x00"), "B": _wav(2)}
    assert any("not a bare WAV" in leak for leak in _leaks(browser_page, _page(player=tagged)))
    hashed = {"A": _wav(1), "B": _wav(2, SHA.encode())}
    assert any(repr(SHA) in leak for leak in _leaks(browser_page, _page(player=hashed)))


def test_a_played_file_with_metadata_fails_the_check(browser_page) -> None:
    leaks = _leaks(browser_page, _page(), media=_wav(3, b"INFOICMT\x08\x00\x00\x00G_8.pth\x00"))
    assert any(leak.startswith("audio http://svcqa.test/media/0f3a.wav: not a bare WAV") for leak in leaks)
