"""The clean-up plan and its execution: safe names, loudness, untouched sources, re-runs."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from svcqa.core.errors import WorkspaceError
from svcqa.core.files import file_sha256, partial_path
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace
from svcqa.demo.synth import silence, sung_phrase
from svcqa.prepare.execute import execute_plan, load_manifest
from svcqa.prepare.plan import (
    build_plan,
    check_speaker_name,
    exclusion_reasons,
    safe_speaker_name,
    safe_stem,
    source_folders,
)

SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+\.wav")
CEILING = 10 ** (Settings().prepare.peak_ceiling_dbfs / 20)


def _row(path: str, flags: list[str], audio: np.ndarray, sample_rate_hz: int) -> dict:
    """Return the audit row of a generated clip."""
    return {
        "path": path,
        "flags": flags,
        "duration_s": audio.shape[0] / sample_rate_hz,
        "sample_rate": sample_rate_hz,
        "channels": 1 if audio.ndim == 1 else audio.shape[1],
    }


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A source folder of generated takes, and the audit rows that describe it."""
    folder = tmp_path_factory.mktemp("recordings")
    rows = []

    def add(name: str, audio: np.ndarray, sample_rate_hz: int, flags: list[str]) -> None:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / name, audio, sample_rate_hz, subtype="PCM_16")
        rows.append(_row(name, flags, audio, sample_rate_hz))

    phrase_48k = sung_phrase([67, 69, 71, 72], 1.0, 48_000, seed=1)
    add("歌声 01.wav", np.stack([phrase_48k, 0.5 * phrase_48k], axis=1), 48_000, ["non_ascii_name"])
    add("take 2.wav", sung_phrase([72, 71, 69, 67, 69], 1.0, 44_100, seed=2), 44_100, ["unsafe_chars"])
    long_take = np.concatenate(
        [
            sung_phrase([67 + i % 5 for i in range(9)], 1.0, 22_050, seed=3),
            silence(1.0, 22_050),
            sung_phrase([69 + i % 4 for i in range(9)], 1.0, 22_050, seed=4),
            silence(0.8, 22_050),
            sung_phrase([71 + i % 3 for i in range(9)], 1.0, 22_050, seed=5),
        ]
    )
    add("long take.wav", long_take, 22_050, ["too_long", "unsafe_chars"])
    add("spoken.wav", sung_phrase([64] * 3, 1.0, 44_100, seed=6), 44_100, ["speech"])
    add("quiet.wav", 0.01 * sung_phrase([67] * 3, 1.0, 44_100, seed=7), 44_100, [])
    (folder / "broken.wav").write_bytes(b"RIFF not really a wave file")
    rows.append(
        {
            "path": "broken.wav",
            "flags": ["unreadable"],
            "duration_s": None,
            "sample_rate": None,
            "channels": None,
        }
    )
    return folder, rows


@pytest.fixture
def setup(tmp_path, recordings):
    """A fresh copy of the recordings and an empty workspace."""
    folder, rows = recordings
    source = tmp_path / "recordings"
    shutil.copytree(folder, source)
    return source, [dict(r) for r in rows], Workspace(tmp_path / "ws").ensure_layout()


def _entry(plan, source):
    return next(e for e in plan.entries if e.source == source)


def test_plan_lists_the_actions_and_outputs_of_every_source(setup):
    source, rows, _ = setup
    plan = build_plan(source, rows, "alice")

    assert [e.source for e in plan.entries] == sorted(r["path"] for r in rows)
    assert _entry(plan, "歌声 01.wav").actions == ("mono", "resample", "normalise", "rename")
    assert _entry(plan, "take 2.wav").actions == ("normalise", "rename")
    long_take = _entry(plan, "long take.wav")
    assert long_take.actions == ("slice", "resample", "normalise", "rename")
    assert [o.name for o in long_take.outputs] == [
        "long_take_001.wav",
        "long_take_002.wav",
        "long_take_003.wav",
    ]
    assert json.loads(json.dumps(plan.to_dict()))["speaker"] == "alice"


def test_flagged_clips_are_excluded_unless_the_user_overrides_them(setup):
    source, rows, _ = setup
    plan = build_plan(source, rows, "alice")
    spoken = _entry(plan, "spoken.wav")
    assert (spoken.include, spoken.reasons, spoken.outputs) == (False, ("speech",), ())

    overridden = build_plan(source, rows, "alice", overrides={"spoken.wav": True, "quiet.wav": False})
    assert _entry(overridden, "spoken.wav").include and _entry(overridden, "spoken.wav").overridden
    assert not _entry(overridden, "quiet.wav").include


