"""Voice consistency: GE2E embeddings per clip, a robust dataset centroid and ``other_voice`` outliers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from svcqa.core.settings import VoiceSettings
from svcqa.dataset.voice_identity import (
    VoiceConsistency,
    clip_embedding,
    embed_clip,
    robust_centroid,
    voice_consistency,
)
from tests import singer_corpus
from tests.voice_corpus import espeak_available

SR = singer_corpus.SAMPLE_RATE_HZ


@pytest.fixture(scope="session")
def singer_set() -> tuple[dict[str, np.ndarray], set[str]]:
    """Ten clips of generated singer A and two of singer B (shorter vocal tract, higher range)."""
    return singer_corpus.one_voice_set(seed=0)


@pytest.fixture(scope="session")
def singer_embeddings(singer_set: tuple[dict[str, np.ndarray], set[str]]) -> dict[str, list[float] | None]:
    clips, _ = singer_set
    return {name: clip_embedding(audio) for name, audio in clips.items()}


@pytest.fixture(scope="session")
def speaker_embeddings() -> tuple[dict[str, list[float] | None], set[str]]:
    """Ten espeak-ng ``en`` clips and one ``en+f3`` clip, embedded."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    clips, planted = singer_corpus.speaker_set()
    return {name: clip_embedding(audio) for name, audio in clips.items()}, planted


def test_planted_second_singer_is_flagged_other_voice_and_no_one_else(singer_set, singer_embeddings):
    _, planted = singer_set
    result = voice_consistency(singer_embeddings, VoiceSettings())
    assert set(result.other_voice) == planted
    assert result.message == ""


def test_same_singer_is_closer_to_the_centroid_than_the_second_singer(singer_set, singer_embeddings):
    _, planted = singer_set
    result = voice_consistency(singer_embeddings, VoiceSettings())
    own = [v for name, v in result.similarity.items() if name not in planted]
    other = [result.similarity[name] for name in planted]
    assert min(own) > 0.88
    assert max(other) < result.threshold < min(own)


def test_planted_second_speaker_is_flagged_other_voice_and_no_one_else(speaker_embeddings):
    embeddings, planted = speaker_embeddings
    result = voice_consistency(embeddings, VoiceSettings())
    assert set(result.other_voice) == planted


def test_centroid_ignores_a_few_outliers():
    rng = np.random.default_rng(0)
    main, other = np.eye(8)[0], np.eye(8)[1]
    rows = np.vstack([main + 0.05 * rng.standard_normal((10, 8)), other + 0.05 * rng.standard_normal((3, 8))])
    plain = rows.mean(axis=0) / np.linalg.norm(rows.mean(axis=0))
    robust = robust_centroid(rows)
    assert robust @ main > 0.99
    assert plain @ main < 0.97


def test_floor_method_flags_only_clips_under_the_floor(singer_embeddings):
    settings = VoiceSettings(other_voice_method="floor", other_voice_floor=0.5)
    result = voice_consistency(singer_embeddings, settings)
    assert result.other_voice == ()
    assert result.threshold == 0.5


def test_fewer_clips_than_the_minimum_flags_nothing_and_says_why(singer_embeddings):
    few = dict(list(singer_embeddings.items())[-3:])
    result = voice_consistency(few, VoiceSettings())
    assert result.other_voice == ()
    assert result.threshold is None
    assert "fewer than 5" in result.message
    assert all(value is not None for value in result.similarity.values())


def test_clips_without_embedding_get_no_similarity_and_no_flag(singer_embeddings):
    with_gaps = {**singer_embeddings, "silent.wav": None}
    result = voice_consistency(with_gaps, VoiceSettings())
    assert result.similarity["silent.wav"] is None
    assert "silent.wav" not in result.other_voice
    assert "silent.wav" not in result.map_xy
    assert "No voice embedding" in result.explain("silent.wav")


def test_map_gives_two_coordinates_per_embedded_clip_and_separates_the_second_singer(
    singer_set, singer_embeddings
):
    _, planted = singer_set
    result = voice_consistency(singer_embeddings, VoiceSettings())
    assert set(result.map_xy) == set(singer_embeddings)
    xs = {name: xy[0] for name, xy in result.map_xy.items()}
    own = [x for name, x in xs.items() if name not in planted]
    other = [xs[name] for name in planted]
    # The first principal axis is the direction in which the second singer differs.
    assert min(other) > max(own) or max(other) < min(own)
    assert 0 < result.map_explained[1] <= result.map_explained[0] < 1


def test_result_round_trips_through_json(singer_embeddings):
    result = voice_consistency(singer_embeddings, VoiceSettings())
    data = json.loads(json.dumps(result.to_dict()))
    assert data["other_voice"] == list(result.other_voice)
    assert len(data["centroid"]) == 256
    assert isinstance(result, VoiceConsistency)


def test_embedding_is_unit_length_and_bounded_to_embed_max_s():
    long_clip = singer_corpus.sung_clip(singer_corpus.SINGER_A, seed=7, duration_s=20.0)
    embedding = embed_clip(long_clip, VoiceSettings(embed_max_s=4.8))
    assert embedding.vector is not None
    assert len(embedding.vector) == 256
    assert np.linalg.norm(embedding.vector) == pytest.approx(1.0, abs=1e-4)
    assert embedding.embedded_s == pytest.approx(4.8)


def test_silent_clip_has_no_embedding_and_says_why():
    result = embed_clip(np.zeros(5 * SR, dtype=np.float32))
    assert result.vector is None
    assert "silent" in result.reason
    assert clip_embedding(np.zeros(5 * SR, dtype=np.float32)) is None


def test_very_short_clip_has_no_embedding_and_says_why():
    result = embed_clip(np.full(SR // 2, 0.1, dtype=np.float32))
    assert result.vector is None
    assert "too short" in result.reason
    assert embed_clip(np.zeros(0, dtype=np.float32)).vector is None


def test_clip_between_minimum_and_one_block_is_padded_and_embedded():
    clip = singer_corpus.sung_clip(singer_corpus.SINGER_A, seed=3, duration_s=1.3)[: int(1.3 * SR)]
    result = embed_clip(clip, VoiceSettings(embed_min_s=1.2))
    assert result.vector is not None
    assert result.embedded_s == pytest.approx(1.3)


def test_clips_under_the_default_minimum_get_no_embedding():
    clip = singer_corpus.sung_clip(singer_corpus.SINGER_A, seed=3, duration_s=2.0)[: int(2.0 * SR)]
    result = embed_clip(clip)
    assert result.vector is None
    assert "too short" in result.reason


def test_no_embedding_at_all_gives_an_empty_result_that_says_why():
    result = voice_consistency({"a.wav": None, "b.wav": None}, VoiceSettings())
    assert result.centroid is None
    assert result.other_voice == ()
    assert result.message


def test_unknown_method_and_mixed_lengths_are_rejected():
    with pytest.raises(ValueError, match="other_voice_method"):
        voice_consistency({"a": [1.0, 0.0]}, VoiceSettings(other_voice_method="zscore"))
    with pytest.raises(ValueError, match="differ in length"):
        voice_consistency({"a": [1.0, 0.0], "b": [1.0, 0.0, 0.0]}, VoiceSettings())
