"""Objective metrics of one render: a checkpoint's conversion of a source excerpt, at 16 kHz.

Each metric answers one question a listener would otherwise answer by ear, and each is a
screen that saves listening time, not a verdict:

``voice_similarity``
    Cosine similarity of the render's GE2E embedding (resemblyzer, speech-trained) to the
    dataset's voice centroid (:func:`svcqa.dataset.voice_identity.voice_consistency`). Does the
    render sound like the singer? It rises as training learns the timbre; it cannot hear
    artefacts that leave the timbre alone.
``f0_error_cents`` and ``voicing_mismatch``
    Praat pitch (parselmouth) of source and render; the source's f0 is moved by the transpose.
    The error is the median absolute difference in cents over frames voiced in both; the
    mismatch is the share of frames voiced in exactly one of them among frames voiced in
    either. Does the render sing the source's melody, and sing where the source sings? An
    octave error counts as 1200 cents, but the median ignores isolated ones.
``high_note_hnr_db``
    Praat harmonicity (cross-correlation) of the render, averaged over frames where the
    transposed source sits in the top ``high_range_share`` of the singer's range: the number
    behind "hoarse high notes". Frames where Praat finds no periodicity count as 0 dB (as much
    noise as harmonics) rather than being dropped, because a render that breaks up on a high
    note must score low, not be skipped.
``dnsmos_ovrl`` and ``dnsmos_sig``
    DNSMOS overall and signal scores (1-5). DNSMOS was trained on speech: read it as a rough
    estimate of buzz and distortion, labelled so in :meth:`RenderMetrics.to_dict`.

A metric that cannot be computed (silent or very short render, no centroid, no high notes, a
missing optional package) is ``None`` and ``reasons`` says why; nothing raises.

Example
-------
>>> from svcqa.demo.synth import sung_phrase
>>> source = sung_phrase([57, 60, 64, 62, 60], note_s=0.8, sample_rate_hz=16_000)
>>> m = render_metrics(source, source, 0.0, centroid=None, range_midi=(55, 67))  # doctest: +SKIP
>>> m.f0_error_cents, m.reasons["voice_similarity"]  # doctest: +SKIP
(0.0, 'no dataset voice centroid')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import parselmouth

from svcqa.core.errors import ModelMissingError
from svcqa.core.records import Record, to_dict
from svcqa.core.settings import PitchSettings, VoiceSettings
from svcqa.dataset import quality, voice_identity
from svcqa.dataset.pitch import F0Track, prepare_mono, track_f0

RENDER_SAMPLE_RATE_HZ = 16_000
DNSMOS_LABEL = (
    "DNSMOS P.835, a speech-trained estimate: read it as a rough screen for buzz and distortion in singing"
)
METRIC_NAMES: tuple[str, ...] = (
    "voice_similarity",
    "f0_error_cents",
    "voicing_mismatch",
    "high_note_hnr_db",
    "dnsmos_ovrl",
    "dnsmos_sig",
)
_HNR_FLOOR_DB = 0.0
"""Praat reports -200 dB where it finds no periodicity; such frames count as this value."""


@dataclass(frozen=True)
class RenderMetrics(Record):
    """The objective metrics of one render; ``None`` where a metric could not be computed.

    Attributes
    ----------
    voice_similarity : float or None
        Cosine similarity to the dataset's voice centroid (about 0.9 for the same voice).
    f0_error_cents : float or None
        Median absolute pitch error against the transposed source, in cents.
    voicing_mismatch : float or None
        Share (0-1) of frames voiced in exactly one of source and render, among frames voiced in either.
    high_note_hnr_db : float or None
        Mean harmonics-to-noise ratio over the top of the singer's range, in dB.
    dnsmos_ovrl, dnsmos_sig : float or None
        DNSMOS overall and signal scores (1-5, speech-trained).
    reasons : dict
        Metric name -> why it is ``None``.

    Example
    -------
    >>> RenderMetrics(0.91, 12.0, 0.05, 18.5, 3.1, 3.4).to_dict()["f0_error_cents"]
    12.0
    """

    voice_similarity: float | None
    f0_error_cents: float | None
    voicing_mismatch: float | None
    high_note_hnr_db: float | None
    dnsmos_ovrl: float | None
    dnsmos_sig: float | None
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: the six metrics, ``reasons`` and ``dnsmos_label``."""
        return {**to_dict(self), "dnsmos_label": DNSMOS_LABEL}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderMetrics:
        """Return metrics read back from :meth:`to_dict` output (missing metrics are ``None``)."""
        return cls(**{name: data.get(name) for name in METRIC_NAMES}, reasons=dict(data.get("reasons") or {}))


