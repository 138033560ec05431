"""Plotly figures for pitch coverage and the test-song check (no Streamlit import).

Example
-------
>>> from svcqa.dataset.coverage import dataset_coverage
>>> from svcqa.core.settings import PitchSettings
>>> fig = coverage_chart(dataset_coverage([{60: 30.0, 62: 4.0, 64: 25.0}], PitchSettings()))
>>> len(fig.data[0].x)
61
"""

from __future__ import annotations

import plotly.graph_objects as go

from svcqa.dataset.coverage import Coverage, SongCheck
from svcqa.dataset.pitch import midi_to_note_name

WHITE_KEY_COLOUR = "#4C78A8"
BLACK_KEY_COLOUR = "#2F4B6E"
THIN_COLOUR = "#E45756"
OUTSIDE_COLOUR = "#BAB0AC"
SONG_COLOUR = "#F58518"
_BLACK_KEYS = frozenset({1, 3, 6, 8, 10})


def is_black_key(midi: int) -> bool:
    """Return whether ``midi`` is a black key on a piano (a sharp/flat)."""
    return midi % 12 in _BLACK_KEYS


def _tick_labels(notes: list[int]) -> tuple[list[int], list[str]]:
    """Return tick positions and labels: every C and every A, as on a keyboard's landmarks."""
    ticks = [m for m in notes if m % 12 in (0, 9)]
    return ticks, [midi_to_note_name(m) for m in ticks]


def _bar_colours(coverage: Coverage) -> list[str]:
    thin = set(coverage.thin_midi)
    colours = []
    for midi in coverage.note_seconds:
        in_range = (
            coverage.range_low_midi is not None
            and coverage.range_high_midi is not None
            and coverage.range_low_midi <= midi <= coverage.range_high_midi
        )
        if midi in thin:
            colours.append(THIN_COLOUR)
        elif not in_range:
            colours.append(OUTSIDE_COLOUR)
        else:
            colours.append(BLACK_KEY_COLOUR if is_black_key(midi) else WHITE_KEY_COLOUR)
    return colours


def coverage_chart(coverage: Coverage, height_px: int = 340) -> go.Figure:
    """Return a keyboard-like bar chart of dataset seconds per note.

    Bars for black keys are narrower and darker; thin notes inside the usable range are red,
    notes outside it grey; the usable range is shaded and the thin-note threshold is a
    dashed line.
    """
    notes = list(coverage.note_seconds)
    seconds = [coverage.note_seconds[m] for m in notes]
    names = [midi_to_note_name(m) for m in notes]
    fig = go.Figure(
        go.Bar(
            x=notes,
            y=seconds,
            width=[0.55 if is_black_key(m) else 0.9 for m in notes],
            marker_color=_bar_colours(coverage),
            customdata=names,
            hovertemplate="%{customdata} (MIDI %{x}): %{y:.1f} s<extra></extra>",
            name="dataset",
        )
    )
    if coverage.range_low_midi is not None and coverage.range_high_midi is not None:
        fig.add_vrect(
            x0=coverage.range_low_midi - 0.5,
            x1=coverage.range_high_midi + 0.5,
            fillcolor="#54A24B",
            opacity=0.12,
            line_width=0,
            annotation_text=(
                f"usable range {midi_to_note_name(coverage.range_low_midi)}"
                f"-{midi_to_note_name(coverage.range_high_midi)}"
            ),
            annotation_position="top left",
        )
    fig.add_hline(
        y=coverage.thin_note_s,
        line_dash="dash",
        line_color=THIN_COLOUR,
        annotation_text=f"thin under {coverage.thin_note_s:g} s",
        annotation_position="top right",
    )
    ticks, labels = _tick_labels(notes)
    fig.update_layout(
        xaxis={"tickmode": "array", "tickvals": ticks, "ticktext": labels, "title": "note"},
        yaxis_title="voiced seconds",
        bargap=0.0,
        showlegend=False,
        height=height_px,
        margin={"t": 30, "b": 40},
    )
    return fig


