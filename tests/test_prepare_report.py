"""Tables and text that present slicing and clean-up plans and results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from svcqa.core.settings import PrepareSettings, Settings, SlicerSettings
from svcqa.core.workspace import Workspace
from svcqa.demo.synth import silence, sung_phrase
from svcqa.prepare.execute import execute_plan
from svcqa.prepare.plan import PlanEntry, PlannedOutput, PreparePlan, build_plan
from svcqa.prepare.report import (
    choices_frame,
    overrides_from,
    pieces_frame,
    plan_frame,
    plan_lines,
    problems_frame,
    result_lines,
    slice_lines,
    unsafe_output_names,
    written_frame,
)
from svcqa.prepare.slicer import Piece, SlicePlan, slice_path

ROWS = [
    {"path": "b.wav", "flags": [], "duration_s": 9.0},
    {"path": "a.wav", "flags": ["too_short", "unsafe_chars"], "duration_s": 1.2},
    {"path": "long.wav", "flags": ["too_long"], "duration_s": 40.0},
]


def test_choices_default_to_the_flag_decision_sorted_by_path():
    choices = choices_frame(ROWS, Settings())
    assert list(choices["path"]) == ["a.wav", "b.wav", "long.wav"]
    assert list(choices["include"]) == [False, True, True]
    assert list(choices["excluded_by"]) == ["too_short", "", ""]
    assert overrides_from(choices) == {}


def test_only_edited_choices_become_overrides():
    choices = choices_frame(ROWS, Settings())
    choices.loc[choices["path"] == "a.wav", "include"] = True
    choices.loc[choices["path"] == "b.wav", "include"] = False
    assert overrides_from(choices) == {"a.wav": True, "b.wav": False}


def test_without_slicing_a_long_clip_is_excluded_by_default():
    choices = choices_frame(ROWS, Settings().with_section("prepare", slice_long=False))
    assert choices.set_index("path").loc["long.wav", "excluded_by"] == "too_long"


def test_pieces_frame_lists_kept_and_dropped_pieces_in_time_order():
    plan = SlicePlan(16_000, 20.0, (Piece(0.0, 8.0), Piece(9.5, 20.0)), (Piece(8.2, 9.0),))
    frame = pieces_frame(plan)
    assert list(frame["piece"]) == [1, 2, 3]
    assert list(frame["kept"]) == [True, False, True]
    assert list(frame["duration_s"]) == [8.0, 0.8, 10.5]


def _plan() -> PreparePlan:
    entries = (
        PlanEntry("a b.wav", True, (), False, ("normalise", "rename"), (PlannedOutput("a_b.wav"),)),
        PlanEntry("s.wav", False, ("speech",), False, (), ()),
        PlanEntry("d.wav", True, ("duplicate",), True, ("normalise",), (PlannedOutput("d.wav"),)),
    )
    return PreparePlan(Path("/src"), "alice", PrepareSettings(), SlicerSettings(), entries)


def test_plan_frame_says_why_a_clip_is_in_or_out():
    frame = plan_frame(_plan()).set_index("source")
    assert frame.loc["a b.wav", "outputs"] == "a_b.wav"
    assert frame.loc["a b.wav", "actions"] == "normalise, rename"
    assert frame.loc["s.wav", "why"] == "flagged speech"
    assert frame.loc["d.wav", "why"] == "your choice (flagged duplicate)"


def test_unsafe_output_names_are_listed_when_renaming_is_off(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("take 1.wav", "ok.wav"):
        sf.write(source / name, sung_phrase([67, 69, 71], 1.0, 44_100), 44_100)
    rows = [
        {"path": n, "flags": [], "duration_s": 3.0, "sample_rate": 44_100, "channels": 1}
        for n in ("take 1.wav", "ok.wav")
    ]
    assert unsafe_output_names(build_plan(source, rows, "bob")) == []
    keep_names = Settings().with_section("prepare", rename_safe=False)
    assert unsafe_output_names(build_plan(source, rows, "bob", keep_names)) == ["take 1.wav"]


def test_plan_lines_show_file_actions_outputs_and_exclusions():
    lines = plan_lines(_plan())
    assert lines[0].startswith("3 source files: 2 used, making 2 clips in dataset_raw/alice/")
    assert "  a b.wav -> normalise, rename -> a_b.wav" in lines
    assert "  s.wav: excluded (flagged speech)" in lines


def test_result_tables_and_lines_report_written_skipped_and_the_files(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    sf.write(source / "take 1.wav", sung_phrase([67, 69, 71], 1.0, 44_100), 44_100)
    (source / "broken.wav").write_bytes(b"RIFF nope")
    rows = [
        {
            "path": "take 1.wav",
            "flags": ["unsafe_chars"],
            "duration_s": 3.0,
            "sample_rate": 44_100,
            "channels": 1,
        },
        {
            "path": "broken.wav",
            "flags": ["unreadable"],
            "duration_s": None,
            "sample_rate": None,
            "channels": None,
        },
    ]
    result = execute_plan(build_plan(source, rows, "bob"), Workspace(tmp_path / "ws"))

    written = written_frame(result)
    assert list(written["output"]) == ["take_1.wav"]
    assert written.loc[0, "lufs"] == result.written[0].lufs
    assert list(problems_frame(result.skipped)["path"]) == ["broken.wav"]
    assert problems_frame(()).empty
    lines = result_lines(result)
    assert lines[0].startswith("Wrote 1 clips to ")
    assert any(line.startswith("  skipped broken.wav: ") for line in lines)
    assert lines[-2:] == [f"Manifest: {result.manifest_path}", f"Renames: {result.renames_path}"]


def test_slice_lines_give_piece_lengths_per_file_and_problems(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    sr = 16_000
    take = np.concatenate([sung_phrase([67] * 6, 1.0, sr), silence(1.0, sr), sung_phrase([69] * 6, 1.0, sr)])
    sf.write(source / "take.wav", take, sr)
    (source / "broken.wav").write_bytes(b"RIFF nope")
    batch = slice_path(source, tmp_path / "out")
    lines = slice_lines(batch)
    assert lines[0].startswith("take.wav: 2 pieces (6.")
    assert lines[1].startswith("broken.wav: skipped: ")
    assert lines[-1] == f"Wrote 2 pieces from 1 files to {tmp_path / 'out'}."
