"""Encoding audio: the one encoder (WAV and FLAC through soundfile, MP3 through pedalboard), in
memory or atomically to a file.

Example
-------
>>> import numpy as np
>>> data = wav_bytes(np.zeros(100, dtype=np.float32), 16_000, "PCM_16")
>>> data[:4], len(data)
(b'RIFF', 244)
>>> audio_bytes(np.zeros((100, 2), dtype=np.float32), 16_000, "flac", "PCM_24")[:4]
b'fLaC'
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from svcqa.core.errors import AudioError
from svcqa.core.files import atomic_path

DEFAULT_SUBTYPE = "PCM_16"
FORMATS: dict[str, str] = {".wav": "wav", ".flac": "flac", ".mp3": "mp3"}
"""File suffix -> format :func:`audio_bytes` encodes."""
DEFAULT_MP3_BITRATE_KBPS = 320


def audio_bytes(
    samples: np.ndarray,
    sample_rate_hz: int,
    audio_format: str = "wav",
    subtype: str = DEFAULT_SUBTYPE,
    mp3_bitrate_kbps: int = DEFAULT_MP3_BITRATE_KBPS,
) -> bytes:
    """Return ``samples`` [shape=(frames,) or (frames, channels)] encoded as ``audio_format``.

    Parameters
    ----------
    audio_format : str
        ``wav`` or ``flac`` (sample format ``subtype``, a soundfile subtype such as ``PCM_24``;
        integer subtypes are clipped to full scale first, as libsndfile would wrap values over
        1.0 around), or ``mp3`` (constant ``mp3_bitrate_kbps``).

    Raises
    ------
    AudioError
        An unknown format.
    """
    if audio_format == "mp3":
        from pedalboard.io import AudioFile

        planar = np.atleast_2d(np.asarray(samples, dtype=np.float32).T)
        return AudioFile.encode(
            planar, sample_rate_hz, "mp3", num_channels=planar.shape[0], quality=mp3_bitrate_kbps
        )
    if audio_format not in ("wav", "flac"):
        raise AudioError(f"Cannot encode {audio_format!r}: choose one of {', '.join(FORMATS.values())}.")
    buffer = io.BytesIO()
    sf.write(
        buffer, _for_subtype(samples, subtype), sample_rate_hz, subtype=subtype, format=audio_format.upper()
    )
    return buffer.getvalue()


def wav_bytes(samples: np.ndarray, sample_rate_hz: int, subtype: str = DEFAULT_SUBTYPE) -> bytes:
    """Return ``samples`` [shape=(frames,) or (frames, channels)] as a WAV file of ``subtype``.

    The file holds only the ``fmt`` and ``data`` chunks (see :func:`audio_bytes`).
    """
    return audio_bytes(samples, sample_rate_hz, "wav", subtype)


def write_audio(
    path: Path,
    samples: np.ndarray,
    sample_rate_hz: int,
    subtype: str = DEFAULT_SUBTYPE,
    mp3_bitrate_kbps: int = DEFAULT_MP3_BITRATE_KBPS,
) -> None:
    """Write ``samples`` at ``path`` atomically, in the format its suffix names (:data:`FORMATS`).

    Raises :class:`AudioError` for another suffix; see :func:`audio_bytes`.
    """
    audio_format = FORMATS.get(Path(path).suffix.lower())
    if audio_format is None:
        raise AudioError(f"Cannot write {Path(path).name}: choose a name ending in {', '.join(FORMATS)}.")
    _write(path, samples, sample_rate_hz, audio_format, subtype, mp3_bitrate_kbps)


def write_wav(path: Path, samples: np.ndarray, sample_rate_hz: int, subtype: str = DEFAULT_SUBTYPE) -> None:
    """Write ``samples`` as a WAV file at ``path`` atomically (see :func:`svcqa.core.files.atomic_path`)."""
    _write(path, samples, sample_rate_hz, "wav", subtype, DEFAULT_MP3_BITRATE_KBPS)


def _write(
    path: Path,
    samples: np.ndarray,
    sample_rate_hz: int,
    audio_format: str,
    subtype: str,
    mp3_bitrate_kbps: int,
) -> None:
    with atomic_path(path) as tmp:
        if audio_format == "mp3":
            tmp.write_bytes(audio_bytes(samples, sample_rate_hz, audio_format, subtype, mp3_bitrate_kbps))
        else:
            sf.write(
                tmp,
                _for_subtype(samples, subtype),
                sample_rate_hz,
                subtype=subtype,
                format=audio_format.upper(),
            )


def _for_subtype(samples: np.ndarray, subtype: str) -> np.ndarray:
    if subtype.startswith("PCM"):
        return np.clip(samples, -1.0, 1.0)
    return samples