def voice_similarity(
    render_16k: np.ndarray, centroid: Sequence[float] | None, settings: VoiceSettings | None = None
) -> tuple[float | None, str]:
    """Return the render's cosine similarity to the dataset's voice centroid, or ``None`` and the reason."""
    if centroid is None:
        return None, "no dataset voice centroid"
    try:
        embedding = voice_identity.embed_clip(render_16k, settings)
    except ModelMissingError as exc:
        return None, str(exc)
    if embedding.vector is None:
        return None, embedding.reason
    return round(voice_identity.cosine_similarity(embedding.vector, centroid), 4), ""


def pitch_accuracy(render_f0: F0Track, expected_f0: F0Track) -> tuple[float | None, float | None, str]:
    """Return ``(median absolute error in cents, voicing mismatch share, reason)`` of two contours.

    Both contours must share their frame step. They are compared over the expected contour's
    frames: render frames past its end are ignored, missing ones (a render that stops early)
    count as unvoiced.
    """
    want = expected_f0.f0_hz
    got = np.pad(render_f0.f0_hz[: want.size], (0, max(want.size - render_f0.f0_hz.size, 0)))
    voiced_got, voiced_want = got > 0, want > 0
    either = voiced_got | voiced_want
    if not voiced_want.any():
        return None, None, "the source has no voiced frame"
    mismatch = round(float(np.count_nonzero(voiced_got ^ voiced_want)) / float(np.count_nonzero(either)), 4)
    both = voiced_got & voiced_want
    if not both.any():
        return None, mismatch, "no frame is voiced in both source and render"
    cents = 1200.0 * np.log2(got[both] / want[both])
    return round(float(np.median(np.abs(cents))), 2), mismatch, ""


def high_note_hnr(
    render_16k: np.ndarray,
    expected_f0: F0Track,
    range_midi: tuple[float, float] | None,
    settings: VoiceSettings | None = None,
) -> tuple[float | None, str]:
    """Return the render's mean HNR (dB) over frames whose expected pitch is in the top of ``range_midi``.

    Parameters
    ----------
    render_16k : np.ndarray
        The render, mono at 16 kHz.
    expected_f0 : F0Track
        The transposed source contour: it says where the render should sing a high note.
    range_midi : (low, high) or None
        The singer's range in MIDI note numbers (e.g. the dataset's p02/p98).
    settings : VoiceSettings, optional
        Uses ``high_range_share`` and ``min_high_note_s``.
    """
    import librosa

    settings = settings or VoiceSettings()
    if range_midi is None:
        return None, "no singer range"
    low, high = float(range_midi[0]), float(range_midi[1])
    if not high > low:
        return None, f"the singer range {low:g}-{high:g} is empty"
    boundary = high - (high - low) * settings.high_range_share
    midi = expected_f0.midi()
    high_frames = np.flatnonzero(np.nan_to_num(midi, nan=-1.0) >= boundary)
    high_s = high_frames.size * expected_f0.time_step_s
    if high_s < settings.min_high_note_s:
        return None, f"only {high_s:.2f} s of the source is above MIDI {boundary:.1f} (top of the range)"
    audio = prepare_mono(render_16k)
    if quality.loudest_frame_dbfs(audio) < settings.silence_dbfs:
        return None, f"the render is silent (no 20 ms frame above {settings.silence_dbfs:g} dBFS)"
    sung = high_frames[(high_frames + 1) * expected_f0.time_step_s <= audio.size / RENDER_SAMPLE_RATE_HZ]
    sung_s = sung.size * expected_f0.time_step_s
    if sung_s < settings.min_high_note_s:
        return None, f"the render ends early: only {sung_s:.2f} s of it falls on the source's high notes"
    minimum_pitch_hz = max(50.0, 0.7 * float(librosa.midi_to_hz(boundary)))
    harmonicity = parselmouth.Sound(audio.astype(np.float64), RENDER_SAMPLE_RATE_HZ).to_harmonicity_cc(
        time_step=expected_f0.time_step_s, minimum_pitch=minimum_pitch_hz
    )
    values = np.maximum(harmonicity.values[0], _HNR_FLOOR_DB)
    index = np.round(((sung + 0.5) * expected_f0.time_step_s - harmonicity.x1) / harmonicity.dx).astype(int)
    hnr = values[np.clip(index, 0, values.size - 1)]
    return round(float(np.mean(hnr)), 2), ""


