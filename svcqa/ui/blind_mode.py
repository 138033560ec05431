"""Owner blind mode, "I am taking the test too": until reveal, this browser session shows no step
label and no per-checkpoint figure, so the owner takes the blind test as any listener does.

It is a setting of the browser session, not of the workspace: another tab of the owner, or the
command line, still sees everything (``listen results --blind`` is the command line's own switch).
While it is on and the test is not revealed, the Renders page plays the renders under numbers
in a random order of this session, with no step, loudness or message; the Train page hides its
objective metrics per checkpoint and words the overtraining watch without a step or a figure;
the Listen page offers no shortlist basis; the Cover page warns before a checkpoint is chosen by
step. Reveal ends it: there is nothing left to hide.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import TypeVar

import streamlit as st

from svcqa.core.workspace import Workspace
from svcqa.ui import state

LABEL = "I am taking the test too"
HELP = (
    "Blind mode for this browser session: until reveal, steps and per-checkpoint numbers are hidden "
    "on the Renders, Train and Listen pages, so you can vote as blind as your listeners."
)
COVER_WARNING = (
    "Blind mode: a cover sings with a checkpoint you choose by its step. Hearing it before reveal "
    "teaches you how that step sounds; finish the listening test first, or turn blind mode off."
)
T = TypeVar("T")
_STEP = re.compile(r"\b(step\s*|G_)\d+(?:,\d{3})*", re.IGNORECASE)


def is_blind(ws: Workspace) -> bool:
    """Return True while this session takes the test blind and the test is not revealed."""
    return bool(st.session_state.get(state.OWNER_BLIND)) and not ws.store().listen.revealed()


def toggle(ws: Workspace) -> bool:
    """Draw the "I am taking the test too" switch (until reveal); return whether this session is blind."""
    if ws.store().listen.revealed():
        return False
    st.toggle(
        LABEL,
        value=bool(st.session_state.get(state.OWNER_BLIND)),
        key=state.OWNER_BLIND_TOGGLE,
        on_change=_remember,
        help=HELP,
    )
    return bool(st.session_state.get(state.OWNER_BLIND))


def _remember() -> None:
    """Keep the switch's value where a page switch does not drop it (an ``on_change`` callback)."""
    st.session_state[state.OWNER_BLIND] = bool(st.session_state.get(state.OWNER_BLIND_TOGGLE))


def shuffled(items: Sequence[T], key: str) -> list[T]:
    """Return ``items`` in this session's random order; ``key`` names each item (stable across reruns)."""
    seed = st.session_state.setdefault(state.OWNER_BLIND_SEED, secrets.token_hex(16))
    return sorted(items, key=lambda item: hashlib.sha256(f"{seed}:{getattr(item, key)}".encode()).hexdigest())


def mask_steps(text: str) -> str:
    """Return ``text`` with every step number ("step 12,000", "G_12000") replaced by a dot.

    Example
    -------
    >>> mask_steps("Step 8000, verse: -23.0 LUFS; G_8000.pth")
    'Step ·, verse: -23.0 LUFS; G_·.pth'
    """
    return _STEP.sub(lambda m: f"{m.group(1)}·", text)
