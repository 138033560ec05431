"""The audit table behind the Dataset page: ordering, filtering, CSV."""

from __future__ import annotations

from svcqa.dataset.table import clips_frame, filter_clips, to_csv


def _report() -> dict:
    def row(path: str, flags: list[str]) -> dict:
        return {
            "path": path,
            "flags": flags,
            "messages": [{"code": f, "message": f"{f} message", "fix": ""} for f in flags],
            "duration_s": 3.0,
            "lufs": -20.0,
        }

    return {
        "clips": [
            row("a.wav", []),
            row("b/short.wav", ["too_short"]),
            row("c.wav", ["clipping", "duplicate"]),
        ]
    }


def test_flagged_clips_come_first_then_by_path() -> None:
    frame = clips_frame(_report())
    assert list(frame["path"]) == ["b/short.wav", "c.wav", "a.wav"]
    assert frame.loc[1, "flags"] == "clipping duplicate"
    assert frame.loc[1, "problem"] == "clipping message; duplicate message"
    assert "kind" not in frame.columns  # columns with no values at all are dropped


def test_filter_by_any_flag_and_search() -> None:
    frame = clips_frame(_report())
    assert list(filter_clips(frame, ["duplicate", "too_short"])["path"]) == ["b/short.wav", "c.wav"]
    assert list(filter_clips(frame, [], "SHORT")["path"]) == ["b/short.wav"]
    assert filter_clips(frame, ["clipping"], "short").empty
    assert len(filter_clips(frame, [])) == 3


def test_csv_has_a_header_and_one_line_per_clip() -> None:
    lines = to_csv(_report()).decode().strip().splitlines()
    assert lines[0].startswith("path,flags,duration_s")
    assert len(lines) == 4
