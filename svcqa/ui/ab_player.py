"""The blind player: renders under letters only, switched instantly at the same playback position.

The page hands over anonymised WAV bytes (from :mod:`svcqa.listen.stimuli`) under their letters.
:func:`player_html` embeds them as base64 in a self-contained page with no URL, file name or
id of any render; the browser decodes them with the Web Audio API and starts every side on one
clock, each through its own gain, so switching sides only moves the gains: the switch is
instant and lands on the same sample. A region can be looped (start/end inputs, or ``[`` and
``]`` at the playhead); keys A, B, ... switch, space plays and pauses, arrows jump 2 s.

The ``<body>`` carries ``data-state`` (loading, paused, playing), ``data-active`` (the letter
heard) and ``data-position`` (seconds) for browser tests.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from pathlib import Path

import streamlit as st

_TEMPLATE = (Path(__file__).with_name("ab_player.html")).read_text(encoding="utf-8")
_PAYLOAD_MARK = "__PAYLOAD__"
_LABEL = re.compile(r"[A-Z]")
_ROW_LABELS = 8
"""Side buttons that fit on one row of the page's width; more wrap onto a second row."""


def player_html(audio: Mapping[str, bytes]) -> str:
    """Return the player page for ``audio`` (letter -> WAV bytes), sides in the given order.

    Example
    -------
    >>> html = player_html({"A": b"RIFF-a", "B": b"RIFF-b"})
    >>> '"labels": ["A", "B"]' in html and base64.b64encode(b"RIFF-a").decode() in html
    True
    """
    labels = list(audio)
    if len(labels) < 2 or any(not _LABEL.fullmatch(label) for label in labels):
        raise ValueError("the player needs at least two sides labelled with single capital letters")
    payload = {
        "labels": labels,
        "audio": [base64.b64encode(audio[label]).decode("ascii") for label in labels],
    }
    # "</" inside the JSON would end the <script> element early.
    return _TEMPLATE.replace(_PAYLOAD_MARK, json.dumps(payload).replace("</", "<\\/"))


def blind_player(audio: Mapping[str, bytes]) -> None:
    """Draw the player for ``audio`` (letter -> anonymised WAV bytes)."""
    rows = 1 + (len(audio) - 1) // _ROW_LABELS
    st.iframe(player_html(audio), height=130 + 46 * rows, alt="Blind player")
