"""Noise measured for singing: clean legato singing is never ``noisy``; broadband noise at 5 dB SNR
and hum plus hiss at 10 dB SNR always are. On generated audio and on recorded voices from Debian
packages (the test part of ``tests/recorded_voices.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from svcqa.core.settings import VoiceSettings
from svcqa.dataset.noise import NoiseFigures, measure_noise
from svcqa.demo.synth import sung_phrase
from tests import recorded_voices
from tests.voice_corpus import add_hum_and_hiss, add_noise

SR = 16_000
SETTINGS = VoiceSettings()
needs_recorded = pytest.mark.skipif(
    bool(recorded_voices.missing_packages("test")),
    reason=f"needs Debian packages {recorded_voices.missing_packages('test')} (scripts/bootstrap.sh test)",
)

CLEAN_SINGING = {
    "sustained vowel, straight tone": lambda: sung_phrase(
        [57], 10.0, SR, vibrato_cents=0.0, breath_noise=0.0
    ),
    "sustained vowel, wide vibrato": lambda: sung_phrase([64], 10.0, SR, vibrato_cents=80.0),
    "legato phrase without pauses": lambda: sung_phrase([57, 60, 64, 62, 60, 57], 1.5, SR),
    "straight tone 2 Hz off a mains multiple": lambda: sung_phrase(
        [43, 43, 45, 43], 2.5, SR, vibrato_cents=0.0
    ),
    "breathy onsets": lambda: sung_phrase(
        [60, 62, 64, 65, 64, 62], 1.2, SR, consonant_s=0.08, scoop_cents=60.0, breath_noise=0.02
    ),
    "soprano with vibrato": lambda: sung_phrase([76, 79, 81, 84], 2.5, SR, vibrato_cents=60.0),
}


@pytest.mark.parametrize("name", list(CLEAN_SINGING))
def test_clean_legato_singing_is_not_noisy_and_has_no_hum(name: str) -> None:
    figures = measure_noise(CLEAN_SINGING[name](), SETTINGS)
    assert not figures.is_noisy(SETTINGS), figures
    assert figures.noise_floor_db < SETTINGS.noisy_floor_db - 5.0, figures
    assert figures.hum_db is None and figures.hum_hz is None


@pytest.mark.parametrize("name", ["legato phrase without pauses", "sustained vowel, wide vibrato"])
def test_broadband_noise_at_5_db_snr_is_noisy(name: str) -> None:
    noisy = add_noise(CLEAN_SINGING[name](), 5.0, np.random.default_rng(1))
    figures = measure_noise(noisy, SETTINGS)
    assert figures.is_noisy(SETTINGS), figures
    assert -10.0 < figures.noise_floor_db < -4.0


@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_hum_plus_hiss_at_10_db_snr_is_noisy_and_the_hum_is_named(mains_hz: float) -> None:
    voice = CLEAN_SINGING["legato phrase without pauses"]()
    figures = measure_noise(add_hum_and_hiss(voice, 10.0, np.random.default_rng(2), mains_hz), SETTINGS)
    assert figures.is_noisy(SETTINGS), figures
    assert figures.hum_hz == mains_hz
    # 70 % of the noise power is hum: 1.5 dB under the total, the hiss 5 dB under.
    assert figures.hum_db == pytest.approx(figures.noise_floor_db - 1.5, abs=1.5)
    assert figures.hiss_db < figures.hum_db


def test_noise_floor_follows_the_signal_to_noise_ratio() -> None:
    voice = CLEAN_SINGING["legato phrase without pauses"]()
    rng = np.random.default_rng(3)
    floors = [
        measure_noise(add_noise(voice, snr_db, rng), SETTINGS).noise_floor_db for snr_db in (30, 20, 10, 5)
    ]
    assert floors == sorted(floors)
    assert floors[1] == pytest.approx(-21.0, abs=3.0)
    assert floors[2] == pytest.approx(-12.0, abs=3.0)


@needs_recorded
def test_recorded_singing_and_speech_are_clean_and_their_noisy_copies_are_noisy() -> None:
    rng = np.random.default_rng(4)
    clips = {
        f"{name}/{seed}": clip.audio for (name, seed), clip in recorded_voices.scored_sung_clips().items()
    }
    for voice in recorded_voices.part("test"):
        if voice.kind == "spoken":
            clips |= {
                f"{voice.name}/{seed}": recorded_voices.spoken_clip(voice, seed, 8.0) for seed in (0, 1)
            }
    assert len(clips) >= 10
    for name, audio in clips.items():
        clean = measure_noise(audio, SETTINGS)
        assert not clean.is_noisy(SETTINGS), (name, clean)
        assert measure_noise(add_noise(audio, 5.0, rng), SETTINGS).is_noisy(SETTINGS), name
        assert measure_noise(add_hum_and_hiss(audio, 10.0, rng), SETTINGS).is_noisy(SETTINGS), name


def test_too_short_or_silent_clips_get_no_figures_and_say_why() -> None:
    short = measure_noise(np.full(SR // 2, 0.1, dtype=np.float32), SETTINGS)
    assert short.noise_floor_db is None and "too short" in short.noise_reason
    assert not short.is_noisy(SETTINGS)
    silent = measure_noise(np.zeros(5 * SR, dtype=np.float32), SETTINGS)
    assert silent.noise_floor_db is None and "silent" in silent.noise_reason
    assert measure_noise(np.zeros(0, dtype=np.float32), SETTINGS).noise_floor_db is None


def test_odd_samples_do_not_crash_the_measure() -> None:
    audio = sung_phrase([60, 64], 1.5, SR)
    audio[100:200] = np.nan
    audio[300] = np.inf
    figures = measure_noise(audio, SETTINGS)
    assert figures.noise_floor_db is not None and np.isfinite(figures.noise_floor_db)


def test_figures_round_trip_through_an_audit_row_and_read_as_evidence() -> None:
    figures = measure_noise(
        add_hum_and_hiss(CLEAN_SINGING["legato phrase without pauses"](), 10.0, np.random.default_rng(5))
    )
    row = {**figures.to_dict(), "vector": [0.1, 0.2], "dnsmos_bak": 1.8}
    assert NoiseFigures.from_dict(row) == figures
    assert set(figures.to_dict()) == {"noise_floor_db", "hiss_db", "hum_db", "hum_hz", "noise_reason"}
    assert "hum at 50 Hz" in figures.evidence() and "noise floor" in figures.evidence()
    assert NoiseFigures.from_dict({}).evidence() == "no noise measure: "
