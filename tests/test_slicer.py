"""The slicer cuts at planted silences, never leaves a piece outside [2, 25] s, and writes safely."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import soundfile as sf

from svcqa.core.errors import DatasetError, SvcqaError
from svcqa.core.settings import SlicerSettings
from svcqa.demo.synth import silence, sung_phrase
from svcqa.prepare.slicer import (
    frame_rms,
    hop_energies,
    matching_preset,
    plan_slices,
    preset,
    slice_file,
    slice_path,
)

SR = 16_000
TOLERANCE_S = 0.03


def _phrase(seconds: int, seed: int) -> np.ndarray:
    """Return a sung phrase of ``seconds`` one-second notes (high notes: fewer harmonics to synthesise)."""
    notes = [67 + (seed + i) % 5 for i in range(seconds)]
    return sung_phrase(notes, 1.0, SR, seed=seed)


def _layout(parts: list[tuple[str, float]], noise_dbfs: float | None) -> tuple[np.ndarray, list, list]:
    """Return audio built from ("voice"|"gap", seconds) parts, with the voice and gap spans in seconds."""
    chunks, voices, gaps, t = [], [], [], 0.0
    for i, (kind, seconds) in enumerate(parts):
        if kind == "voice":
            chunks.append(_phrase(int(seconds), seed=i))
            voices.append((t, t + seconds))
        else:
            chunks.append(silence(seconds, SR, noise_dbfs=noise_dbfs, seed=i))
            gaps.append((t, t + seconds))
        t += seconds
    return np.concatenate(chunks), voices, gaps


PLANTED = [
    ("gap", 1.0),
    ("voice", 6),
    ("gap", 1.0),
    ("voice", 6),
    ("gap", 0.4),
    ("voice", 6),
    ("gap", 2.5),
    ("voice", 3),
    ("gap", 1.0),
]


@pytest.fixture(scope="module")
def planted_quiet():
    """Four phrases between silences of 0.4-2.5 s of -65 dBFS noise (a quiet room)."""
    return _layout(PLANTED, noise_dbfs=-65.0)


@pytest.fixture(scope="module")
def planted_digital():
    """The same phrases between digital silence."""
    return _layout(PLANTED, noise_dbfs=None)


def test_every_cut_lies_within_30_ms_of_a_planted_silence(planted_quiet):
    audio, voices, gaps = planted_quiet
    plan = plan_slices(audio, SR)
    assert len(plan.pieces) == 4
    for cut in plan.cut_points_s:
        assert any(start - TOLERANCE_S <= cut <= end + TOLERANCE_S for start, end in gaps), cut
    for start, end in voices:
        holding = [
            p for p in plan.pieces if p.start_s - TOLERANCE_S <= start and end <= p.end_s + TOLERANCE_S
        ]
        assert len(holding) == 1, (start, end)


def test_piece_ends_within_30_ms_of_where_the_voice_stops(planted_digital):
    audio, voices, _ = planted_digital
    plan = plan_slices(audio, SR)
    ends = [p.end_s for p in plan.pieces]
    assert ends == pytest.approx([end for _, end in voices], abs=TOLERANCE_S)
    starts = [p.start_s for p in plan.pieces]
    # At most max_sil_kept (500 ms) of silence is kept before a phrase.
    for piece_start, (voice_start, _) in zip(starts, voices, strict=True):
        assert voice_start - 0.5 - TOLERANCE_S <= piece_start <= voice_start


def test_silence_shorter_than_min_interval_is_not_cut():
    audio, voices, _ = _layout([("voice", 6), ("gap", 0.2), ("voice", 6)], noise_dbfs=None)
    plan = plan_slices(audio, SR)
    assert [(p.start_s, p.end_s) for p in plan.pieces] == [(0.0, pytest.approx(voices[1][1], abs=0.01))]


def test_tutorial_preset_keeps_phrases_together_until_8_s(planted_digital):
    audio, _, _ = planted_digital
    tutorial = preset("tutorial")
    assert tutorial.min_length_ms == 8000
    pieces = plan_slices(audio, SR, tutorial).pieces
    assert len(pieces) < len(plan_slices(audio, SR).pieces)
    # As in the Audio Slicer, min_length counts from a cut to the end of the next silence.
    assert all(b.start_s - a.start_s >= 8.0 for a, b in itertools.pairwise(pieces))


def test_long_voiced_stretch_is_split_at_its_quietest_point():
    audio = _phrase(60, seed=3).copy()
    dips_s = (19.0, 41.0)
    for centre in dips_s:
        lo, hi = int((centre - 0.03) * SR), int((centre + 0.03) * SR)
        audio[lo:hi] *= 0.1  # -20 dB: quieter than the singing, still above the -40 dB threshold
    plan = plan_slices(audio, SR)
    assert plan.cut_points_s == pytest.approx(dips_s, abs=TOLERANCE_S)
    assert max(p.duration_s for p in plan.pieces) <= 25.0


def test_short_tail_is_merged_into_its_neighbour():
    audio, voices, _ = _layout([("voice", 6), ("gap", 1.0), ("voice", 1)], noise_dbfs=None)
    plan = plan_slices(audio, SR)
    assert len(plan.pieces) == 1 and plan.dropped == ()
    assert plan.pieces[0].start_s == 0.0
    assert plan.pieces[0].end_s == pytest.approx(voices[1][1], abs=TOLERANCE_S)


def test_short_tail_is_dropped_under_the_drop_policy():
    audio, voices, _ = _layout([("voice", 6), ("gap", 1.0), ("voice", 1)], noise_dbfs=None)
    plan = plan_slices(audio, SR, SlicerSettings(short_piece_policy="drop"))
    assert [p.end_s for p in plan.pieces] == [pytest.approx(voices[0][1], abs=TOLERANCE_S)]
    assert len(plan.dropped) == 1 and plan.dropped[0].duration_s < 2.0


@pytest.mark.parametrize("policy", ["merge", "drop"])
def test_no_piece_is_shorter_than_2_s_or_longer_than_25_s(policy):
    rng = np.random.default_rng(7)
    settings = SlicerSettings(short_piece_policy=policy)
    for _ in range(25):
        chunks = []
        for _ in range(int(rng.integers(2, 9))):
            loud_s, quiet_s = rng.uniform(0.3, 40.0), rng.uniform(0.05, 3.0)
            chunks.append(0.1 * rng.standard_normal(int(loud_s * 8000)).astype(np.float32))
            chunks.append(np.zeros(int(quiet_s * 8000), dtype=np.float32))
        durations = [p.duration_s for p in plan_slices(np.concatenate(chunks), 8000, settings).pieces]
        assert all(2.0 <= d <= 25.0 for d in durations), durations


def test_silent_recording_gives_no_pieces():
    plan = plan_slices(np.zeros(10 * SR, dtype=np.float32), SR)
    assert plan.pieces == () and plan.cut_points_s == ()


def test_stereo_is_cut_where_its_mono_mix_is(planted_digital):
    audio, _, _ = planted_digital
    stereo = np.stack([audio, 0.5 * audio], axis=1)
    assert plan_slices(stereo, SR).pieces == plan_slices(0.75 * audio, SR).pieces


def test_frame_rms_equals_librosa_rms_with_constant_padding():
    import librosa

    audio = np.random.default_rng(1).standard_normal(SR + 37).astype(np.float32)
    hop = 160
    ours = frame_rms(audio, hop, window_hops=4)
    reference = librosa.feature.rms(y=audio, frame_length=4 * hop, hop_length=hop, pad_mode="constant")[0]
    np.testing.assert_allclose(ours, reference[: ours.size], rtol=1e-4, atol=1e-6)
    assert ours.size == reference.size


def test_unknown_preset_and_inconsistent_settings_raise_svcqa_error():
    with pytest.raises(SvcqaError, match="tutorial"):
        preset("fast")
    bad = [
        SlicerSettings(min_length_ms=200),
        SlicerSettings(max_sil_kept_ms=5),
        SlicerSettings(max_piece_s=3.0),
        SlicerSettings(short_piece_policy="keep"),
    ]
    for settings in bad:
        with pytest.raises(SvcqaError):
            plan_slices(np.zeros(SR, dtype=np.float32), SR, settings)


def test_slice_file_writes_the_planned_pieces_and_leaves_the_source_alone(tmp_path, planted_quiet):
    audio, _, _ = planted_quiet
    source = tmp_path / "take.wav"
    sf.write(source, audio, SR, subtype="PCM_16")
    before = source.read_bytes()
    progress = []
    result = slice_file(source, tmp_path / "out", progress=lambda f, m: progress.append(f))

    assert source.read_bytes() == before
    assert [p.name for p in result.outputs] == [f"take_{i:03d}.wav" for i in range(1, 5)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in result.outputs]
    decoded, _ = sf.read(source, dtype="float32")
    for path, piece in zip(result.outputs, result.plan.pieces, strict=True):
        written, sr = sf.read(path, dtype="float32")
        assert sr == SR
        np.testing.assert_array_equal(written, decoded[piece.frames(SR)])
    assert progress[-1] == 1.0


@pytest.mark.parametrize("chunk_s", [0.37, 5.0])
def test_slicing_streams_in_chunks_and_writes_what_the_whole_file_plan_gives(
    tmp_path, planted_quiet, monkeypatch, chunk_s
):
    audio, _, _ = planted_quiet
    stereo = np.stack([audio, 0.5 * audio], axis=1)
    source = tmp_path / "take.wav"
    sf.write(source, stereo, SR, subtype="PCM_16")
    decoded, _ = sf.read(source, dtype="float32")

    def whole_file_read(*_args, **_kwargs):
        raise AssertionError("the slicer must not read the whole file")

    monkeypatch.setattr("svcqa.audio.decode.read", whole_file_read)
    result = slice_file(source, tmp_path / "out", chunk_s=chunk_s)
    assert result.plan == plan_slices(decoded, SR)
    assert len(result.outputs) == len(result.plan.pieces) == 4
    for path, piece in zip(result.outputs, result.plan.pieces, strict=True):
        written, _ = sf.read(path, dtype="float32", always_2d=True)
        np.testing.assert_array_equal(written, decoded[piece.frames(SR)])


def test_chunked_energies_equal_the_whole_signals():
    audio = np.random.default_rng(2).standard_normal(SR + 37).astype(np.float32)
    whole, n = hop_energies([audio], 160)
    chunked, n_chunked = hop_energies(np.array_split(audio, 7), 160)
    assert n == n_chunked == audio.size and whole.size == -(-audio.size // 160)
    np.testing.assert_allclose(chunked, whole, rtol=1e-6)


def test_settings_keep_openvpi_defaults_and_preset_only_changes_slicing():
    base = SlicerSettings(max_piece_s=20.0)
    assert dataclasses.asdict(preset("default")) == dataclasses.asdict(SlicerSettings())
    assert preset("tutorial", base).max_piece_s == 20.0


def test_matching_preset_names_the_preset_or_none_for_custom_values():
    assert matching_preset(SlicerSettings()) == "default"
    assert matching_preset(preset("tutorial", SlicerSettings(max_piece_s=20.0))) == "tutorial"
    assert matching_preset(SlicerSettings(threshold_db=-35.0)) is None


def test_slice_path_mirrors_subfolders_keeps_clashing_stems_apart_and_skips_unreadable(tmp_path):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    take = np.concatenate([_phrase(6, 1), silence(1.0, SR), _phrase(6, 2)])
    sf.write(source / "sub" / "take.wav", take, SR, subtype="PCM_16")
    sf.write(source / "sub" / "take.flac", take, SR)
    sf.write(source / "solo.wav", _phrase(4, 3), SR, subtype="PCM_16")
    (source / "broken.wav").write_bytes(b"RIFF not really a wave file")
    progress = []

    batch = slice_path(source, tmp_path / "out", progress=lambda f, m: progress.append(f))

    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.wav"))
    assert written == [
        "solo_001.wav",
        "sub/take_flac_001.wav",
        "sub/take_flac_002.wav",
        "sub/take_wav_001.wav",
        "sub/take_wav_002.wav",
    ]
    assert [p.path for p in batch.problems] == ["broken.wav"]
    assert set(batch.to_dict()) == {"source", "out_dir", "settings", "results", "problems"}
    assert progress[-1] == 1.0


def test_slice_path_refuses_an_output_folder_inside_the_source(tmp_path):
    sf.write(tmp_path / "take.wav", _phrase(3, 1), SR, subtype="PCM_16")
    with pytest.raises(DatasetError):
        slice_path(tmp_path, tmp_path / "out")
    with pytest.raises(DatasetError):
        slice_path(tmp_path / "take.wav", tmp_path)
    with pytest.raises(DatasetError):
        slice_path(tmp_path / "missing.wav", tmp_path / "elsewhere")
