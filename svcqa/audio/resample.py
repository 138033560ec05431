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
