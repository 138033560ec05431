"""Speech or singing? One verdict per clip, with the pitch figures of :mod:`svcqa.dataset.pitch`.

Method
------
The f0 contour (20 ms frames) and a 20 ms RMS envelope give six features, computed on blocks
of about ``block_s`` seconds so that a clip which is half talk and half song is judged on both
halves:

``held_share``
    Share of voiced time on a held note: for at least ``held_min_s`` the pitch stays within
    ``held_tolerance_semitones`` (the raw pitch of a straight tone, or the centre line of a
    vibrato, i.e. the midpoint of the running pitch extremes over one vibrato period) and the
    level within ``held_tolerance_db``. Sung notes are held; speech pitch glides through every
    syllable; the level condition stops a decaying reverb tail from counting. The strongest cue.
``run_s``
    Voiced-time-weighted mean length of uninterrupted voiced runs (capped at 3 s). Sung vowels
    are long and legato; spoken voicing breaks at every unvoiced consonant and pause.
``syllable_mod``
    Share of the envelope's modulation energy (0.5-20 Hz) that falls at the syllable rate,
    3-7 Hz. Speech is strongly modulated at about 4-5 syllables a second; legato singing is not.
``grid_fit``
    How well held pitches fall on one 12-tone grid (length of the mean unit phasor of the
    held MIDI values, any tuning offset allowed): melody uses a scale, speech does not.
``vibrato_share``
    Share of voiced time on held notes whose pitch oscillates regularly at 4-8 Hz by 0.1-1.5
    semitones. Only evidence for singing: straight-tone singing is common.
``voiced_share``
    Voiced frames among non-silent frames (singing 0.85-1, speech 0.5-0.8).

Each block gets ``p = sigmoid(sum(weight * (feature - centre) / scale))`` with the hand-set
coefficients of :data:`MODEL`, read as "how many typical spreads past the speech/singing
boundary is this feature". Blocks are combined by the voiced-time-weighted geometric mean of
``p``, which lets a clearly spoken block pull the whole clip towards speech: a singing dataset
must lose a clip with a spoken intro, and a spoken clip must never come out confidently as
singing.

The coefficients were set on a tuning set built like ``tests/voice_corpus.py`` with another
seed; ``benchmarks/voice_kind_eval.py`` prints accuracy, precision and recall for any seed.
That set is generated singing and espeak-ng speech, not recordings: the figures say the
features work as intended, not how they do on every real voice.

Known failure modes
-------------------
* Fast syllabic singing (notes under about 0.3 s, most starting with an unvoiced consonant,
  no held notes) looks like speech: its voicing is as choppy and its pitch never settles for
  ``held_min_s``. Rap and spoken word are judged speech, which is what a singing dataset wants.
* Heavy reverb (far microphone, hall) merges syllables into long voiced runs; tonal languages
  (Mandarin level tones) then add steady pitch. Reverberant Mandarin speech is the one kind of
  speech that reached ``singing_prob`` 0.8 while tuning.
* Chant, sustained reciting and stretched vowels ("heeey") look sung.
* Singing badly out of tune, or mostly glides (melisma, R&B runs), loses ``grid_fit`` and
  ``held_share`` and drifts towards speech.
* A steady tone or an instrument inside the singing range reads as singing: this separates
  speech from singing, not voice from non-voice. Tones outside ``f0_min_hz``-``f0_max_hz``
  give ``unknown``.
* Whispered or very breathy singing has few voiced frames and tends to ``unknown``.
* Polyphonic input (a backing track left in) confuses the f0 tracker; separate vocals first.
* Under ``min_judgeable_voiced_s`` of voicing, or under ``min_voiced_share`` of the non-silent
  frames voiced (noise, clicks), a clip is ``unknown``, never a guess; a clip with no 20 ms
  frame above ``silence_dbfs`` is ``silence``.

Example
-------
>>> from svcqa.core.settings import PitchSettings
>>> from svcqa.demo.synth import sung_phrase
>>> audio = sung_phrase([60, 62, 64, 65, 67, 65, 64], note_s=0.8, sample_rate_hz=16_000)
>>> analyse_voice(audio, 16_000, PitchSettings()).kind
'singing'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage

from svcqa.audio.resample import resample
from svcqa.core.settings import PitchSettings
from svcqa.dataset.pitch import (
    F0Track,
    PitchStats,
    pitch_stats,
    prepare_mono,
    track_f0,
    voiced_runs,
)

KINDS: tuple[str, ...] = ("singing", "speech", "silence", "unknown")

_ENV_FLOOR_DB = 35.0
"""Envelope frames more than this below the clip's loudest frame count as pauses."""
_RUN_CAP_S = 3.0
_SYLLABLE_BAND_HZ = (3.0, 7.0)
_MODULATION_BAND_HZ = (0.5, 20.0)
_VIBRATO_BAND_HZ = (4.0, 8.0)
_VIBRATO_EXTENT_SEMITONES = (0.1, 1.5)
_VIBRATO_MIN_RUN_S = 0.5
_VIBRATO_MIN_BAND_SHARE = 0.6
"""Share of the pitch residual's power (above 1 Hz) that must lie at 4-8 Hz to count as vibrato."""
_GRID_MIN_HELD_S = 0.5
"""Fewer held frames than this make ``grid_fit`` meaningless; it is then neutral (the centre)."""


