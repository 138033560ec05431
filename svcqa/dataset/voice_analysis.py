"""Whether the audit can add pitch and speech-vs-singing analysis on this installation.

The analysis needs praat-parselmouth and scipy (:mod:`svcqa.dataset.voice_kind`); an
installation without them still audits, without the voice columns.

Example
-------
>>> voice_available(False)
False
>>> voice_available()  # the requirements include praat-parselmouth
True
"""

from __future__ import annotations

import importlib.util

REQUIRED_MODULES: tuple[str, ...] = ("parselmouth", "scipy")


def voice_available(requested: bool = True) -> bool:
    """Return whether pitch analysis was ``requested`` and can run here.

    Looks the packages up without importing them: a warm audit that only reads cached rows
    must not pay for loading them.
    """
    return requested and all(importlib.util.find_spec(name) is not None for name in REQUIRED_MODULES)
