"""Loudness and level: BS.1770 integrated loudness (pyloudnorm), decibels, DC removal, and
bringing a signal to a loudness target under a true-peak ceiling.

Example
-------
>>> import numpy as np
>>> tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(44_100) / 44_100)
>>> round(integrated_lufs(tone, 44_100), 1)
-23.7
>>> round(dbfs(0.5), 2), db_to_gain(-6.0) < 0.51
(-6.02, True)
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import scipy.signal

from svcqa.audio.true_peak import limit_true_peak, true_peak_dbtp

BS1770_BLOCK_S = 0.4
"""BS.1770 gating blocks are 400 ms long: shorter audio has no integrated loudness."""


def integrated_lufs(samples: np.ndarray, sample_rate_hz: int) -> float:
    """Return the BS.1770 integrated loudness in LUFS (``-inf`` when silent or under 0.4 s)."""
    if samples.shape[0] < int(BS1770_BLOCK_S * sample_rate_hz):
        return -math.inf
    meter = pyloudnorm.Meter(sample_rate_hz)
    return float(meter.integrated_loudness(samples))


def dbfs(amplitude: float) -> float:
    """Return ``20*log10(amplitude)``, ``-inf`` for zero."""
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


DC_BLOCK_HZ = 20.0
"""Cut-off of :func:`remove_dc`: below hearing, above the drift an undertrained model puts out."""


def remove_dc(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Return ``samples`` (any shape, time on the last axis) through a zero-phase 20 Hz high-pass.

    DC and rumble use up headroom without being heard; an undertrained generator often puts
    out a constant offset, which a loudness target would otherwise amplify.
    """
    sos = scipy.signal.butter(2, DC_BLOCK_HZ, "highpass", fs=sample_rate_hz, output="sos")
    if samples.shape[-1] <= 3 * (2 * sos.shape[0] + 1):
        return np.asarray(samples, dtype=np.float32)
    return scipy.signal.sosfiltfilt(sos, np.asarray(samples, dtype=np.float64), axis=-1).astype(np.float32)


def db_to_gain(db: float) -> float:
    """Return the linear amplitude factor of ``db`` decibels."""
    return float(10.0 ** (db / 20.0))


def match_loudness(
    samples: np.ndarray,
    sample_rate_hz: int,
    target_lufs: float,
    ceiling_dbtp: float,
    *,
    tolerance_lu: float,
    max_iterations: int,
    limiter_window_ms: float,
    oversample: int,
    ceiling_margin_db: float,
) -> tuple[np.ndarray, float | None, float | None]:
    """Return mono ``samples`` at ``target_lufs`` under ``ceiling_dbtp``, its loudness and gain (dB).

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
    sample_rate_hz : int > 0
    target_lufs : float
        Integrated loudness (ITU-R BS.1770, pyloudnorm) to reach, within ``tolerance_lu``.
    ceiling_dbtp : float
        A look-ahead true-peak limiter keeps the result ``ceiling_margin_db`` under this level;
        the gain is raised again (at most ``max_iterations`` rounds) until the loudness holds.

    A 20 Hz high-pass removes DC and rumble first: they use up headroom without being heard
    (an undertrained generator often puts out a DC offset). Silence (no measurable loudness) is
    returned with ``None`` for loudness and gain.
    """
    mono = remove_dc(np.asarray(samples), sample_rate_hz)
    measured = integrated_lufs(mono, sample_rate_hz)
    if not math.isfinite(measured):
        return mono, None, None
    gain_db = target_lufs - measured
    aim_dbtp = ceiling_dbtp - ceiling_margin_db
    out = mono
    for _ in range(max_iterations):
        out = (mono * db_to_gain(gain_db)).astype(np.float32)
        if true_peak_dbtp(out[None], oversample) > aim_dbtp:
            limited, _ = limit_true_peak(out[None], aim_dbtp, sample_rate_hz, limiter_window_ms, oversample)
            out = limited[0]
        measured = integrated_lufs(out, sample_rate_hz)
        if abs(measured - target_lufs) <= tolerance_lu:
            break
        gain_db += target_lufs - measured
    return out, round(measured, 3), round(gain_db, 3)