@dataclass(frozen=True)
class Coefficient:
    """One feature's term in the logistic model: ``weight * (value - centre) / scale``."""

    centre: float
    scale: float
    weight: float


MODEL: dict[str, Coefficient] = {
    "held_share": Coefficient(centre=0.45, scale=0.15, weight=1.5),
    "run_s": Coefficient(centre=0.6, scale=0.5, weight=0.25),
    "syllable_mod": Coefficient(centre=0.3, scale=0.1, weight=-1.0),
    "grid_fit": Coefficient(centre=0.55, scale=0.2, weight=0.75),
    "vibrato_share": Coefficient(centre=0.0, scale=0.3, weight=1.0),
    "voiced_share": Coefficient(centre=0.8, scale=0.1, weight=0.5),
}
"""Centres sit on the speech/singing boundary, scales are a typical spread; ``run_s`` and
``voiced_share`` weigh little because reverberation inflates both for speech."""


@dataclass(frozen=True)
class VoiceFeatures:
    """The classifier's inputs for one stretch of audio (see the module docstring)."""

    held_share: float
    run_s: float
    syllable_mod: float
    grid_fit: float
    vibrato_share: float
    voiced_share: float
    voiced_s: float

    def to_dict(self) -> dict[str, float]:
        """Return the features rounded to 3 decimals."""
        return {name: round(getattr(self, name), 3) for name in self.__dataclass_fields__}

    def singing_prob(self) -> float:
        """Return the logistic model's probability that this stretch is sung."""
        z = sum(c.weight * (getattr(self, name) - c.centre) / c.scale for name, c in MODEL.items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass(frozen=True)
class VoiceAnalysis:
    """Per-clip verdict and pitch figures.

    Attributes
    ----------
    kind : str
        ``singing``, ``speech``, ``silence`` or ``unknown`` (too little voicing to judge).
    singing_prob : float or None
        Probability in [0, 1] that the clip is sung; None for ``silence`` and ``unknown``.
    pitch : PitchStats
        Voiced seconds, f0 percentiles and seconds per note.
    features : VoiceFeatures or None
        Whole-clip features (None when not judged).
    tracker : str
        The f0 tracker used; ``tracker_message`` says why when it is not the requested one.

    Example
    -------
    >>> VoiceAnalysis("silence", None, PitchStats(0.0, *[None] * 6), None, "parselmouth").to_dict()["kind"]
    'silence'
    """

    kind: str
    singing_prob: float | None
    pitch: PitchStats
    features: VoiceFeatures | None
    tracker: str
    tracker_message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a flat JSON-ready dict: kind, singing_prob, the pitch figures, features, tracker."""
        return {
            "kind": self.kind,
            "singing_prob": self.singing_prob,
            **self.pitch.to_dict(),
            "features": self.features.to_dict() if self.features else None,
            "tracker": self.tracker,
            "tracker_message": self.tracker_message,
        }


@dataclass(frozen=True, eq=False)
class _Frames:
    """Per-frame evidence shared by all blocks of a clip."""

    voiced: np.ndarray
    active: np.ndarray
    held: np.ndarray
    vibrato: np.ndarray
    run_s: np.ndarray
    note_midi: np.ndarray
    envelope_db: np.ndarray
    time_step_s: float


def frame_db(audio: np.ndarray, sample_rate_hz: int, time_step_s: float, n_frames: int) -> np.ndarray:
    """Return the RMS level in dBFS of ``n_frames`` consecutive frames of ``time_step_s``."""
    hop = max(1, round(sample_rate_hz * time_step_s))
    padded = np.zeros(n_frames * hop, dtype=np.float64)
    usable = min(audio.size, padded.size)
    padded[:usable] = audio[:usable]
    power = np.mean(padded.reshape(n_frames, hop) ** 2, axis=1)
    return 10.0 * np.log10(power + 1e-12)


def _run_filter(values: np.ndarray, runs: np.ndarray, width: int, reduce: str) -> np.ndarray:
    """Return the running ``max`` or ``min`` of ``values`` over ``width`` frames inside each run."""
    out = np.full(values.shape, np.nan)
    apply = scipy.ndimage.maximum_filter1d if reduce == "max" else scipy.ndimage.minimum_filter1d
    for start, stop in runs.tolist():
        out[start:stop] = apply(values[start:stop], min(width, stop - start), mode="nearest")
    return out


def _held_frames(
    raw: np.ndarray,
    centre: np.ndarray,
    extent: np.ndarray,
    envelope_db: np.ndarray,
    runs: np.ndarray,
    time_step_s: float,
    settings: PitchSettings,
) -> np.ndarray:
    """Return frames inside a window of ``held_min_s`` with steady pitch and steady level.

    Steady pitch is either a straight tone (raw pitch within ``held_tolerance_semitones``) or a
    vibrato note (vibrato centre within the tolerance, swing no wider than a vibrato's). The
    level condition keeps a reverberation tail, which repeats a syllable's last pitch while it
    decays, from passing as a held note.
    """
    width = max(3, round(settings.held_min_s / time_step_s) | 1)
    level = np.where(np.isfinite(raw), envelope_db, np.nan)

    def spread(values: np.ndarray) -> np.ndarray:
        return _run_filter(values, runs, width, "max") - _run_filter(values, runs, width, "min")

    tolerance = settings.held_tolerance_semitones
    straight = spread(raw) < tolerance
    vibrato_note = (spread(centre) < tolerance) & (
        _run_filter(extent, runs, width, "max") <= 2 * _VIBRATO_EXTENT_SEMITONES[1]
    )
    steady = (straight | vibrato_note) & (spread(level) < settings.held_tolerance_db)
    half = width // 2
    for start, stop in runs.tolist():
        # Windows hanging over a run's edge are not steady evidence.
        steady[start : min(start + half, stop)] = False
        steady[max(stop - half, start) : stop] = False
    return scipy.ndimage.maximum_filter1d(steady.astype(np.uint8), width) > 0


def _vibrato_frames(raw: np.ndarray, centre: np.ndarray, held: np.ndarray, time_step_s: float) -> np.ndarray:
    """Return held frames whose pitch oscillates regularly at 4-8 Hz by 0.1-1.5 semitones."""
    vibrato = np.zeros(raw.size, dtype=bool)
    min_frames = round(_VIBRATO_MIN_RUN_S / time_step_s)
    for start, stop in voiced_runs(held).tolist():
        if stop - start < min_frames:
            continue
        residual = raw[start:stop] - centre[start:stop]
        swing = math.sqrt(2.0) * float(np.std(residual))
        if not _VIBRATO_EXTENT_SEMITONES[0] <= swing <= _VIBRATO_EXTENT_SEMITONES[1]:
            continue
        n_fft = max(128, 1 << int(stop - start - 1).bit_length())
        power = np.abs(np.fft.rfft(residual * np.hanning(residual.size), n_fft)) ** 2
        freqs_hz = np.fft.rfftfreq(n_fft, time_step_s)
        band = (freqs_hz >= _VIBRATO_BAND_HZ[0]) & (freqs_hz <= _VIBRATO_BAND_HZ[1])
        vibrato[start:stop] = power[band].sum() >= _VIBRATO_MIN_BAND_SHARE * power[freqs_hz >= 1.0].sum()
    return vibrato


def _frames(track: F0Track, envelope_db: np.ndarray, settings: PitchSettings) -> _Frames:
    dt = track.time_step_s
    voiced = track.voiced
    runs = voiced_runs(voiced)
    raw = track.midi()
    # Midpoint of the running pitch extremes over one vibrato period: the vibrato's centre line,
    # which (unlike a moving mean) stays flat on a vibrato note and still follows a glide.
    period = max(3, round(settings.vibrato_smoothing_s / dt) | 1)
    upper, lower = _run_filter(raw, runs, period, "max"), _run_filter(raw, runs, period, "min")
    centre = (upper + lower) / 2.0
    run_s = np.zeros(voiced.size)
    for start, stop in runs.tolist():
        run_s[start:stop] = min((stop - start) * dt, _RUN_CAP_S)
    active = voiced | (envelope_db > max(float(envelope_db.max()) - _ENV_FLOOR_DB, settings.silence_dbfs))
    held = _held_frames(raw, centre, upper - lower, envelope_db, runs, dt, settings)
    return _Frames(
        voiced=voiced,
        active=active,
        held=held,
        vibrato=_vibrato_frames(raw, centre, held, dt),
        run_s=run_s,
        # Straight tones keep their raw pitch; vibrato notes their centre line.
        note_midi=np.where(upper - lower < settings.held_tolerance_semitones, raw, centre),
        envelope_db=envelope_db,
        time_step_s=dt,
    )


def _syllable_modulation(envelope_db: np.ndarray, active: np.ndarray, time_step_s: float) -> float:
    """Return the share of envelope modulation energy at 3-7 Hz (pauses clamped to a floor)."""
    floor_db = float(envelope_db.max()) - _ENV_FLOOR_DB
    env = np.where(active, np.maximum(envelope_db, floor_db), floor_db)
    env = env - env.mean()
    power = np.abs(np.fft.rfft(env * np.hanning(env.size))) ** 2
    freqs_hz = np.fft.rfftfreq(env.size, time_step_s)
    total = power[(freqs_hz >= _MODULATION_BAND_HZ[0]) & (freqs_hz <= _MODULATION_BAND_HZ[1])].sum()
    syllable = power[(freqs_hz >= _SYLLABLE_BAND_HZ[0]) & (freqs_hz <= _SYLLABLE_BAND_HZ[1])].sum()
    return float(syllable / total) if total > 0 else 0.0


def _features(frames: _Frames, start: int, stop: int) -> VoiceFeatures:
    """Return the features of frames ``[start, stop)``."""
    dt = frames.time_step_s
    voiced = frames.voiced[start:stop]
    n_voiced = int(np.count_nonzero(voiced))
    held = frames.held[start:stop] & voiced
    n_held = int(np.count_nonzero(held))
    held_midi = frames.note_midi[start:stop][held]
    grid_fit = (
        float(np.abs(np.mean(np.exp(2j * np.pi * held_midi))))
        if n_held * dt >= _GRID_MIN_HELD_S
        else MODEL["grid_fit"].centre
    )
    return VoiceFeatures(
        held_share=n_held / max(n_voiced, 1),
        run_s=float(frames.run_s[start:stop][voiced].mean()) if n_voiced else 0.0,
        syllable_mod=_syllable_modulation(frames.envelope_db[start:stop], frames.active[start:stop], dt),
        grid_fit=grid_fit,
        vibrato_share=float(np.count_nonzero(frames.vibrato[start:stop] & voiced)) / max(n_voiced, 1),
        voiced_share=n_voiced / max(int(np.count_nonzero(frames.active[start:stop])), 1),
        voiced_s=n_voiced * dt,
    )


def block_bounds(n_frames: int, time_step_s: float, block_s: float) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` frames of blocks about ``block_s`` long; a short tail joins the last."""
    size = max(1, round(block_s / time_step_s))
    n_blocks = max(1, round(n_frames / size))
    edges = np.linspace(0, n_frames, n_blocks + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def classify(
    track: F0Track, envelope_db: np.ndarray, settings: PitchSettings
) -> tuple[str, float | None, VoiceFeatures | None]:
    """Return ``(kind, singing_prob, whole-clip features)`` from a contour and its envelope.

    ``envelope_db`` holds one RMS level (dBFS) per frame of ``track``.
    """
    if envelope_db.size == 0 or float(envelope_db.max()) < settings.silence_dbfs:
        return "silence", None, None
    frames = _frames(track, envelope_db, settings)
    whole = _features(frames, 0, track.f0_hz.size)
    if whole.voiced_s < settings.min_judgeable_voiced_s or whole.voiced_share < settings.min_voiced_share:
        return "unknown", None, whole
    log_prob, weight_s = 0.0, 0.0
    for start, stop in block_bounds(track.f0_hz.size, track.time_step_s, settings.block_s):
        block = _features(frames, start, stop)
        if block.voiced_s < settings.min_judgeable_voiced_s / 2:
            continue
        log_prob += block.voiced_s * math.log(max(block.singing_prob(), 1e-6))
        weight_s += block.voiced_s
    prob = round(math.exp(log_prob / weight_s), 4) if weight_s else round(whole.singing_prob(), 4)
    return ("singing" if prob >= settings.singing_min_prob else "speech"), prob, whole


def analyse_voice(
    mono: np.ndarray, sample_rate_hz: int, settings: PitchSettings, workspace_root: Path | None = None
) -> VoiceAnalysis:
    """Return the kind, singing probability and pitch figures of one clip.

    Parameters
    ----------
    mono : np.ndarray [shape=(n,) or (n, channels)]
        Audio at any sample rate; silence, noise, clicks, DC and very short input are fine.
    sample_rate_hz : int > 0
        Sample rate of ``mono`` in Hz.
    settings : PitchSettings
        Tracker, f0 range and the classifier's thresholds.
    workspace_root : Path, optional
        Where an optional tracker's model file is looked up.

    Never raises on odd audio: too little voicing gives ``unknown``, no signal ``silence``.
    """
    audio = prepare_mono(mono)
    rate_hz = settings.analysis_sample_rate_hz
    low_rate = resample(audio, sample_rate_hz, rate_hz)
    if settings.tracker == "parselmouth":
        track = track_f0(low_rate, rate_hz, settings, workspace_root)
    else:
        track = track_f0(audio, sample_rate_hz, settings, workspace_root)
    envelope_db = frame_db(low_rate, rate_hz, track.time_step_s, track.f0_hz.size)
    kind, prob, features = classify(track, envelope_db, settings)
    stats = pitch_stats(track, settings)
    return VoiceAnalysis(kind, prob, stats, features, track.tracker, track.message)