def render_metrics(
    render_16k: np.ndarray,
    source_16k: np.ndarray,
    transpose_semitones: float,
    centroid: Sequence[float] | None,
    range_midi: tuple[float, float] | None,
    settings: VoiceSettings | None = None,
    pitch_settings: PitchSettings | None = None,
) -> RenderMetrics:
    """Return the objective metrics of a render against its source excerpt and the dataset's voice.

    Parameters
    ----------
    render_16k, source_16k : np.ndarray [shape=(n,)]
        The render and the source excerpt it converts, mono at 16 kHz, time-aligned.
    transpose_semitones : float
        The transpose the render was made with (the render should sing source + transpose).
    centroid : sequence of float or None
        The dataset's voice centroid (``VoiceConsistency.centroid``); ``None`` skips the similarity.
    range_midi : (low, high) or None
        The singer's range in MIDI; ``None`` skips the high-note HNR.
    settings : VoiceSettings, optional
        Embedding, DNSMOS and high-note settings.
    pitch_settings : PitchSettings, optional
        f0 range and frame step; the tracker is always Praat (parselmouth).
    """
    settings = settings or VoiceSettings()
    pitch = dataclasses.replace(pitch_settings or PitchSettings(), tracker="parselmouth")
    reasons: dict[str, str] = {}
    similarity, reasons["voice_similarity"] = voice_similarity(render_16k, centroid, settings)

    source_f0 = track_f0(source_16k, RENDER_SAMPLE_RATE_HZ, pitch)
    expected = F0Track(
        source_f0.f0_hz * 2.0 ** (float(transpose_semitones) / 12.0), source_f0.time_step_s, "parselmouth"
    )
    render_f0 = track_f0(render_16k, RENDER_SAMPLE_RATE_HZ, pitch)
    error, mismatch, reasons["f0_error_cents"] = pitch_accuracy(render_f0, expected)
    if mismatch is None:
        reasons["voicing_mismatch"] = reasons["f0_error_cents"]
    hnr, reasons["high_note_hnr_db"] = high_note_hnr(render_16k, expected, range_midi, settings)

    try:
        scores = quality.score_clip(render_16k, settings)
        ovrl, sig, dnsmos_reason = scores.ovrl, scores.sig, scores.reason
    except ModelMissingError as exc:
        ovrl, sig, dnsmos_reason = None, None, str(exc)
    reasons["dnsmos_ovrl"] = reasons["dnsmos_sig"] = dnsmos_reason
    return RenderMetrics(
        voice_similarity=similarity,
        f0_error_cents=error,
        voicing_mismatch=mismatch,
        high_note_hnr_db=hnr,
        dnsmos_ovrl=ovrl,
        dnsmos_sig=sig,
        reasons={name: text for name, text in reasons.items() if text},
    )
