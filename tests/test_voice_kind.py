"""Speech vs singing: accuracy on the labelled set, confidence limits, and odd input."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

from svcqa.core.settings import PitchSettings
from svcqa.dataset.voice_kind import KINDS, MODEL, VoiceAnalysis, analyse_voice, block_bounds
from svcqa.demo.synth import silence, sung_phrase
from tests import voice_corpus

SETTINGS = PitchSettings()
HIGH_CONFIDENCE = 0.8
REQUIRED_KEYS = {
    "kind",
    "singing_prob",
    "voiced_s",
    "f0_p05_midi",
    "f0_p50_midi",
    "f0_p95_midi",
    "f0_p05_note",
    "f0_p50_note",
    "f0_p95_note",
    "note_seconds",
}


@dataclass(frozen=True)
class Judged:
    clip: voice_corpus.LabelledClip
    result: VoiceAnalysis


@pytest.fixture(scope="session")
def judged_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Judged]:
    if not voice_corpus.espeak_available():
        pytest.skip("espeak-ng is not installed; the labelled set needs it for speech")
    clips = voice_corpus.build_corpus(tmp_path_factory.mktemp("voice_corpus"))
    judged = []
    for clip in clips:
        audio, rate_hz = voice_corpus.load(clip)
        judged.append(Judged(clip, analyse_voice(audio, rate_hz, SETTINGS)))
    return judged


def test_labelled_set_has_every_group(judged_corpus: list[Judged]) -> None:
    groups = {j.clip.group for j in judged_corpus}
    assert groups == {
        "singing/plain",
        "singing/noisy",
        "singing/reverb",
        "speech/plain",
        "speech/noisy",
        "speech/reverb",
        "mixed",
    }
    assert len(judged_corpus) >= 60


def test_classifier_is_at_least_95_percent_accurate_on_the_labelled_set(judged_corpus: list[Judged]) -> None:
    wrong = [
        (j.clip.name, j.result.kind, j.result.singing_prob)
        for j in judged_corpus
        if j.result.kind != j.clip.expected_kind
    ]
    accuracy = 1.0 - len(wrong) / len(judged_corpus)
    assert accuracy >= 0.95, wrong


def test_no_speech_clip_is_singing_with_high_confidence(judged_corpus: list[Judged]) -> None:
    confident = [
        (j.clip.name, j.result.singing_prob)
        for j in judged_corpus
        if j.clip.label == "speech" and (j.result.singing_prob or 0.0) > HIGH_CONFIDENCE
    ]
    assert confident == []


def test_every_clip_of_the_labelled_set_is_judged(judged_corpus: list[Judged]) -> None:
    assert {j.result.kind for j in judged_corpus} <= {"singing", "speech"}
    assert all(0.0 <= (j.result.singing_prob or -1.0) <= 1.0 for j in judged_corpus)


def test_sung_phrase_is_singing_with_its_pitch_figures() -> None:
    audio = sung_phrase([57, 60, 62, 64, 62, 60, 57], 0.9, 22_050, vibrato_cents=50.0)
    result = analyse_voice(audio, 22_050, SETTINGS)
    row = result.to_dict()
    assert set(row) >= REQUIRED_KEYS
    assert row["kind"] == "singing"
    assert row["singing_prob"] > HIGH_CONFIDENCE
    assert row["f0_p05_note"] == "A3"
    assert row["f0_p95_note"] == "E4"
    assert row["voiced_s"] == pytest.approx(6.3, abs=0.3)
    assert set(row["note_seconds"]) >= {57, 60, 62, 64}


def test_espeak_speech_is_speech() -> None:
    if not voice_corpus.espeak_available():
        pytest.skip("espeak-ng is not installed")
    audio = voice_corpus.speak(
        "We will record the second verse after lunch, if the microphone is fixed by then.", "en-us", 160, 50
    )
    result = analyse_voice(audio, voice_corpus.SAMPLE_RATE_HZ, SETTINGS)
    assert result.kind == "speech"
    assert result.singing_prob is not None and result.singing_prob < 0.2


def test_spoken_intro_before_singing_pulls_the_clip_to_speech() -> None:
    if not voice_corpus.espeak_available():
        pytest.skip("espeak-ng is not installed")
    spoken = voice_corpus.speak(
        "Hello, this is take three of the chorus, and I am going to sing it now.", "en-us", 150, 50
    )
    sung = sung_phrase([60, 62, 64, 62, 60], 0.9, voice_corpus.SAMPLE_RATE_HZ)
    result = analyse_voice(np.concatenate([spoken, sung]), voice_corpus.SAMPLE_RATE_HZ, SETTINGS)
    assert result.kind == "speech"


def _tone(freq_hz: float, duration_s: float = 3.0, sample_rate_hz: int = 44_100) -> np.ndarray:
    t = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    return (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


_RNG = np.random.default_rng(7)
ODD_INPUT: dict[str, tuple[np.ndarray, set[str]]] = {
    "empty": (np.zeros(0, np.float32), {"silence"}),
    "one sample": (np.ones(1, np.float32), {"silence", "unknown"}),
    "20 ms of tone": (_tone(220.0, 0.02), {"silence", "unknown"}),
    "digital silence": (np.zeros(44_100 * 3, np.float32), {"silence"}),
    "noise floor at -70 dBFS": (silence(3.0, 44_100, noise_dbfs=-70.0), {"silence"}),
    "white noise": ((0.3 * _RNG.standard_normal(44_100 * 3)).astype(np.float32), {"unknown"}),
    "clicks": (
        np.where(np.arange(44_100 * 3) % 4410 == 0, 0.9, 0.0).astype(np.float32),
        {"unknown", "silence"},
    ),
    "DC offset": (np.full(44_100 * 3, 0.5, np.float32), {"silence"}),
    "DC step": (np.repeat(np.float32([0.0, 0.5, 0.0]), 44_100), {"unknown", "silence"}),
    "3 kHz tone": (_tone(3000.0), {"unknown"}),
    "1.5 kHz tone": (_tone(1500.0), {"unknown"}),
    "30 Hz hum": (_tone(30.0), {"unknown"}),
    "NaN and inf samples": (np.array([np.nan, np.inf, -np.inf] * 10_000, np.float32), {"silence", "unknown"}),
    "0.6 s of singing": (sung_phrase([60], 0.6, 44_100), {"unknown"}),
}


@pytest.mark.parametrize("name", list(ODD_INPUT))
def test_odd_input_is_silence_or_unknown_with_null_figures(name: str) -> None:
    audio, allowed = ODD_INPUT[name]
    result = analyse_voice(audio, 44_100, SETTINGS)
    assert result.kind in allowed
    assert result.singing_prob is None
    row = result.to_dict()
    assert set(row) >= REQUIRED_KEYS
    if result.pitch.voiced_s == 0.0:
        assert row["f0_p50_midi"] is None and row["f0_p50_note"] is None and row["note_seconds"] == {}


def test_stereo_and_integer_scaled_input_are_accepted() -> None:
    sung = sung_phrase([62, 64, 66, 67], 0.8, 16_000)
    stereo = np.stack([sung, sung], axis=1)
    assert analyse_voice(stereo, 16_000, SETTINGS).kind == "singing"
    assert analyse_voice(sung.astype(np.float64) * 20_000, 16_000, SETTINGS).kind == "singing"


def test_blocks_cover_every_frame_and_merge_a_short_tail() -> None:
    bounds = block_bounds(n_frames=510, time_step_s=0.02, block_s=4.0)
    assert bounds[0][0] == 0 and bounds[-1][1] == 510
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert len(bounds) == 3  # 10.2 s in blocks of about 4 s
    assert block_bounds(n_frames=30, time_step_s=0.02, block_s=4.0) == [(0, 30)]


def test_kinds_and_model_terms_are_the_documented_ones() -> None:
    assert KINDS == ("singing", "speech", "silence", "unknown")
    assert set(MODEL) == {"held_share", "run_s", "syllable_mod", "grid_fit", "vibrato_share", "voiced_share"}
    assert MODEL["syllable_mod"].weight < 0 < MODEL["held_share"].weight
