"""Recording noise measured for singing: the stationary noise floor under the voice, mains hum, hiss.

Method
------
The clip (16 kHz mono) is cut into ``noise_frame_s`` frames (Hann window, 50 % overlap). Noise
in a recording is stationary: it is there in the pauses between phrases and between the
harmonics of every sung note, while the voice moves on. So the noise spectrum is estimated bin
by bin as a low percentile over time (``noise_percentile``) of the power spectrum -- a
"minimum statistics" estimate, corrected for the percentile's bias on noise -- and then, to
drop the harmonics of a note held through the whole clip, as a low percentile
(``noise_smoothing_percentile``) over ``noise_smoothing_hz`` of neighbouring bins. A legato
phrase has no pause, but its harmonics leave gaps; a clean sustained vowel therefore reads as
clean, where DNSMOS (trained on speech) hears the steady tone itself as noise.

Figures, in dB relative to the voice (the mean power of the frames within
``noise_active_db`` of the loudest), 50 Hz to 7.5 kHz:

``noise_floor_db``
    All stationary noise: hiss plus hum. The basis of the ``noisy`` flag.
``hiss_db``
    The broadband part (the smoothed floor), e.g. preamp hiss, fan, traffic rumble.
``hum_db``, ``hum_hz``
    Mains hum: the lines at multiples of 50 or 60 Hz standing at least ``hum_line_db`` above
    the floor around them (at least ``hum_min_lines`` of the first eight), summed.

What it can and cannot tell
---------------------------
* Pink or white noise at 5 dB SNR reads -5 to -7 dB, at 10 dB about -10 dB; hum plus hiss at
  10 dB SNR about -10 dB; clean sung and spoken clips (generated, and recorded voices from
  Debian packages, ``benchmarks/heldout_eval.py``) under -30 dB.
* Only stationary noise is seen: a door slam, a cough, traffic passing or a second voice are
  not noise to it. Breath noise between phrases counts only where it lasts.
* A clip shorter than ``noise_min_s`` or silent gets no figures, with the reason.

Example
-------
>>> import numpy as np
>>> from svcqa.demo.synth import sung_phrase
>>> voice = sung_phrase([57, 60, 64, 62], 1.0, 16_000, breath_noise=0.0)
>>> noise = np.random.default_rng(0).normal(0, 1, voice.size) * np.sqrt(np.mean(voice**2)) / 10 ** 0.25
>>> clean, noisy = measure_noise(voice), measure_noise(voice + noise)
>>> clean.noise_floor_db < -30, -8.0 < noisy.noise_floor_db < -5.0  # noise 5 dB under the voice
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from svcqa.core.records import Record
from svcqa.core.settings import VoiceSettings

SAMPLE_RATE_HZ = 16_000
BAND_HZ = (50.0, 7500.0)
MAINS_HZ = (50.0, 60.0)
_HUM_HARMONICS = 8
_HOPS_PER_FRAME = 2


@dataclass(frozen=True)
class NoiseFigures(Record):
    """The noise measured in one clip, in dB relative to the voice, or why there is none.

    Attributes
    ----------
    noise_floor_db : float or None
        Stationary noise (hiss and hum) relative to the voice; -60 is a quiet room, -5 a loud one.
    hiss_db : float or None
        The broadband part of it.
    hum_db : float or None
        Mains hum relative to the voice; ``None`` when no hum line stands out.
    hum_hz : float or None
        The mains frequency of the hum (50 or 60).
    noise_reason : str
        Why ``noise_floor_db`` is ``None``; empty otherwise.
    """

    noise_floor_db: float | None = None
    hiss_db: float | None = None
    hum_db: float | None = None
    hum_hz: float | None = None
    noise_reason: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> NoiseFigures:
        """Return the figures in ``data`` (an audit row: other keys ignored, absent ones ``None``)."""
        data = data or {}
        return cls(
            data.get("noise_floor_db"),
            data.get("hiss_db"),
            data.get("hum_db"),
            data.get("hum_hz"),
            data.get("noise_reason") or "",
        )

    def is_noisy(self, settings: VoiceSettings) -> bool:
        """Return whether the noise floor is above ``settings.noisy_floor_db``."""
        return self.noise_floor_db is not None and self.noise_floor_db > settings.noisy_floor_db

    def evidence(self) -> str:
        """Return what was measured, in words.

        >>> NoiseFigures(-8.1, -8.3, -21.0, 50.0).evidence()
        'noise floor -8.1 dB relative to the voice (hiss -8.3 dB, hum at 50 Hz -21.0 dB)'
        """
        if self.noise_floor_db is None:
            return f"no noise measure: {self.noise_reason}"
        parts = [f"hiss {self.hiss_db:.1f} dB"]
        if self.hum_db is not None:
            parts.append(f"hum at {self.hum_hz:g} Hz {self.hum_db:.1f} dB")
        return f"noise floor {self.noise_floor_db:.1f} dB relative to the voice ({', '.join(parts)})"


def measure_noise(mono_16k: np.ndarray, settings: VoiceSettings | None = None) -> NoiseFigures:
    """Return the noise floor, hiss and hum of a clip relative to its voice (see the module docstring).

    Parameters
    ----------
    mono_16k : np.ndarray [shape=(n,)]
        Mono audio at 16 kHz, float; NaN/inf count as 0.
    settings : VoiceSettings, optional
        The ``noise_*`` and ``hum_*`` fields and ``silence_dbfs``.

    Never raises on odd audio: too short or silent clips get ``None`` figures and the reason.
    """
    settings = settings or VoiceSettings()
    audio = np.nan_to_num(np.asarray(mono_16k, dtype=np.float32).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
    duration_s = audio.size / SAMPLE_RATE_HZ
    if duration_s < settings.noise_min_s:
        return NoiseFigures(
            None,
            noise_reason=f"too short for a noise measure ({duration_s:.2f} s < {settings.noise_min_s:g} s)",
        )
    audio = audio - audio.mean()
    power, freqs_hz = _power_spectrogram(audio, settings.noise_frame_s)
    band = (freqs_hz >= BAND_HZ[0]) & (freqs_hz <= BAND_HZ[1])
    frame_power = power[:, band].sum(axis=1)
    loudest = float(frame_power.max())
    if 10.0 * math.log10(2.0 * loudest / (2 * (power.shape[1] - 1)) + 1e-30) < settings.silence_dbfs:
        return NoiseFigures(None, noise_reason=f"silent: no frame above {settings.silence_dbfs:g} dBFS")
    voice_power = float(
        frame_power[frame_power >= loudest * 10.0 ** (-settings.noise_active_db / 10.0)].mean()
    )

    q = settings.noise_percentile
    rank = int(q / 100.0 * (power.shape[0] - 1))
    steady = np.partition(power, rank, axis=0)[rank]
    floor = steady / -math.log1p(-q / 100.0)  # unbiased on noise, whose power per bin is exponential
    width = max(1, round(settings.noise_smoothing_hz / (freqs_hz[1] - freqs_hz[0])))
    smooth = np.minimum(_running_percentile(floor, width, settings.noise_smoothing_percentile), floor)
    hum_power, hum_hz = _hum(steady, smooth, freqs_hz, settings)
    hiss_power = float(smooth[band].sum())

    def relative_db(value: float) -> float:
        return round(10.0 * math.log10(max(value, 1e-30) / voice_power), 1)

    return NoiseFigures(
        noise_floor_db=relative_db(hiss_power + hum_power),
        hiss_db=relative_db(hiss_power),
        hum_db=relative_db(hum_power) if hum_hz else None,
        hum_hz=hum_hz,
    )


def _power_spectrogram(audio: np.ndarray, frame_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the Hann-windowed power spectrum of every frame, ``(frames, bins)``, and the bin frequencies.

    A clip shorter than one frame is zero-padded into one frame.
    """
    import scipy.fft  # here: reading cached audit rows (NoiseFigures) must not import scipy

    n_fft = 1 << max(6, round(math.log2(frame_s * SAMPLE_RATE_HZ)))
    hop = n_fft // _HOPS_PER_FRAME
    if audio.size < n_fft:
        audio = np.pad(audio, (0, n_fft - audio.size))
    n_frames = 1 + (audio.size - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        audio, shape=(n_frames, n_fft), strides=(audio.strides[0] * hop, audio.strides[0]), writeable=False
    )
    window = np.hanning(n_fft).astype(np.float32)
    spectrum = scipy.fft.rfft(frames * window, axis=1)
    # Scaled so that twice a frame's power sum over the bins, over n_fft, is its mean square.
    power = (spectrum.real**2 + spectrum.imag**2) / float(np.sum(window**2))
    return power, np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE_HZ)