def test_outputs_are_mono_44k_within_half_lu_of_target_and_under_the_ceiling(setup):
    source, rows, ws = setup
    result = execute_plan(build_plan(source, rows, "alice"), ws)

    assert len(result.written) == 6
    for record in result.written:
        samples, sample_rate_hz = sf.read(result.out_dir / record.output, dtype="float64")
        assert sample_rate_hz == 44_100 and samples.ndim == 1
        lufs = pyloudnorm.Meter(sample_rate_hz).integrated_loudness(samples)
        assert lufs == pytest.approx(-23.0, abs=0.5), record.output
        assert np.max(np.abs(samples)) <= CEILING
        assert record.lufs == pytest.approx(lufs, abs=0.1)


def test_peak_ceiling_wins_over_the_loudness_target(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    audio = 0.02 * sung_phrase([67] * 4, 1.0, 44_100, seed=8)
    audio[44_100] = 0.9  # one click: reaching -23 LUFS would push it far over full scale
    sf.write(source / "click.wav", audio, 44_100, subtype="FLOAT")
    ws = Workspace(tmp_path / "ws").ensure_layout()
    result = execute_plan(build_plan(source, [_row("click.wav", [], audio, 44_100)], "bob"), ws)

    written, _ = sf.read(result.out_dir / "click.wav", dtype="float64")
    assert np.max(np.abs(written)) <= CEILING
    assert result.written[0].peak_dbfs <= -1.0
    assert result.written[0].lufs < -23.5


def test_sliced_outputs_lie_between_2_and_25_s(setup):
    source, rows, ws = setup
    result = execute_plan(build_plan(source, rows, "alice"), ws)
    sliced = [r for r in result.written if "slice" in r.actions]
    assert len(sliced) == 3
    for record in sliced:
        info = sf.info(str(result.out_dir / record.output))
        assert 2.0 <= info.duration <= 25.0


def test_non_ascii_and_space_names_become_safe_with_a_mapping(setup):
    source, rows, ws = setup
    plan = build_plan(source, rows, "alice")
    result = execute_plan(plan, ws)

    names = sorted(p.name for p in result.out_dir.iterdir())
    assert all(SAFE_NAME.fullmatch(n) for n in names), names
    with open(result.renames_path, encoding="utf-8", newline="") as handle:
        mapping = {(row["source"], row["output"]) for row in csv.DictReader(handle)}
    assert ("歌声 01.wav", "Ge_Sheng_01.wav") in mapping
    assert ("take 2.wav", "take_2.wav") in mapping
    assert ("quiet.wav", "quiet.wav") in mapping
    assert {output for _, output in mapping} == set(names)
    assert mapping == set(plan.renames())


def test_safe_stem_transliterates_or_falls_back_to_a_stable_slug():
    assert safe_stem("歌声 01.wav") == "Ge_Sheng_01"
    assert safe_stem("album one/Привет мир!.flac") == "album_one_Privet_mir"
    assert safe_stem("😀.wav") == safe_stem("😀.wav")
    assert re.fullmatch(r"clip_[0-9a-f]{8}", safe_stem("😀.wav"))
    assert safe_stem("😀.wav") != safe_stem("😺.wav")


def test_source_folder_is_byte_for_byte_unchanged(setup, fingerprint):
    source, rows, ws = setup
    before = fingerprint(source)
    plan = build_plan(source, rows, "alice", overrides={"spoken.wav": True})
    execute_plan(plan, ws)
    execute_plan(plan, ws)
    assert fingerprint(source) == before


def test_manifest_traces_every_output_to_its_source(setup):
    source, rows, ws = setup
    result = execute_plan(build_plan(source, rows, "alice"), ws)
    lines = result.manifest_path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]

    assert sorted(r["output"] for r in records) == sorted(p.name for p in result.out_dir.iterdir())
    for record in records:
        assert record["source_sha256"] == file_sha256(source / record["source"])
        assert record["output_sha256"] == file_sha256(result.out_dir / record["output"])
        assert record["actions"] and record["duration_s"] > 0


def test_rerun_writes_nothing_new(setup):
    source, rows, ws = setup
    plan = build_plan(source, rows, "alice")
    first = execute_plan(plan, ws)
    stamps = {p.name: p.stat().st_mtime_ns for p in first.out_dir.iterdir()}
    state = {p: p.stat().st_mtime_ns for p in (first.manifest_path, first.renames_path)}

    second = execute_plan(build_plan(source, rows, "alice"), ws)
    assert second.written == () and second.removed == ()
    assert sorted(second.unchanged) == sorted(r.output for r in first.written)
    assert {p.name: p.stat().st_mtime_ns for p in second.out_dir.iterdir()} == stamps
    assert {p: p.stat().st_mtime_ns for p in state} == state


