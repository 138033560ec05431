"""Recording quality: DNSMOS scores per clip and the ``noisy`` flag."""

from __future__ import annotations

import numpy as np
import pytest

from svcqa.core.settings import VoiceSettings
from svcqa.dataset.quality import WINDOW_SAMPLES, dnsmos_scores, excerpt_windows, score_clip
from tests import singer_corpus
from tests.voice_corpus import add_noise, espeak_available, speak

SR = singer_corpus.SAMPLE_RATE_HZ


@pytest.fixture(scope="session")
def clean_clips() -> dict[str, np.ndarray]:
    """A spoken clip (espeak-ng, when installed) and a phrase-wise sung clip, both clean."""
    clips = {"sung": singer_corpus.sung_clip(singer_corpus.SINGER_A, seed=11, duration_s=10.0)}
    if espeak_available():
        clips["spoken"] = speak(singer_corpus.SPEAKER_TEXTS[1], "en", 160, 50)
    return clips


@pytest.fixture(scope="session")
def scores(clean_clips: dict[str, np.ndarray]) -> dict[tuple[str, str], object]:
    """DNSMOS scores of every clean clip and of its copies with pink noise at 20 dB and 5 dB SNR."""
    rng = np.random.default_rng(5)
    out = {}
    for name, audio in clean_clips.items():
        out[name, "clean"] = score_clip(audio)
        for snr_db in (20, 5):
            out[name, f"{snr_db}dB"] = score_clip(add_noise(audio, snr_db, rng))
    return out


def test_clips_at_5_db_snr_are_noisy_and_clean_clips_are_not(clean_clips, scores):
    settings = VoiceSettings()
    for name in clean_clips:
        assert not scores[name, "clean"].is_noisy(settings), (name, scores[name, "clean"])
        assert scores[name, "5dB"].is_noisy(settings), (name, scores[name, "5dB"])


def test_background_score_falls_as_noise_rises(clean_clips, scores):
    for name in clean_clips:
        clean, mid, loud = (scores[name, level].bak for level in ("clean", "20dB", "5dB"))
        assert clean > 3.0
        assert clean > loud + 1.0
        assert mid > loud


def test_scores_are_on_the_dnsmos_scale_and_bounded_to_one_window(clean_clips, scores):
    for name, audio in clean_clips.items():
        result = scores[name, "clean"]
        for value in (result.sig, result.bak, result.ovrl):
            assert 1.0 <= value <= 5.0
        assert result.scored_s == pytest.approx(min(audio.size, WINDOW_SAMPLES) / SR, abs=1e-3)
        assert set(result.to_dict()) == {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "scored_s", "reason"}


def test_silent_clip_has_no_scores_and_says_why():
    result = score_clip(np.zeros(5 * SR, dtype=np.float32))
    assert (result.sig, result.bak, result.ovrl) == (None, None, None)
    assert "silent" in result.reason
    assert not result.is_noisy(VoiceSettings())
    assert dnsmos_scores(np.zeros(5 * SR, dtype=np.float32)) is None


def test_very_short_clip_has_no_scores_and_says_why():
    result = score_clip(np.full(SR, 0.1, dtype=np.float32))
    assert result.bak is None
    assert "too short" in result.reason
    assert score_clip(np.zeros(0, dtype=np.float32)).bak is None


def test_dnsmos_scores_returns_the_three_scores(clean_clips):
    result = dnsmos_scores(clean_clips["sung"])
    assert set(result) == {"sig", "bak", "ovrl"}


def test_short_clip_is_looped_into_one_window():
    windows = excerpt_windows(np.arange(3 * SR, dtype=np.float32) / (3 * SR), n_windows=3)
    assert windows.shape == (1, WINDOW_SAMPLES)
    assert windows[0, 3 * SR] == windows[0, 0]


def test_long_clip_gives_evenly_spaced_windows_from_start_to_end():
    audio = (np.arange(40 * SR, dtype=np.float32) % 1000) / 1000
    centred = audio - audio.mean()
    windows = excerpt_windows(audio, n_windows=3)
    assert windows.shape == (3, WINDOW_SAMPLES)
    np.testing.assert_allclose(windows[0], centred[:WINDOW_SAMPLES], atol=1e-6)
    np.testing.assert_allclose(windows[-1], centred[-WINDOW_SAMPLES:], atol=1e-6)
    middle = excerpt_windows(audio, n_windows=1)[0]
    start = (audio.size - WINDOW_SAMPLES) // 2
    np.testing.assert_allclose(middle, centred[start : start + WINDOW_SAMPLES], atol=1e-6)
