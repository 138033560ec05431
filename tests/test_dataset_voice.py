"""``other_voice`` only on clean evidence, ``noisy`` from the noise floor, and the evidence each flag
carries: on constructed audit rows and on recorded speech (Debian's Asterisk prompts)."""

from __future__ import annotations

import numpy as np
import pytest

from svcqa.core.settings import AuditSettings, VoiceSettings
from svcqa.dataset.checks import Measurement
from svcqa.dataset.dataset_voice import identity_flags
from svcqa.dataset.noise import measure_noise
from svcqa.dataset.voice_identity import clip_embedding
from tests import recorded_voices
from tests.voice_corpus import add_noise

SETTINGS = VoiceSettings()


def _row(
    path: str,
    vector: np.ndarray,
    *,
    noise_floor_db: float = -40.0,
    duration_s: float = 10.0,
    silence_share: float = 0.1,
) -> Measurement:
    identity = {
        "vector": list(vector / np.linalg.norm(vector)),
        "noise_floor_db": noise_floor_db,
        "hiss_db": noise_floor_db,
        "hum_db": None,
        "hum_hz": None,
        "noise_reason": "",
    }
    return Measurement(
        path, 1, 1, frames=1, duration_s=duration_s, silence_share=silence_share, identity=identity
    )


@pytest.fixture(scope="module")
def rows() -> list[Measurement]:
    """Eight clean clips of one voice, and four clips of another: noisy, short, mostly silent, clean."""
    rng = np.random.default_rng(0)
    voice, other = rng.random(64), rng.random(64)
    own = [_row(f"own_{i}.wav", voice + 0.05 * rng.random(64)) for i in range(8)]
    return [
        *own,
        _row("noisy_other.wav", other, noise_floor_db=-6.0),
        _row("short_other.wav", other, duration_s=3.5),
        _row("silent_other.wav", other, silence_share=0.8),
        _row("clean_other.wav", other),
    ]


def test_only_the_clean_clip_of_another_voice_is_flagged_other_voice(rows: list[Measurement]) -> None:
    flags, similarity, summary, unjudged = identity_flags(rows, SETTINGS, AuditSettings())
    codes = {path: [f.code for f in found] for path, found in flags.items()}
    assert codes == {"noisy_other.wav": ["noisy"], "clean_other.wav": ["other_voice"]}
    assert unjudged == {
        "noisy_other.wav": "noisy (-6.0 dB noise floor)",
        "short_other.wav": "too short (3.5 s < 4 s)",
        "silent_other.wav": "mostly silent (80% silence)",
    }
    for path in ("noisy_other.wav", "short_other.wav", "silent_other.wav"):
        assert similarity[path] == pytest.approx(similarity["clean_other.wav"], abs=1e-3)
    assert summary["voice_consistency"]["centroid_clips"] == 9


def test_each_flag_says_what_was_measured(rows: list[Measurement]) -> None:
    flags, similarity, _, _ = identity_flags(rows, SETTINGS)
    noisy = flags["noisy_other.wav"][0]
    assert (
        noisy.evidence["noise_floor_db"] == -6.0
        and noisy.evidence["noisy_floor_db"] == SETTINGS.noisy_floor_db
    )
    assert noisy.message.startswith("Noise floor -6.0 dB relative to the voice")
    other = flags["clean_other.wav"][0]
    assert other.evidence["voice_similarity"] == similarity["clean_other.wav"]
    assert other.evidence["centroid_clips"] == 9
    assert other.evidence["threshold"] > other.evidence["voice_similarity"]
    assert "the robust centroid of 9 clean clips" in other.message


def test_dnsmos_is_a_second_opinion_in_the_noisy_message_never_the_flag(rows: list[Measurement]) -> None:
    quiet = rows[0]
    noisy_by_dnsmos = Measurement(
        "speechy.wav", 1, 1, frames=1, duration_s=10.0, identity={**quiet.identity, "dnsmos_bak": 1.2}
    )
    loud = Measurement(
        "loud.wav", 1, 1, frames=1, duration_s=10.0, identity={**rows[8].identity, "dnsmos_bak": 1.9}
    )
    flags, _, _, _ = identity_flags([*rows[:8], noisy_by_dnsmos, loud], SETTINGS)
    assert "speechy.wav" not in flags
    assert "DNSMOS background 1.9 of 5" in flags["loud.wav"][0].message
    assert flags["loud.wav"][0].evidence["dnsmos_bak"] == 1.9


def test_rows_without_noise_figures_or_embeddings_get_no_voice_flags() -> None:
    rows = [
        Measurement(
            f"c{i}.wav", 1, 1, frames=1, duration_s=10.0, identity={"vector": None, "noise_reason": "silent"}
        )
        for i in range(3)
    ]
    assert identity_flags(rows, SETTINGS) == ({}, {}, {}, {})


@pytest.mark.skipif(
    bool(recorded_voices.missing_packages("test")),
    reason=f"needs Debian packages {recorded_voices.missing_packages('test')} (scripts/bootstrap.sh test)",
)
def test_a_noisy_take_of_the_speaker_is_noisy_not_another_voice_and_another_speaker_is() -> None:
    allison, june = recorded_voices.VOICES["allison_en"], recorded_voices.VOICES["june_fr"]
    clips = {f"allison_{i}.wav": recorded_voices.spoken_clip(allison, i, 8.0) for i in range(8)}
    clips["allison_noisy.wav"] = add_noise(
        recorded_voices.spoken_clip(allison, 20, 8.0), 5.0, np.random.default_rng(1)
    )
    clips["june.wav"] = recorded_voices.spoken_clip(june, 0, 8.0)
    clips["alsa_word.wav"] = recorded_voices.prompts(recorded_voices.VOICES["alsa_words"])[0]
    rows = [
        Measurement(
            path,
            1,
            1,
            frames=audio.size,
            duration_s=audio.size / 16_000,
            silence_share=0.1,
            identity={"vector": clip_embedding(audio), **measure_noise(audio).to_dict()},
        )
        for path, audio in clips.items()
    ]
    flags, similarity, _, unjudged = identity_flags(rows, SETTINGS)
    codes = {path: [f.code for f in found] for path, found in flags.items()}
    assert codes == {"allison_noisy.wav": ["noisy"], "june.wav": ["other_voice"]}
    assert unjudged["allison_noisy.wav"].startswith("noisy")
    assert similarity["allison_noisy.wav"] is not None
    assert unjudged["alsa_word.wav"] == "too short (1.4 s < 4 s)"
    assert similarity["alsa_word.wav"] is None  # under embed_min_s: no embedding either