def _running_percentile(values: np.ndarray, width: int, q: float) -> np.ndarray:
    """Return the ``q``-th percentile of ``values`` over a window of ``2 * width + 1`` bins around each."""
    padded = np.pad(values, width, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * width + 1)
    return np.percentile(windows, q, axis=1)


def _hum(
    floor: np.ndarray, smooth: np.ndarray, freqs_hz: np.ndarray, settings: VoiceSettings
) -> tuple[float, float | None]:
    """Return the power of the mains hum lines above the smoothed floor and their mains frequency (or 0, None).

    ``floor`` is the uncorrected time percentile: a hum line is a steady sinusoid, whose power
    the percentile reads as it is. A line is a local peak of it within ``hum_tolerance_cents`` of a multiple of the
    mains frequency (the peak's frequency interpolated between bins), standing ``hum_line_db``
    above the smoothed floor. A steady sung note near a multiple lies off it by more than the
    tolerance on most lines.
    """
    step_hz = float(freqs_hz[1] - freqs_hz[0])
    tolerance = 2.0 ** (settings.hum_tolerance_cents / 1200.0) - 1.0
    log_floor = np.log(np.maximum(floor, 1e-30))
    best: tuple[float, float | None] = (0.0, None)
    for mains_hz in MAINS_HZ:
        excess, lines = 0.0, 0
        for k in range(1, _HUM_HARMONICS + 1):
            target_hz = k * mains_hz
            centre = round(target_hz / step_hz)
            peak = centre - 1 + int(np.argmax(floor[centre - 1 : centre + 2]))
            a, b, c = log_floor[peak - 1 : peak + 2]
            if not (b > a and b > c and floor[peak] >= smooth[peak] * 10.0 ** (settings.hum_line_db / 10.0)):
                continue
            peak_hz = (peak + 0.5 * (a - c) / (a - 2.0 * b + c)) * step_hz
            if abs(peak_hz - target_hz) <= target_hz * tolerance:
                excess += float(
                    np.sum(np.maximum(floor[peak - 1 : peak + 2] - smooth[peak - 1 : peak + 2], 0.0))
                )
                lines += 1
        if lines >= settings.hum_min_lines and excess > best[0]:
            best = (excess, mains_hz)
    return best