def song_overlay_chart(check: SongCheck, coverage: Coverage, height_px: int = 340) -> go.Figure:
    """Return the song's pitch histogram over the dataset's, both as % of their voiced time.

    Notes the song needs but the dataset lacks are marked with red crosses; hovering shows
    the seconds behind each bar.
    """
    notes = list(coverage.note_seconds)
    dataset_total = sum(coverage.note_seconds.values()) or 1.0
    song_total = sum(check.song_pitch_s.values()) or 1.0
    song_seconds = [check.song_pitch_s.get(m, 0.0) for m in notes]
    names = [midi_to_note_name(m) for m in notes]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=notes,
            y=[100.0 * coverage.note_seconds[m] / dataset_total for m in notes],
            customdata=list(zip(names, [coverage.note_seconds[m] for m in notes], strict=True)),
            hovertemplate="%{customdata[0]}: dataset %{customdata[1]:.1f} s (%{y:.1f} %)<extra></extra>",
            marker_color=WHITE_KEY_COLOUR,
            opacity=0.6,
            name="dataset",
        )
    )
    fig.add_trace(
        go.Bar(
            x=notes,
            y=[100.0 * s / song_total for s in song_seconds],
            customdata=list(zip(names, song_seconds, strict=True)),
            hovertemplate="%{customdata[0]}: song %{customdata[1]:.1f} s (%{y:.1f} %)<extra></extra>",
            marker_color=SONG_COLOUR,
            opacity=0.6,
            name="song",
        )
    )
    if check.uncovered_midi:
        fig.add_trace(
            go.Scatter(
                x=list(check.uncovered_midi),
                y=[100.0 * check.song_pitch_s[m] / song_total for m in check.uncovered_midi],
                mode="markers",
                marker={"symbol": "x", "size": 11, "color": THIN_COLOUR},
                name="not covered",
                hovertemplate="%{x}: not covered by the dataset<extra></extra>",
            )
        )
    ticks, labels = _tick_labels(notes)
    fig.update_layout(
        barmode="overlay",
        xaxis={"tickmode": "array", "tickvals": ticks, "ticktext": labels, "title": "note"},
        yaxis_title="% of voiced time",
        height=height_px,
        margin={"t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.1},
    )
    return fig


def voice_map_chart(report: dict) -> tuple[go.Figure, list[list[str]]]:
    """Return the voice map scatter (one trace per group) and the clip paths of each trace's points.

    Groups: ``other_voice``, ``speech``, ``noisy``, other flags, clean; a clip goes to the first
    group it belongs to. Clean clips are drawn first, small and faded; flagged ones on top of
    them, larger, so a handful of outliers stays visible among a thousand clean clips.
    """
    groups = (
        ("clean", "#4C78A8"),
        ("other flags", "#9D9DA1"),
        ("noisy", "#F58518"),
        ("speech", "#B279A2"),
        ("other_voice", "#E45756"),
    )
    flag_groups = ("other_voice", "speech", "noisy")
    xy = report["summary"]["voice_consistency"]["map_xy"]
    members: dict[str, list[dict]] = {name: [] for name, _ in groups}
    for clip in report["clips"]:
        if clip["path"] not in xy:
            continue
        flags = set(clip["flags"])
        name = next((g for g in flag_groups if g in flags), "other flags" if flags else "clean")
        members[name].append(clip)
    fig = go.Figure()
    paths: list[list[str]] = []
    for name, colour in groups:
        clips = members[name]
        if not clips:
            continue
        paths.append([c["path"] for c in clips])
        clean = name == "clean"
        fig.add_trace(
            go.Scatter(
                x=[xy[c["path"]][0] for c in clips],
                y=[xy[c["path"]][1] for c in clips],
                mode="markers",
                name=f"{name} ({len(clips)})",
                marker={
                    "color": colour,
                    "size": 7 if clean else 13,
                    "opacity": 0.35 if clean else 0.95,
                    "line": {"width": 0 if clean else 1, "color": "white"},
                },
                text=[c["path"] for c in clips],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_layout(height=420, xaxis_title="voice axis 1", yaxis_title="voice axis 2", margin={"t": 20})
    return fig, paths
