"""f0 tracking: percentiles on known melodies, note seconds, cleaning, trackers, song files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svcqa.core.errors import AudioError, ModelMissingError
from svcqa.core.settings import PitchSettings
from svcqa.dataset import pitch
from svcqa.dataset.pitch import (
    F0Track,
    analyse_song_file,
    clean_contour,
    hz_to_midi,
    load_tracker,
    midi_to_note_name,
    note_segments,
    pitch_stats,
    rmvpe_decode,
    stable_frames,
    track_f0,
)
from svcqa.demo.synth import sung_phrase
from tests import recorded_voices

SETTINGS = PitchSettings()


def _melody_audio(
    notes: list[float], note_s: float, sample_rate_hz: int, vibrato_cents: float, noise: float, seed: int
) -> np.ndarray:
    audio = sung_phrase(
        notes, note_s, sample_rate_hz, vibrato_cents=vibrato_cents, breath_noise=noise, seed=seed
    )
    rng = np.random.default_rng(seed)
    return audio + (noise * rng.standard_normal(audio.size)).astype(np.float32)


@pytest.mark.parametrize(
    ("notes", "sample_rate_hz", "vibrato_cents", "noise"),
    [
        ([60, 62, 64, 65, 67, 69, 67], 16_000, 40.0, 0.02),
        ([40, 43, 45, 47, 48, 50, 45], 44_100, 60.0, 0.05),
        ([72, 74, 76, 79, 81, 84, 79], 22_050, 80.0, 0.05),
        ([36, 38, 40, 41, 43], 16_000, 30.0, 0.02),
        ([55, 57, 59, 60, 62, 64, 66, 67], 48_000, 50.0, 0.1),
    ],
)
def test_percentiles_are_within_half_a_semitone_of_the_known_notes(
    notes: list[float], sample_rate_hz: int, vibrato_cents: float, noise: float
) -> None:
    audio = _melody_audio(notes, 0.7, sample_rate_hz, vibrato_cents, noise, seed=len(notes))
    stats = pitch_stats(track_f0(audio, sample_rate_hz, SETTINGS), SETTINGS)
    expected = np.percentile(np.repeat(notes, 70), [5, 50, 95])
    measured = [stats.f0_p05_midi, stats.f0_p50_midi, stats.f0_p95_midi]
    assert np.all(np.abs(np.array(measured) - expected) <= 0.5), (measured, expected)
    assert stats.f0_p50_note == midi_to_note_name(float(expected[1]))


def test_voiced_seconds_and_note_seconds_match_the_held_notes() -> None:
    notes, note_s = [57, 60, 64, 60], 1.0
    audio = _melody_audio(notes, note_s, 16_000, 40.0, 0.01, seed=3)
    stats = pitch_stats(track_f0(audio, 16_000, SETTINGS), SETTINGS)
    assert stats.voiced_s == pytest.approx(4.0, abs=0.2)
    assert stats.note_seconds[60] == pytest.approx(2.0, abs=0.25)
    assert stats.note_seconds[57] == pytest.approx(1.0, abs=0.2)
    assert stats.note_seconds[64] == pytest.approx(1.0, abs=0.2)
    assert sum(stats.note_seconds.values()) == pytest.approx(stats.voiced_s, abs=0.01)
    assert all(isinstance(midi, int) for midi in stats.note_seconds)


@pytest.mark.parametrize(
    ("midi", "name"), [(69.0, "A4"), (60.0, "C4"), (61.4, "C#4"), (59.6, "C4"), (36.0, "C2"), (96.0, "C7")]
)
def test_note_names_use_the_nearest_semitone(midi: float, name: str) -> None:
    assert midi_to_note_name(midi) == name


def test_single_frame_octave_jumps_are_folded_back() -> None:
    f0 = np.full(50, 220.0)
    f0[20] = 440.0
    f0[30] = 110.0
    cleaned = clean_contour(f0, 0.02, SETTINGS)
    np.testing.assert_allclose(cleaned, 220.0)


def test_voiced_runs_shorter_than_the_minimum_are_dropped() -> None:
    f0 = np.zeros(40)
    f0[5:7] = 300.0  # 40 ms: tracker noise
    f0[20:35] = 300.0
    cleaned = clean_contour(f0, 0.02, SETTINGS)
    assert np.count_nonzero(cleaned[5:7]) == 0
    assert np.count_nonzero(cleaned[20:35]) == 15


def test_a_tone_above_the_singing_range_is_unvoiced_not_a_subharmonic() -> None:
    t = np.arange(44_100 * 2) / 44_100
    tone = (0.3 * np.sin(2 * np.pi * 1500.0 * t)).astype(np.float32)
    assert pitch_stats(track_f0(tone, 44_100, SETTINGS), SETTINGS).voiced_s == 0.0


def test_silence_gives_an_empty_contour_with_null_percentiles() -> None:
    stats = pitch_stats(track_f0(np.zeros(16_000, np.float32), 16_000, SETTINGS), SETTINGS)
    assert (stats.voiced_s, stats.f0_p50_midi, stats.f0_p50_note, stats.note_seconds) == (0.0, None, None, {})


def test_hz_to_midi_marks_unvoiced_frames_nan() -> None:
    midi = hz_to_midi(np.array([440.0, 0.0, 261.6256]))
    assert midi[0] == pytest.approx(69.0)
    assert np.isnan(midi[1])
    assert midi[2] == pytest.approx(60.0, abs=1e-4)


def test_missing_rmvpe_model_names_the_file_and_falls_back_to_praat(tmp_path: Path) -> None:
    settings = PitchSettings(tracker="rmvpe")
    with pytest.raises(ModelMissingError, match=r"rmvpe\.onnx"):
        load_tracker("rmvpe", settings, tmp_path)
    audio = sung_phrase([60, 62], 0.8, 16_000)
    track = track_f0(audio, 16_000, settings, workspace_root=tmp_path)
    assert track.tracker == "parselmouth"
    assert str(tmp_path / "models" / "rmvpe.onnx") in track.message
    assert "parselmouth" in track.message
    assert np.count_nonzero(track.voiced) > 50


def test_unknown_tracker_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="crepe-tiny"):
        load_tracker("yin", SETTINGS)


def test_rmvpe_salience_decodes_to_the_weighted_bin_frequency() -> None:
    salience = np.zeros((3, 360))
    salience[0, 100] = 1.0
    salience[1, 99:102] = [0.5, 1.0, 0.5]
    salience[2, 100] = 0.01  # under the voicing threshold
    f0 = rmvpe_decode(salience, threshold=0.03)
    expected_hz = 10.0 * 2 ** ((20 * 100 + 1997.3794084376191) / 1200)
    assert f0[0] == pytest.approx(expected_hz)
    assert f0[1] == pytest.approx(expected_hz)
    assert f0[2] == 0.0


def test_an_rmvpe_onnx_file_in_the_workspace_is_used(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # Stand-in network with RVC's interface: log-mel (1, 128, T) in, salience (1, T, 360) out,
    # peaking at bin 150 whatever the input.
    bias = np.zeros(360, np.float32)
    bias[150] = 1.0
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["mel"], ["frames"], perm=[0, 2, 1]),
            helper.make_node("MatMul", ["frames", "zeros"], ["flat"]),
            helper.make_node("Add", ["flat", "bias"], ["salience"]),
        ],
        "fake_rmvpe",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, 128, "T"])],
        [helper.make_tensor_value_info("salience", TensorProto.FLOAT, [1, "T", 360])],
        [
            helper.make_tensor("zeros", TensorProto.FLOAT, [128, 360], np.zeros(128 * 360, np.float32)),
            helper.make_tensor("bias", TensorProto.FLOAT, [360], bias),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "models").mkdir()
    onnx.save(model, str(tmp_path / "models" / "rmvpe.onnx"))
    audio = sung_phrase([60], 1.0, 16_000)
    track = track_f0(audio, 16_000, PitchSettings(tracker="rmvpe"), workspace_root=tmp_path)
    assert (track.tracker, track.message, track.time_step_s) == ("rmvpe", "", 0.01)
    expected_hz = 10.0 * 2 ** ((20 * 150 + 1997.3794084376191) / 1200)
    assert np.median(track.f0_hz[track.voiced]) == pytest.approx(expected_hz, rel=1e-3)


def test_crepe_tiny_tracks_a_sung_note() -> None:
    pytest.importorskip("torchcrepe")
    audio = sung_phrase([64], 1.2, 16_000, vibrato_cents=20.0)
    track = track_f0(audio, 16_000, PitchSettings(tracker="crepe-tiny"))
    assert track.tracker == "crepe-tiny"
    assert np.nanmedian(track.midi()) == pytest.approx(64.0, abs=0.5)


def test_analyse_song_file_returns_seconds_per_note(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    sf.write(path, sung_phrase([62, 62, 66, 69], 1.0, 22_050), 22_050)
    seconds = analyse_song_file(path)
    assert seconds[62] == pytest.approx(2.0, abs=0.3)
    assert seconds[69] == pytest.approx(1.0, abs=0.3)


def test_analyse_song_file_raises_audio_error_on_garbage(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match=r"broken\.wav"):
        analyse_song_file(path)


def test_track_summary_is_json_ready() -> None:
    track = F0Track(np.array([0.0, 220.0, 220.0]), 0.02, "parselmouth")
    assert track.to_dict() == {
        "tracker": "parselmouth",
        "time_step_s": 0.02,
        "frames": 3,
        "voiced_s": 0.04,
        "message": "",
    }
    assert pitch.TRACKERS[0] == pitch.DEFAULT_TRACKER


def _notes_with_unstable_onsets() -> tuple[np.ndarray, list[int]]:
    """Return a legato line whose notes start off the note: 0.12 s a fifth below (a jump that
    settles), or 0.3 s an octave below (the tracker's harmonic error at a change of note)."""
    notes = [60, 62, 64, 65, 67, 65, 64, 62]
    sequence, lengths = [], []
    for k, note in enumerate(notes):
        sequence += [note - 7 if k % 2 == 0 else note - 12, note]
        lengths += [0.12 if k % 2 == 0 else 0.3, 0.8]
    return sung_phrase(sequence, lengths, 16_000, vibrato_cents=30.0), notes


def test_jumps_that_settle_and_octave_errors_at_onsets_are_left_out() -> None:
    audio, notes = _notes_with_unstable_onsets()
    track = track_f0(audio, 16_000, SETTINGS)
    stats = pitch_stats(track, SETTINGS)
    assert stats.f0_p05_midi == pytest.approx(min(notes), abs=0.5)
    assert stats.f0_p95_midi == pytest.approx(max(notes), abs=0.5)
    # Below the lowest note only the glides onto the notes remain: coverage is not inflated.
    assert sum(s for note, s in stats.note_seconds.items() if note < min(notes) - 1) < 0.3
    assert stats.unstable_s >= 1.0
    assert stats.voiced_s + stats.unstable_s == pytest.approx(
        track.voiced.sum() * track.time_step_s, abs=1e-6
    )
    every_frame = pitch_stats(track, dataclasses.replace(SETTINGS, settle_s=0.0, stable_min_strength=0.0))
    assert every_frame.f0_p05_midi < min(notes) - 5
    assert sum(s for note, s in every_frame.note_seconds.items() if note < min(notes) - 1) > 1.0


def test_stable_frames_drop_weak_edges_short_stretches_and_harmonic_errors() -> None:
    midi = np.concatenate([np.full(10, 48.0), np.full(50, 60.0), np.full(5, 53.0), np.full(40, 62.0)])
    strength = np.full(midi.size, 0.9)
    strength[10:13] = 0.3  # a breathy attack of the note at 60
    track = F0Track(440.0 * 2.0 ** ((midi - 69.0) / 12.0), 0.02, "parselmouth", strength=strength)
    stable = stable_frames(track, SETTINGS)
    assert not stable[:10].any()  # 0.2 s an octave under the longer note that follows
    assert not stable[10:13].any()  # weak periodicity at the onset
    assert stable[13:60].all()
    assert not stable[60:65].any()  # a 0.1 s island between the notes
    assert stable[65:].all()
    assert len(note_segments(np.where(stable, midi, np.nan), SETTINGS.segment_jump_semitones)) == 2


@pytest.mark.skipif(
    bool(recorded_voices.missing_packages("test")),
    reason=f"needs Debian packages {recorded_voices.missing_packages('test')} (scripts/bootstrap.sh test)",
)
def test_recorded_voices_with_breathy_onsets_keep_p05_and_p95_on_the_sung_notes() -> None:
    for (name, seed), clip in recorded_voices.scored_sung_clips().items():
        stats = pitch_stats(track_f0(clip.audio, recorded_voices.SAMPLE_RATE_HZ, SETTINGS), SETTINGS)
        low, high = clip.note_percentile(3) - 0.5, clip.note_percentile(7) + 0.5
        assert low <= stats.f0_p05_midi <= high, (name, seed, stats.f0_p05_midi, clip.notes)
        low, high = clip.note_percentile(93) - 0.5, clip.note_percentile(97) + 0.5
        assert low <= stats.f0_p95_midi <= high, (name, seed, stats.f0_p95_midi, clip.notes)


def test_an_octave_leap_between_long_notes_keeps_both_notes() -> None:
    # A sung leap is not the tracker's harmonic error: only a stretch at most half as long as
    # its neighbour is taken for one.
    midi = np.concatenate([np.full(40, 57.0), np.full(50, 69.0)])
    track = F0Track(440.0 * 2.0 ** ((midi - 69.0) / 12.0), 0.02, "parselmouth", strength=np.full(90, 0.9))
    assert stable_frames(track, SETTINGS).all()
    stats = pitch_stats(track, SETTINGS)
    assert (stats.f0_p05_note, stats.f0_p95_note) == ("A3", "A4")