def test_rerun_rewrites_only_the_outputs_of_a_changed_source(setup):
    source, rows, ws = setup
    execute_plan(build_plan(source, rows, "alice"), ws)
    changed = 0.5 * sung_phrase([60, 62, 64], 1.0, 44_100, seed=9)
    sf.write(source / "quiet.wav", changed, 44_100, subtype="PCM_16")
    rows = [_row("quiet.wav", [], changed, 44_100) if r["path"] == "quiet.wav" else r for r in rows]

    result = execute_plan(build_plan(source, rows, "alice"), ws)
    assert [r.output for r in result.written] == ["quiet.wav"]
    assert len(result.unchanged) == 5


def test_changed_loudness_target_rewrites_every_output(setup):
    source, rows, ws = setup
    execute_plan(build_plan(source, rows, "alice"), ws)
    louder = Settings().with_section("prepare", target_lufs=-20.0)
    result = execute_plan(build_plan(source, rows, "alice", settings=louder), ws)
    assert len(result.written) == 6 and result.unchanged == ()
    assert all(r.lufs == pytest.approx(-20.0, abs=0.5) for r in result.written)


def test_colliding_safe_names_get_distinct_names(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    audio = sung_phrase([67, 69, 71], 1.0, 44_100, seed=10)
    names = ["a b.wav", "a_b.wav", "A B.flac", "a?b.wav", "a_b_001.wav"]
    for name in names:
        sf.write(source / name, audio, 44_100)
    rows = [_row(n, [], audio, 44_100) for n in names]
    plan = build_plan(source, rows, "carol")

    outputs = {e.source: e.outputs[0].name for e in plan.entries}
    assert len({o.casefold() for o in outputs.values()}) == len(names)
    assert all(SAFE_NAME.fullmatch(o) for o in outputs.values())
    # A source whose name is already safe keeps it; the others get a hash of their path.
    assert outputs["a_b.wav"] == "a_b.wav" and outputs["a_b_001.wav"] == "a_b_001.wav"
    assert re.fullmatch(r"a_b_[0-9a-f]{6}\.wav", outputs["a b.wav"])
    assert {e.source: e.outputs[0].name for e in build_plan(source, rows[::-1], "carol").entries} == outputs
    result = execute_plan(plan, Workspace(tmp_path / "ws").ensure_layout())
    assert len(list(result.out_dir.iterdir())) == len(names)


def test_unreadable_sources_are_skipped_and_reported(setup):
    source, rows, ws = setup
    (source / "stale.wav").write_bytes(b"\x00" * 100)  # the audit saw a good file here once
    rows.append({"path": "stale.wav", "flags": [], "duration_s": 3.0, "sample_rate": 44_100, "channels": 1})
    plan = build_plan(source, rows, "alice")
    assert _entry(plan, "broken.wav").reasons == ("unreadable",)

    result = execute_plan(plan, ws)
    assert sorted(p.path for p in result.skipped) == ["broken.wav", "stale.wav"]
    assert all(p.message for p in result.skipped)
    assert not (result.out_dir / "stale.wav").exists()
    assert len(result.written) == 6


def test_a_failed_write_leaves_no_half_written_clip(setup, monkeypatch):
    source, rows, ws = setup
    plan = build_plan(source, rows, "alice")
    out_dir = ws.dataset_raw / "alice"
    out_dir.mkdir(parents=True)
    leftover = partial_path(out_dir / "old.wav")
    leftover.write_bytes(b"half a clip from a killed run")
    real_replace = os.replace

    def disk_full(src, dst):
        if str(dst).endswith("take_2.wav"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", disk_full)
        with pytest.raises(WorkspaceError, match="No space left"):
            execute_plan(plan, ws)
    assert not leftover.exists()
    assert not (out_dir / "take_2.wav").exists()
    assert not list(out_dir.glob(".*"))
    done = load_manifest(ws.state_dir / "prepare" / "alice" / "manifest.jsonl")
    assert set(done) == {p.name for p in out_dir.iterdir()}

    resumed = execute_plan(plan, ws)
    assert "take_2.wav" in [r.output for r in resumed.written]
    assert sorted(resumed.unchanged) == sorted(done)


def test_a_file_svcqa_did_not_write_is_never_overwritten(setup):
    source, rows, ws = setup
    out_dir = ws.dataset_raw / "alice"
    out_dir.mkdir(parents=True)
    (out_dir / "take_2.wav").write_bytes(b"the user's own file")
    result = execute_plan(build_plan(source, rows, "alice"), ws)
    assert [p.path for p in result.conflicts] == ["take_2.wav"]
    assert (out_dir / "take_2.wav").read_bytes() == b"the user's own file"


def test_excluding_a_clip_later_removes_only_its_unedited_output(setup):
    source, rows, ws = setup
    first = execute_plan(build_plan(source, rows, "alice"), ws)
    edited = first.out_dir / "take_2.wav"
    edited.write_bytes(edited.read_bytes() + b"\x00\x00")

    overrides = {"quiet.wav": False, "take 2.wav": False}
    result = execute_plan(build_plan(source, rows, "alice", overrides=overrides), ws)
    assert result.removed == ("quiet.wav",)
    assert not (first.out_dir / "quiet.wav").exists()
    assert edited.exists() and [p.path for p in result.conflicts] == ["take_2.wav"]
    assert set(load_manifest(result.manifest_path)) == {r.output for r in first.written} - {
        "quiet.wav",
        "take_2.wav",
    }


def test_plan_and_run_report_progress_from_0_to_1(setup):
    source, rows, ws = setup
    seen = []
    plan = build_plan(source, rows, "alice", progress=lambda f, m: seen.append(("plan", f, m)))
    execute_plan(plan, ws, progress=lambda f, m: seen.append(("run", f, m)))
    for stage in ("plan", "run"):
        fractions = [f for s, f, _ in seen if s == stage]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, _, m in seen)


def test_unsafe_speaker_name_is_refused(setup):
    source, rows, _ = setup
    with pytest.raises(WorkspaceError):
        build_plan(source, rows, "../elsewhere")


def test_long_silent_clip_is_excluded_because_slicing_leaves_nothing(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    hiss = silence(30.0, 22_050, noise_dbfs=-70.0)
    sf.write(source / "room tone.wav", hiss, 22_050)
    plan = build_plan(source, [_row("room tone.wav", ["too_long"], hiss, 22_050)], "dave")
    entry = plan.entries[0]
    assert (entry.include, entry.reasons, entry.outputs) == (False, ("no_pieces",), ())
    assert entry.note


def test_resample_off_keeps_each_source_rate(setup):
    source, rows, ws = setup
    settings = Settings().with_section("prepare", resample=False)
    plan = build_plan(source, rows, "erin", settings)
    assert "resample" not in _entry(plan, "歌声 01.wav").actions
    result = execute_plan(plan, ws)
    rates = {r.source: r.sample_rate_hz for r in result.written}
    assert (rates["歌声 01.wav"], rates["long take.wav"], rates["take 2.wav"]) == (48_000, 22_050, 44_100)
    for record in result.written:
        assert sf.info(result.out_dir / record.output).samplerate == record.sample_rate_hz


def test_exclusion_reasons_spare_a_long_clip_that_will_be_sliced():
    row = {"path": "a.wav", "flags": ["too_long", "duplicate"], "duration_s": 40.0}
    assert exclusion_reasons(row, Settings()) == ("duplicate",)
    no_slicing = Settings().with_section("prepare", slice_long=False)
    assert exclusion_reasons(row, no_slicing) == ("too_long", "duplicate")
    assert exclusion_reasons({"path": "b.wav", "flags": ["clipping"]}, Settings()) == ()


def test_safe_speaker_name_transliterates_and_passes_the_speaker_check():
    assert safe_speaker_name("歌手 A") == "Ge_Shou_A"
    assert safe_speaker_name("demo_singer") == "demo_singer"
    assert safe_speaker_name("🎤") == "speaker"
    for name in ("歌手 A", "my voice!", "🎤"):
        check_speaker_name(safe_speaker_name(name))
    with pytest.raises(WorkspaceError):
        check_speaker_name("two words")


def test_source_folders_lists_speaker_folders_that_hold_audio(tmp_path):
    ws = Workspace(tmp_path / "ws").ensure_layout()
    (ws.recordings / "bob").mkdir()
    sf.write(ws.recordings / "bob" / "a.wav", np.zeros(100), 44_100)
    (ws.recordings / "empty").mkdir()
    (ws.recordings / "notes").mkdir()
    (ws.recordings / "notes" / "readme.txt").write_text("no audio")
    assert source_folders(ws) == ["bob"]
