"""Generated singing-like audio for the demo workspace and the tests (no downloads).

A "sung" phrase is a sequence of held notes joined by short glides, each note a harmonic
tone with vibrato, shaped by vowel-like formant resonances and a soft attack/release.

Example
-------
>>> audio = sung_phrase([60, 62, 64], note_s=1.0, sample_rate_hz=16_000, seed=1)
>>> audio.shape
(48000,)
"""

from __future__ import annotations

import numpy as np
import scipy.signal

# (F1, F2, F3) in Hz for a few sung vowels; enough to sound voice-like, not a vocal-tract model.
VOWEL_FORMANTS_HZ: dict[str, tuple[float, float, float]] = {
    "a": (800.0, 1200.0, 2500.0),
    "e": (450.0, 1900.0, 2600.0),
    "i": (300.0, 2300.0, 3000.0),
    "o": (500.0, 850.0, 2500.0),
    "u": (350.0, 700.0, 2400.0),
}


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Return the frequency in Hz of a MIDI note number (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def f0_track(
    notes_midi: list[float],
    note_s: float | list[float],
    sample_rate_hz: int,
    vibrato_hz: float = 5.5,
    vibrato_cents: float = 40.0,
    glide_s: float = 0.08,
    scoop_cents: float = 0.0,
    drift_cents: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Return a per-sample f0 contour in Hz: held notes, glides between them, vibrato.

    ``scoop_cents`` starts each note that far below its pitch and rises onto it in 0.1 s, as
    pop singers do; ``drift_cents`` adds a slow random wander of about that depth (imperfect
    intonation), drawn from ``seed``.
    """
    durations = [note_s] * len(notes_midi) if np.isscalar(note_s) else list(note_s)  # type: ignore[list-item]
    pieces = []
    for i, (note, dur) in enumerate(zip(notes_midi, durations, strict=True)):
        n = round(float(dur) * sample_rate_hz)
        midi = np.full(n, float(note))
        nxt = notes_midi[i + 1] if i + 1 < len(notes_midi) else note
        n_glide = min(int(glide_s * sample_rate_hz), n // 3)
        if n_glide > 0 and nxt != note:
            midi[-n_glide:] = np.linspace(note, nxt, n_glide)
        n_scoop = min(int(0.1 * sample_rate_hz), n // 3)
        if scoop_cents and n_scoop > 0:
            midi[:n_scoop] -= np.linspace(scoop_cents / 100.0, 0.0, n_scoop)
        pieces.append(midi)
    midi_curve = np.concatenate(pieces) if pieces else np.zeros(0)
    t = np.arange(midi_curve.size) / sample_rate_hz
    if drift_cents and midi_curve.size:
        # Random walk sampled every 0.25 s and interpolated: a slow wander, not a wobble.
        knots = np.random.default_rng(seed).normal(0.0, drift_cents / 100.0, int(t[-1] / 0.25) + 2)
        midi_curve = midi_curve + np.interp(t, np.arange(knots.size) * 0.25, knots)
    # Vibrato fades in over the first 300 ms of the phrase, as a singer's does on a held note.
    depth = np.minimum(t / 0.3, 1.0) * vibrato_cents / 100.0
    midi_curve = midi_curve + depth * np.sin(2 * np.pi * vibrato_hz * t)
    return np.asarray(midi_to_hz(midi_curve))


def harmonic_tone(
    f0_hz: np.ndarray,
    sample_rate_hz: int,
    tilt_db_per_octave: float = -9.0,
    max_harmonic_hz: float = 11_000.0,
) -> np.ndarray:
    """Return a band-limited harmonic tone following ``f0_hz`` with a spectral tilt."""
    phase = 2 * np.pi * np.cumsum(f0_hz) / sample_rate_hz
    out = np.zeros_like(f0_hz)
    nyquist = min(sample_rate_hz / 2, max_harmonic_hz / 0.95)
    max_harmonics = int(nyquist // max(float(np.min(f0_hz)) if f0_hz.size else 100.0, 50.0))
    for k in range(1, max(max_harmonics, 1) + 1):
        gain = 10 ** (tilt_db_per_octave * np.log2(k) / 20)
        audible = (k * f0_hz) < nyquist * 0.95
        out += gain * np.sin(k * phase) * audible
    return out


def apply_formants(
    audio: np.ndarray, sample_rate_hz: int, vowel: str = "a", shift: float = 1.0
) -> np.ndarray:
    """Return ``audio`` filtered by three resonances of ``vowel`` (formants scaled by ``shift``)."""
    out = np.zeros_like(audio)
    for formant_hz, gain in zip(VOWEL_FORMANTS_HZ[vowel], (1.0, 0.6, 0.3), strict=True):
        centre = min(formant_hz * shift, sample_rate_hz / 2 * 0.9)
        b, a = scipy.signal.iirpeak(centre, Q=centre / 90.0, fs=sample_rate_hz)
        out += gain * scipy.signal.lfilter(b, a, audio)
    return out + 0.05 * audio


def envelope(
    n_samples: int, sample_rate_hz: int, attack_s: float = 0.05, release_s: float = 0.12
) -> np.ndarray:
    """Return a soft attack/release amplitude envelope of ``n_samples``."""
    env = np.ones(n_samples)
    n_a = min(int(attack_s * sample_rate_hz), n_samples // 2)
    n_r = min(int(release_s * sample_rate_hz), n_samples // 2)
    if n_a:
        env[:n_a] = np.linspace(0, 1, n_a)
    if n_r:
        env[-n_r:] = np.linspace(1, 0, n_r)
    return env


def sung_phrase(
    notes_midi: list[float],
    note_s: float | list[float],
    sample_rate_hz: int = 44_100,
    vowel: str = "a",
    formant_shift: float = 1.0,
    vibrato_hz: float = 5.5,
    vibrato_cents: float = 40.0,
    breath_noise: float = 0.01,
    peak: float = 0.5,
    seed: int = 0,
    tilt_db_per_octave: float = -9.0,
    consonant_s: float = 0.0,
    scoop_cents: float = 0.0,
    drift_cents: float = 0.0,
    consonant_share: float = 1.0,
) -> np.ndarray:
    """Return a mono float32 sung phrase peaking at ``peak``.

    ``tilt_db_per_octave`` sets the timbre (brighter when closer to 0). ``consonant_s`` replaces
    the first part of notes after the first by that much unvoiced noise, as a sung syllable
    starts with an unvoiced consonant; ``consonant_share`` is the share of notes that get one
    (voiced consonants and legato keep the voice going). ``scoop_cents`` and ``drift_cents``
    go to :func:`f0_track`.
    """
    rng = np.random.default_rng(seed)
    f0 = f0_track(
        notes_midi,
        note_s,
        sample_rate_hz,
        vibrato_hz,
        vibrato_cents,
        scoop_cents=scoop_cents,
        drift_cents=drift_cents,
        seed=seed,
    )
    tone = harmonic_tone(f0, sample_rate_hz, tilt_db_per_octave)
    voiced = apply_formants(tone, sample_rate_hz, vowel, formant_shift)
    voiced += breath_noise * np.max(np.abs(voiced)) * rng.standard_normal(voiced.size)
    if consonant_s > 0:
        voiced = _add_consonants(
            voiced, note_s, len(notes_midi), sample_rate_hz, consonant_s, consonant_share, rng
        )
    audio = voiced * envelope(voiced.size, sample_rate_hz)
    top = float(np.max(np.abs(audio))) or 1.0
    return (audio / top * peak).astype(np.float32)


def _add_consonants(
    voiced: np.ndarray,
    note_s: float | list[float],
    n_notes: int,
    sample_rate_hz: int,
    consonant_s: float,
    consonant_share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return ``voiced`` with a random ``consonant_share`` of note onsets replaced by a hiss burst."""
    durations = np.asarray([note_s] * n_notes if np.isscalar(note_s) else note_s, dtype=float)
    onsets = np.round(np.cumsum(durations)[:-1] * sample_rate_hz).astype(int)
    onsets = onsets[rng.random(onsets.size) < consonant_share]
    n_cons = int(consonant_s * sample_rate_hz)
    gate = np.ones(voiced.size)
    hiss = np.zeros(voiced.size)
    b, a = scipy.signal.butter(2, min(2500.0, sample_rate_hz * 0.4), btype="highpass", fs=sample_rate_hz)
    level = 0.2 * float(np.max(np.abs(voiced)) or 1.0)
    for onset in onsets:
        stop = min(onset + n_cons, voiced.size)
        gate[onset:stop] = 0.0
        hiss[onset:stop] = level * scipy.signal.lfilter(b, a, rng.standard_normal(stop - onset))
    # 10 ms ramps so the voice stops and restarts like a closing vocal tract, not a switch.
    ramp = np.hanning(max(int(0.02 * sample_rate_hz), 3))
    gate = np.convolve(gate, ramp / ramp.sum(), mode="same")
    return voiced * gate + hiss


def silence(
    duration_s: float, sample_rate_hz: int, noise_dbfs: float | None = None, seed: int = 0
) -> np.ndarray:
    """Return ``duration_s`` of digital silence, or of low noise at ``noise_dbfs`` RMS."""
    n = round(duration_s * sample_rate_hz)
    if noise_dbfs is None:
        return np.zeros(n, dtype=np.float32)
    rng = np.random.default_rng(seed)
    return (10 ** (noise_dbfs / 20) * rng.standard_normal(n)).astype(np.float32)


def speech_like(duration_s: float, sample_rate_hz: int = 44_100, seed: int = 0) -> np.ndarray:
    """Return a speech-like signal: short syllables with falling pitch glides, noise bursts, pauses.

    A stand-in for recorded speech where espeak-ng is not installed: about 5 syllables a
    second, each a voiced glide with its own vowel, separated by consonant-like noise.
    """
    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = []
    total = 0.0
    while total < duration_s:
        syllable_s = float(rng.uniform(0.12, 0.25))
        start_hz = float(rng.uniform(110, 190))
        n = int(syllable_s * sample_rate_hz)
        f0 = np.linspace(start_hz, start_hz * rng.uniform(0.75, 0.95), n)
        vowel = "aeiou"[int(rng.integers(5))]
        voiced = apply_formants(harmonic_tone(f0, sample_rate_hz), sample_rate_hz, vowel)
        voiced *= envelope(n, sample_rate_hz, 0.02, 0.05) / (np.max(np.abs(voiced)) or 1.0)
        burst = 0.15 * rng.standard_normal(int(rng.uniform(0.03, 0.08) * sample_rate_hz))
        gap = np.zeros(int(rng.choice([0.02, 0.05, 0.3], p=[0.6, 0.3, 0.1]) * sample_rate_hz))
        pieces += [burst, voiced, gap]
        total += (burst.size + n + gap.size) / sample_rate_hz
    audio = np.concatenate(pieces)[: int(duration_s * sample_rate_hz)]
    return (0.4 * audio / (np.max(np.abs(audio)) or 1.0)).astype(np.float32)
