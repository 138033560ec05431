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


def voice_available(requested: bool = True) -> bool:
    """Return whether pitch analysis was ``requested`` and can run here."""
    if not requested:
        return False
    try:
        import svcqa.dataset.voice_kind  # noqa: F401
    except ImportError:
        return False
    return True
