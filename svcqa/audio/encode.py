"""Encoding audio to WAV: the one WAV encoder, in memory or atomically to a file.

Example
-------
>>> import numpy as np
>>> data = wav_bytes(np.zeros(100, dtype=np.float32), 16_000, "PCM_16")
>>> data[:4], len(data)
(b'RIFF', 244)
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from svcqa.core.files import atomic_path

DEFAULT_SUBTYPE = "PCM_16"


def wav_bytes(samples: np.ndarray, sample_rate_hz: int, subtype: str = DEFAULT_SUBTYPE) -> bytes:
    """Return ``samples`` [shape=(frames,) or (frames, channels)] as a WAV file of ``subtype``.

    The file holds only the ``fmt`` and ``data`` chunks. Integer subtypes are clipped to full
    scale first (libsndfile would otherwise wrap values over 1.0 around).
    """
    buffer = io.BytesIO()
    sf.write(buffer, _for_subtype(samples, subtype), sample_rate_hz, subtype=subtype, format="WAV")
    return buffer.getvalue()


def write_wav(path: Path, samples: np.ndarray, sample_rate_hz: int, subtype: str = DEFAULT_SUBTYPE) -> None:
    """Write ``samples`` as a WAV file at ``path`` atomically (see :func:`svcqa.core.files.atomic_path`)."""
    with atomic_path(path) as tmp:
        sf.write(tmp, _for_subtype(samples, subtype), sample_rate_hz, subtype=subtype, format="WAV")


def _for_subtype(samples: np.ndarray, subtype: str) -> np.ndarray:
    if subtype.startswith("PCM"):
        return np.clip(samples, -1.0, 1.0)
    return samples
