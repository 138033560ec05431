"""Per-render metrics: voice similarity, pitch accuracy, high-note harmonicity and DNSMOS."""

from __future__ import annotations

import json

import numpy as np
import pytest

from svcqa.core.settings import VoiceSettings
from svcqa.dataset.voice_identity import clip_embedding, voice_consistency
from svcqa.demo.synth import sung_phrase
from svcqa.listen.render_metrics import METRIC_NAMES, RenderMetrics, render_metrics
from tests import singer_corpus

SR = singer_corpus.SAMPLE_RATE_HZ
NOTES = [55.0, 57.0, 59.0, 60.0, 62.0, 64.0, 62.0, 60.0, 59.0, 57.0]
RANGE_MIDI = (50.0, 64.0)
"""Singer A's range: its top third starts at MIDI 59.3, so NOTES has 3 s of high notes."""


def phrase(offset_semitones: float = 0.0) -> np.ndarray:
    """Return the test melody (same vibrato and breath noise) moved by ``offset_semitones``."""
    audio = sung_phrase([n + offset_semitones for n in NOTES], 0.6, SR, seed=3, vibrato_cents=30.0)
    return np.concatenate([audio, np.zeros(SR // 2, dtype=np.float32)])


@pytest.fixture(scope="session")
def source() -> np.ndarray:
    return phrase()


@pytest.fixture(scope="session")
def centroid() -> list[float]:
    """Singer A's voice centroid from eight generated clips."""
    clips = {i: singer_corpus.sung_clip(singer_corpus.SINGER_A, seed=100 + i) for i in range(8)}
    result = voice_consistency({i: clip_embedding(a) for i, a in clips.items()}, VoiceSettings())
    return list(result.centroid)


@pytest.fixture(scope="session")
def identical(source, centroid) -> RenderMetrics:
    return render_metrics(source, source, 0.0, centroid, RANGE_MIDI)


def test_render_equal_to_its_source_has_near_zero_f0_error(identical):
    assert identical.f0_error_cents == pytest.approx(0.0, abs=2.0)
    assert identical.voicing_mismatch == pytest.approx(0.0, abs=0.02)


@pytest.mark.parametrize("offset_cents", [50, 100, 200])
def test_planted_pitch_offset_reads_as_its_size_in_cents(source, offset_cents):
    render = phrase(offset_cents / 100.0)
    metrics = render_metrics(render, source, 0.0, None, None)
    assert metrics.f0_error_cents == pytest.approx(offset_cents, abs=10.0)


def test_transpose_is_taken_into_account(source):
    render = phrase(3.0)
    assert render_metrics(render, source, 3.0, None, None).f0_error_cents == pytest.approx(0.0, abs=3.0)
    assert render_metrics(render, source, 2.0, None, None).f0_error_cents == pytest.approx(100.0, abs=10.0)


def test_render_that_stops_halfway_has_about_half_voicing_mismatch(source):
    render = source.copy()
    render[source.size // 2 :] = 0.0
    metrics = render_metrics(render, source, 0.0, None, None)
    assert 0.4 < metrics.voicing_mismatch < 0.6
    assert metrics.f0_error_cents == pytest.approx(0.0, abs=2.0)


def test_render_in_the_singers_voice_is_similar_and_in_another_singers_is_not(source, centroid):
    # Renders with the dataset's mix of vowels: GE2E similarity also depends on the vowels sung.
    own = singer_corpus.sung_clip(singer_corpus.SINGER_A, seed=5)
    other = singer_corpus.sung_clip(singer_corpus.SINGER_B, seed=5)
    own_similarity = render_metrics(own, source, 0.0, centroid, None).voice_similarity
    other_similarity = render_metrics(other, source, 0.0, centroid, None).voice_similarity
    assert own_similarity > 0.9
    assert other_similarity < own_similarity - 0.08


def test_hoarse_high_notes_lower_the_high_note_hnr(source, identical):
    rng = np.random.default_rng(0)
    high = np.zeros(source.size, dtype=bool)
    for i, note in enumerate(NOTES):
        if note >= 60:
            high[int(i * 0.6 * SR) : int((i + 1) * 0.6 * SR)] = True
    hoarse = source + high * 0.15 * rng.standard_normal(source.size).astype(np.float32)
    hoarse_hnr = render_metrics(hoarse, source, 0.0, None, RANGE_MIDI).high_note_hnr_db
    assert identical.high_note_hnr_db > 20.0
    assert hoarse_hnr < identical.high_note_hnr_db - 10.0


def test_dnsmos_scores_are_on_their_scale_and_labelled_speech_trained(identical):
    assert 1.0 <= identical.dnsmos_ovrl <= 5.0
    assert 1.0 <= identical.dnsmos_sig <= 5.0
    assert "speech-trained" in identical.to_dict()["dnsmos_label"]


def test_to_dict_has_every_metric_and_round_trips(identical):
    data = json.loads(json.dumps(identical.to_dict()))
    assert set(METRIC_NAMES) <= set(data)
    assert data["reasons"] == {}
    assert RenderMetrics.from_dict(data) == identical


@pytest.mark.parametrize(
    "render",
    [
        np.zeros(6 * SR, dtype=np.float32),
        np.full(SR // 10, 0.1, dtype=np.float32),
        np.zeros(0, dtype=np.float32),
    ],
    ids=["silent", "very-short", "empty"],
)
def test_silent_or_very_short_render_gives_null_metrics_with_reasons(source, centroid, render):
    metrics = render_metrics(render, source, 0.0, centroid, RANGE_MIDI)
    for name in ("voice_similarity", "f0_error_cents", "high_note_hnr_db", "dnsmos_ovrl", "dnsmos_sig"):
        assert getattr(metrics, name) is None
        assert metrics.reasons[name]
    # Nothing the source sings is sung: every voiced source frame is a mismatch.
    assert metrics.voicing_mismatch == 1.0


def test_silent_source_gives_null_pitch_metrics_with_reasons(source):
    metrics = render_metrics(source, np.zeros_like(source), 0.0, None, RANGE_MIDI)
    for name in ("f0_error_cents", "voicing_mismatch", "high_note_hnr_db"):
        assert getattr(metrics, name) is None
        assert metrics.reasons[name]


def test_missing_centroid_and_range_give_reasons_not_errors(source):
    metrics = render_metrics(source, source, 0.0, None, None)
    assert metrics.voice_similarity is None
    assert metrics.reasons["voice_similarity"] == "no dataset voice centroid"
    assert metrics.high_note_hnr_db is None
    assert metrics.reasons["high_note_hnr_db"] == "no singer range"
    assert metrics.f0_error_cents is not None
