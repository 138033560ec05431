"""The blindness check of a page in a real browser: everything the page holds, searched for what
would tell a listener which checkpoint plays.

It reads the whole document, not only what is visible: the title and address, every text node
(hidden ones too), every attribute of every element (an ``aria-label``, a ``title``, an
iframe's ``srcdoc``), the documents of same-origin iframes, every URL the page loaded, and the
audio it plays: the blind player's embedded WAVs and every ``<audio>``/``<source>`` file, fetched.
A leak is a known secret (checkpoint hash, render id, file name) anywhere, a step label
("step 8", "G_8") in any text, attribute or URL, or audio that is not a bare WAV of ``fmt`` and
``data`` chunks (any other chunk can carry metadata).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

STEP_LABEL = re.compile(r"\bstep\s*#?\s*\d|\bG_\d", re.IGNORECASE)
"""What names a checkpoint by its step, in any text the page holds."""
_PAYLOAD = re.compile(r'(<script type="application/json" id="payload">)(.*?)(</script>)', re.S)
_DATA_URI = re.compile(r"data:[\w/+.-]*;base64,[A-Za-z0-9+/=]+")
"""Embedded files (icons, fonts): their base64 is checked as bytes, not read as text."""

_COLLECT = """
() => {
  const out = {texts: [], attrs: [], urls: [location.href], audio: []};
  const visit = (doc, where) => {
    out.texts.push([where + " title", doc.title || ""]);
    const walker = doc.createTreeWalker(doc.documentElement, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const tag = node.parentElement ? node.parentElement.tagName : "";
      if (tag !== "SCRIPT" && tag !== "STYLE") out.texts.push([where + " text", node.textContent]);
    }
    for (const el of doc.querySelectorAll("*")) {
      for (const a of el.attributes) out.attrs.push([where + " <" + el.tagName.toLowerCase() + " " + a.name + ">", a.value]);
      if (["AUDIO", "SOURCE", "VIDEO"].includes(el.tagName) && el.src) out.audio.push(el.src);
      if (el.tagName === "IFRAME") {
        try { if (el.contentDocument) visit(el.contentDocument, where + " iframe"); } catch (e) {}
      }
    }
  };
  visit(document, "page");
  for (const entry of performance.getEntriesByType("resource")) out.urls.push(entry.name);
  return out;
}
"""
_FETCH = """
async (urls) => Promise.all(urls.map(async (url) => {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}))
"""


def wav_chunks(data: bytes) -> list[str] | None:
    """Return the chunk ids of a RIFF/WAVE file, or None when ``data`` is not one."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    ids, offset = [], 12
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        ids.append(data[offset : offset + 4].decode("latin-1"))
        offset += 8 + size + size % 2
    return ids


def player_wavs(srcdoc: str) -> list[bytes]:
    """Return the WAV files embedded in a blind player page (its JSON payload)."""
    found = _PAYLOAD.search(srcdoc)
    return [base64.b64decode(a) for a in json.loads(found.group(2))["audio"]] if found else []


def audio_leaks(where: str, data: bytes, secrets: Iterable[str]) -> list[str]:
    """Return what a played file gives away: a secret in its bytes, or chunks beyond ``fmt`` and ``data``."""
    leaks = [f"{where}: holds {s!r}" for s in secrets if s.encode() in data]
    chunks = wav_chunks(data)
    if chunks != ["fmt ", "data"]:
        leaks.append(f"{where}: not a bare WAV (chunks {chunks})")
    return leaks


def text_leaks(where: str, text: str, secrets: Iterable[str], step_labels: bool = True) -> list[str]:
    """Return the secrets and (with ``step_labels``) the step labels in one piece of the page's text."""
    plain = _DATA_URI.sub("", _PAYLOAD.sub(r"\1\3", text))
    leaks = [f"{where}: {s!r}" for s in secrets if s in plain]
    if not step_labels:
        return leaks
    leaks += [
        f"{where}: step label {m.group(0)!r} in {plain[max(m.start() - 40, 0) : m.end() + 40]!r}"
        for m in STEP_LABEL.finditer(plain)
    ]
    return leaks


def page_leaks(page: Any, secrets: Iterable[str], step_labels: bool = True) -> list[str]:
    """Return everything in the Playwright ``page`` that would tell which checkpoint plays; empty when blind.

    ``step_labels=False`` looks for the secrets only, on a page that shows steps as settings.
    """
    secrets = [s for s in secrets if s]
    found = page.evaluate(_COLLECT)
    leaks = []
    for where, text in found["texts"]:
        leaks += text_leaks(where, text, secrets, step_labels)
    for where, value in found["attrs"]:
        leaks += text_leaks(where, value, secrets, step_labels)
        if where.endswith(" srcdoc>"):
            leaks += [
                wav
                for k, data in enumerate(player_wavs(value))
                for wav in audio_leaks(f"{where} audio {k}", data, secrets)
            ]
    for url in found["urls"]:
        leaks += text_leaks(f"url {url[:80]}", url, secrets, step_labels)
    if found["audio"]:
        fetched = page.evaluate(_FETCH, found["audio"])
        for url, data in zip(found["audio"], fetched, strict=True):
            leaks += audio_leaks(f"audio {url[:80]}", base64.b64decode(data), secrets)
    return leaks


def presented_audio(page: Any) -> list[bytes]:
    """Return the WAV files the page's blind players hold now."""
    srcdocs = page.evaluate(
        "() => [...document.querySelectorAll('iframe')].map(f => f.getAttribute('srcdoc') || '')"
    )
    return [wav for srcdoc in srcdocs for wav in player_wavs(srcdoc)]
