"""Sample-rate conversion: the one resampler (soxr at high quality, what librosa.load uses).

Example
-------
>>> import numpy as np
>>> resample(np.zeros(44_100, dtype=np.float32), 44_100, 16_000).shape
(16000,)
"""

from __future__ import annotations

import numpy as np
import soxr

from svcqa.core.errors import AudioError

QUALITY = "HQ"
"""soxr's high quality: librosa's default ``res_type="soxr_hq"``, so audio read here matches what
so-vits-svc-fork's ``svc infer`` (``librosa.load(path, sr=...)``) hands its model."""


def resample(audio: np.ndarray, sample_rate_hz: int, target_rate_hz: int) -> np.ndarray:
    """Return ``audio`` at ``target_rate_hz`` as float32 (itself when the rates already match).

    Parameters
    ----------
    audio : np.ndarray [shape=(frames,) or (frames, channels)]
        Time on the first axis.
    sample_rate_hz, target_rate_hz : int > 0
    """
    if sample_rate_hz <= 0 or target_rate_hz <= 0:
        raise AudioError(f"Sample rates must be positive, got {sample_rate_hz} Hz -> {target_rate_hz} Hz.")
    if sample_rate_hz == target_rate_hz or audio.shape[0] == 0:
        return np.asarray(audio, dtype=np.float32)
    return np.asarray(soxr.resample(audio, sample_rate_hz, target_rate_hz, quality=QUALITY), dtype=np.float32)


class StreamResampler:
    """Resample mono float32 audio that arrives in chunks, at the quality of :func:`resample`.

    Example
    -------
    >>> stream = StreamResampler(44_100, 16_000)
    >>> parts = [stream.add(np.zeros(44_100, dtype=np.float32)), stream.flush()]
    >>> sum(p.size for p in parts)
    16000
    """

    def __init__(self, sample_rate_hz: int, target_rate_hz: int) -> None:
        if sample_rate_hz <= 0 or target_rate_hz <= 0:
            raise AudioError(
                f"Sample rates must be positive, got {sample_rate_hz} Hz -> {target_rate_hz} Hz."
            )
        self._stream = (
            None
            if sample_rate_hz == target_rate_hz
            else soxr.ResampleStream(sample_rate_hz, target_rate_hz, 1, dtype="float32", quality=QUALITY)
        )

    def add(self, mono: np.ndarray) -> np.ndarray:
        """Return the resampled audio available after feeding ``mono`` (shape ``(n,)``)."""
        chunk = np.ascontiguousarray(mono, dtype=np.float32)
        return chunk if self._stream is None else self._stream.resample_chunk(chunk)

    def flush(self) -> np.ndarray:
        """Return the audio the resampler still holds; call once, after the last :meth:`add`."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        return self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
