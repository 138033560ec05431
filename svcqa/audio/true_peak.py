"""True peak (BS.1770 4x oversampled peak) and a look-ahead true-peak limiter.

Example
-------
>>> import numpy as np
>>> square = np.sign(np.sin(2 * np.pi * 1000 * np.arange(4410) / 44_100))[None] * 0.99
>>> limited, reduction_db = limit_true_peak(square, -1.0, 44_100, window_ms=5.0, oversample=4)
>>> round(true_peak_dbtp(square), 1), round(true_peak_dbtp(limited), 3), round(reduction_db, 1)
(2.0, -1.0, 3.0)
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage
import scipy.signal

_BLOCK_SAMPLES = 1 << 18
"""Oversampling works in blocks of this many samples, so a long song needs no whole upsampled copy."""
_BLOCK_MARGIN_SAMPLES = 64
"""Neighbour samples each block takes for the resampling filter's context."""


def _dbfs(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


def peak_envelope(audio: np.ndarray, oversample: int) -> np.ndarray:
    """Return, per sample, the largest absolute value of the ``oversample``-times upsampled signal.

    The upsampled values between sample ``k`` and ``k + 1`` belong to ``k``; the maximum runs over
    channels. Works in blocks so a long song does not need the whole upsampled copy in memory.

    Parameters
    ----------
    audio : np.ndarray [shape=(channels, samples)]
    oversample : int >= 1
        Upsampling factor (4 gives the BS.1770 true peak).

    Returns
    -------
    np.ndarray [shape=(samples,), dtype=float32]
    """
    n_samples = audio.shape[-1]
    envelope = np.empty(n_samples, dtype=np.float32)
    for start in range(0, n_samples, _BLOCK_SAMPLES):
        stop = min(start + _BLOCK_SAMPLES, n_samples)
        lo = max(0, start - _BLOCK_MARGIN_SAMPLES)
        hi = min(n_samples, stop + _BLOCK_MARGIN_SAMPLES)
        upsampled = scipy.signal.resample_poly(audio[:, lo:hi], oversample, 1, axis=-1)
        block = upsampled[:, (start - lo) * oversample : (stop - lo) * oversample]
        envelope[start:stop] = np.abs(block).max(axis=0).reshape(-1, oversample).max(axis=1)
    return envelope


def true_peak_dbtp(audio: np.ndarray, oversample: int = 4) -> float:
    """Return the true peak (dBTP) of ``audio`` [shape=(channels, samples)], ``-inf`` for silence."""
    if audio.shape[-1] == 0:
        return float("-inf")
    return _dbfs(float(peak_envelope(audio, oversample).max()))


def limit_true_peak(
    audio: np.ndarray, ceiling_dbtp: float, sample_rate_hz: int, window_ms: float, oversample: int
) -> tuple[np.ndarray, float]:
    """Return ``audio`` under a look-ahead true-peak limiter, and its largest reduction in dB.

    The gain each sample needs (ceiling over its oversampled peak) is held at its minimum over
    ``window_ms`` either side and then averaged over ``window_ms``; every averaged value comes
    from minima that include the sample itself, so the gain never exceeds what the sample needs,
    and it ramps smoothly instead of jumping.

    Parameters
    ----------
    audio : np.ndarray [shape=(channels, samples)]
    ceiling_dbtp : float
        Largest allowed true peak (dBTP).
    sample_rate_hz : int > 0
    window_ms : float > 0
        Look-ahead, and attack/release ramp length (ms).
    oversample : int >= 1

    Returns
    -------
    limited : np.ndarray [shape=(channels, samples), dtype=float32]
    reduction_db : float >= 0
    """
    needed = np.minimum(
        1.0, 10.0 ** (ceiling_dbtp / 20.0) / np.maximum(peak_envelope(audio, oversample), 1e-12)
    )
    window = max(2, round(window_ms * sample_rate_hz / 1000.0))
    held = scipy.ndimage.minimum_filter1d(needed, size=2 * window + 1, mode="nearest")
    gain = scipy.ndimage.uniform_filter1d(held, size=window, mode="nearest")
    gain = np.minimum(gain, needed)  # float rounding of the average must not lift it above
    return (audio * gain).astype(np.float32), max(0.0, -_dbfs(float(gain.min())))
