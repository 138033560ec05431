"""Dataset coverage, the dataset verdict, the test-song check and their charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from svcqa.core.settings import PitchSettings
from svcqa.dataset.coverage import (
    dataset_coverage,
    dataset_verdict,
    song_check,
    sum_note_seconds,
    weighted_percentile_midi,
)
from svcqa.dataset.pitch import analyse_song_file
from svcqa.dataset.voice_kind import analyse_voice
from svcqa.demo.synth import sung_phrase
from svcqa.ui.pitch_charts import THIN_COLOUR, coverage_chart, song_overlay_chart

SETTINGS = PitchSettings()
KNOWN_CLIPS: list[dict[int, float]] = [{60: 20.0, 62: 5.0}, {60: 10.0, 64: 30.0, 65: 2.0}]


def test_coverage_sums_seconds_per_note_over_c2_to_c7() -> None:
    cov = dataset_coverage(KNOWN_CLIPS, SETTINGS)
    assert list(cov.note_seconds) == list(range(36, 97))
    assert {m: s for m, s in cov.note_seconds.items() if s} == {60: 30.0, 62: 5.0, 64: 30.0, 65: 2.0}
    assert cov.voiced_s == pytest.approx(67.0)


def test_usable_range_thirds_and_thin_notes_of_a_known_set() -> None:
    cov = dataset_coverage(KNOWN_CLIPS, SETTINGS)
    assert (cov.range_low_midi, cov.range_high_midi) == (60, 65)
    assert cov.thin_midi == (61, 62, 63, 65)
    thirds = [(t.name, t.low_midi, t.high_midi, t.seconds) for t in cov.thirds]
    assert thirds == [("low", 60, 61, 30.0), ("mid", 62, 63, 5.0), ("high", 64, 65, 32.0)]
    assert sum(t.share for t in cov.thirds) == pytest.approx(1.0)
    assert cov.thirds[2].share == pytest.approx(32.0 / 67.0)


def test_usable_range_ignores_the_rare_extremes() -> None:
    clips = [{40: 1.0, 55: 200.0, 57: 300.0, 59: 300.0, 60: 180.0, 79: 1.0}]
    cov = dataset_coverage(clips, SETTINGS)
    assert (cov.range_low_midi, cov.range_high_midi) == (55, 60)
    assert 40 not in cov.thin_midi and 79 not in cov.thin_midi


def test_thin_threshold_comes_from_settings() -> None:
    cov = dataset_coverage(KNOWN_CLIPS, PitchSettings(thin_note_s=3.0))
    assert cov.thin_midi == (61, 63, 65)


def test_notes_outside_c2_to_c7_are_left_out() -> None:
    cov = dataset_coverage([{30: 50.0, 60: 10.0, 100: 50.0}], SETTINGS)
    assert cov.voiced_s == pytest.approx(10.0)
    assert (cov.range_low_midi, cov.range_high_midi) == (60, 60)


def test_coverage_accepts_note_keys_read_back_from_json() -> None:
    from_json = json.loads(json.dumps(KNOWN_CLIPS))
    assert dataset_coverage(from_json, SETTINGS) == dataset_coverage(KNOWN_CLIPS, SETTINGS)
    assert sum_note_seconds(from_json) == {60: 30.0, 62: 5.0, 64: 30.0, 65: 2.0}


def test_an_empty_dataset_has_no_range() -> None:
    cov = dataset_coverage([{}, {}], SETTINGS)
    assert (cov.voiced_s, cov.range_low_midi, cov.range_high_midi, cov.thirds, cov.thin_midi) == (
        0.0,
        None,
        None,
        (),
        (),
    )
    assert json.loads(json.dumps(cov.to_dict()))["range_low_note"] is None


def test_coverage_dict_is_json_ready_with_note_names() -> None:
    row = json.loads(json.dumps(dataset_coverage(KNOWN_CLIPS, SETTINGS).to_dict()))
    assert row["range_low_note"] == "C4" and row["range_high_note"] == "F4"
    assert row["thin_notes"] == ["C#4", "D4", "D#4", "F4"]
    assert row["note_seconds"]["64"] == 30.0
    assert [t["name"] for t in row["thirds"]] == ["low", "mid", "high"]


def test_weighted_percentile_refuses_an_empty_histogram() -> None:
    with pytest.raises(ValueError, match="No voiced time"):
        weighted_percentile_midi({60: 0.0}, 50.0)


@pytest.mark.parametrize(
    ("clips", "verdict"),
    [
        ([("singing", 10.0)] * 20, "singing"),
        ([("speech", 10.0)] * 20, "speech"),
        ([("singing", 10.0)] * 20 + [("speech", 10.0)] * 3, "mixed"),
        ([("singing", 10.0)] * 20 + [("speech", 10.0)] * 2, "singing"),
        ([("singing", 100.0)] * 20 + [("speech", 10.0)] * 3, "singing"),
        ([("speech", 10.0)] * 10 + [("singing", 10.0)] * 4, "mixed"),
        ([("singing", 10.0)] * 5 + [("unknown", 10.0)] * 9 + [("silence", 3.0)] * 5, "singing"),
        ([("unknown", 10.0), ("silence", 2.0)], "unknown"),
        ([], "unknown"),
    ],
)
def test_dataset_verdict_is_mixed_only_when_the_minority_kind_matters(
    clips: list[tuple[str, float]], verdict: str
) -> None:
    assert dataset_verdict(clips, SETTINGS) == verdict


def test_mixed_thresholds_come_from_settings() -> None:
    clips = [("singing", 10.0)] * 20 + [("speech", 10.0)] * 2
    assert dataset_verdict(clips, PitchSettings(mixed_min_clips=2)) == "mixed"


DATASET_55_TO_67 = dataset_coverage([{m: 20.0 for m in range(55, 68)}], SETTINGS)


def test_song_check_lists_planted_uncovered_notes_and_the_transpose_that_fixes_them() -> None:
    song = {62: 4.0, 64: 6.0, 65: 3.0, 67: 5.0, 69: 2.0, 70: 1.5, 72: 0.5}
    check = song_check(song, DATASET_55_TO_67, SETTINGS)
    assert check.uncovered_midi == (69, 70)  # 72 is sung for under a second
    assert check.uncovered_s == pytest.approx(3.5)
    assert check.suggested_transpose == -3
    assert check.transposed_uncovered_midi == ()
    assert check.transposed_uncovered_s == 0.0
    assert check.song_pitch_s == song


def test_song_check_suggests_no_transpose_when_the_song_is_covered() -> None:
    check = song_check({57: 3.0, 60: 5.0, 64: 2.0}, DATASET_55_TO_67, SETTINGS)
    assert (check.uncovered_midi, check.uncovered_s, check.suggested_transpose) == ((), 0.0, 0)


def test_song_check_prefers_the_smaller_shift_then_the_downward_one() -> None:
    # A note three semitones above the top is covered by any shift from -3 to -12.
    assert song_check({70: 4.0}, DATASET_55_TO_67, SETTINGS).suggested_transpose == -3
    # A note in a one-semitone gap: +1 and -1 both fix it.
    gap = dataset_coverage([{m: 20.0 for m in (58, 59, 61, 62)}], SETTINGS)
    assert song_check({60: 2.0}, gap, SETTINGS).suggested_transpose == -1


def test_song_check_finds_the_least_bad_shift_when_none_is_perfect() -> None:
    narrow = dataset_coverage([{m: 20.0 for m in range(60, 64)}], SETTINGS)
    # Song spans 9 semitones, dataset 4: best is to cover the 8 s held notes at 70 and 72.
    check = song_check({66: 1.0, 68: 1.0, 70: 8.0, 72: 8.0, 74: 1.0}, narrow, SETTINGS)
    assert check.suggested_transpose == -9
    assert check.transposed_uncovered_s == pytest.approx(3.0)


def test_transpose_stays_within_the_limit_from_settings() -> None:
    check = song_check({80: 5.0}, DATASET_55_TO_67, PitchSettings(max_transpose_semitones=5))
    assert check.suggested_transpose == 0
    assert check.transposed_uncovered_midi == (80,)


def test_song_check_dict_is_json_ready() -> None:
    row = json.loads(json.dumps(song_check({69: 2.0, 60: 1.0}, DATASET_55_TO_67, SETTINGS).to_dict()))
    assert row["uncovered_midi"] == [69]
    assert row["uncovered_notes"] == ["A4"]
    assert row["song_pitch_s"] == {"60": 1.0, "69": 2.0}
    assert isinstance(row["suggested_transpose"], int)


def test_song_file_against_generated_dataset_finds_the_high_notes(tmp_path: Path) -> None:
    settings = PitchSettings(thin_note_s=1.0)
    dataset = [
        analyse_voice(
            sung_phrase(list(range(55, 68)), 1.6, 16_000, seed=i), 16_000, settings
        ).pitch.note_seconds
        for i in range(2)
    ]
    coverage = dataset_coverage(dataset, settings)
    song = tmp_path / "song.wav"
    sf.write(song, sung_phrase([64, 65, 67, 69, 67, 69, 70], 1.5, 22_050, seed=5), 22_050)
    check = song_check(analyse_song_file(song, settings), coverage, settings)
    assert check.uncovered_midi == (69, 70)
    assert check.suggested_transpose == -3
    assert check.transposed_uncovered_s == 0.0


def test_coverage_chart_draws_a_key_per_note_with_thin_notes_red() -> None:
    cov = dataset_coverage(KNOWN_CLIPS, SETTINGS)
    fig = coverage_chart(cov)
    bars = fig.data[0]
    assert list(bars.x) == list(range(36, 97))
    colours = dict(zip(bars.x, bars.marker.color, strict=True))
    assert {m for m, c in colours.items() if c == THIN_COLOUR} == set(cov.thin_midi)
    widths = dict(zip(bars.x, bars.width, strict=True))
    assert widths[61] < widths[60]  # C#4 is a black key
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert (shaded[0].x0, shaded[0].x1) == (59.5, 65.5)


def test_song_overlay_marks_the_uncovered_notes() -> None:
    check = song_check({62: 4.0, 69: 2.0, 70: 1.5}, DATASET_55_TO_67, SETTINGS)
    fig = song_overlay_chart(check, DATASET_55_TO_67)
    assert [trace.name for trace in fig.data] == ["dataset", "song", "not covered"]
    assert list(fig.data[2].x) == [69, 70]
    assert sum(fig.data[1].y) == pytest.approx(100.0)
