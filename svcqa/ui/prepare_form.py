"""The Prepare page's option widgets: slicer parameters with presets, and the clean-up choices.

Widgets take their first value from the workspace settings (:func:`init_state`) and keep the
user's edits for the session; the page saves them to the workspace when a plan is run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from svcqa.audio.decode import read
from svcqa.core.errors import SvcqaError
from svcqa.core.files import json_hash
from svcqa.core.settings import SLICER_PRESET_FIELDS, PrepareSettings, Settings, SlicerSettings
from svcqa.dataset.flags import CATALOGUE
from svcqa.prepare import report as prepare_report
from svcqa.prepare.plan import safe_speaker_name
from svcqa.prepare.slicer import (
    PRESETS,
    SHORT_PIECE_POLICIES,
    SLICE_LIMIT,
    SlicePlan,
    matching_preset,
    plan_slices,
)
from svcqa.ui import charts, state

CUSTOM = "custom"
"""Preset shown when the slicer parameters match no preset."""
_KEPT_PREVIEWS = 4


def init_state(settings: Settings) -> None:
    """Give each option widget its saved value, unless this session already has one."""
    for name, key in state.SLICER_KEYS.items():
        st.session_state.setdefault(key, getattr(settings.slicer, name))
    st.session_state.setdefault(state.PREP_PRESET, matching_preset(settings.slicer) or CUSTOM)
    prep = settings.prepare
    excluded = [code for code in prep.exclude_flags if code in CATALOGUE]
    st.session_state.setdefault(state.PREP_EXCLUDE, bool(excluded))
    st.session_state.setdefault(state.PREP_EXCLUDE_FLAGS, excluded or list(PrepareSettings().exclude_flags))
    st.session_state.setdefault(state.PREP_SLICE_LONG, prep.slice_long)
    st.session_state.setdefault(state.PREP_MONO, prep.to_mono)
    st.session_state.setdefault(state.PREP_RESAMPLE, prep.resample)
    st.session_state.setdefault(state.PREP_NORMALISE, prep.normalise)
    st.session_state.setdefault(state.PREP_TARGET_LUFS, float(prep.target_lufs))
    st.session_state.setdefault(state.PREP_PEAK_CEILING, float(prep.peak_ceiling_dbfs))
    st.session_state.setdefault(state.PREP_RENAME, prep.rename_safe)


def on_source_change() -> None:
    """Suggest the new source's name as the speaker and forget choices made for the old source."""
    st.session_state[state.PREP_SPEAKER] = safe_speaker_name(st.session_state[state.PREP_SOURCE])
    for key in (
        state.PREP_PREVIEW_FILE,
        state.PREP_CHOICES,
        state.PREP_CHOICE_PATHS,
        state.PREP_OVERRIDES,
        state.PREP_CHOICES_SHOW,
        state.PREP_RESULT,
    ):
        st.session_state.pop(key, None)


def _apply_preset() -> None:
    """Copy the chosen preset's values into the slicer parameter widgets."""
    chosen = PRESETS.get(st.session_state[state.PREP_PRESET])
    if chosen is None:
        return
    for name in SLICER_PRESET_FIELDS:
        st.session_state[state.SLICER_KEYS[name]] = getattr(chosen, name)


def _sync_preset() -> None:
    """Show the preset the edited parameters match, or ``custom``."""
    values = {name: st.session_state[key] for name, key in state.SLICER_KEYS.items()}
    st.session_state[state.PREP_PRESET] = matching_preset(SlicerSettings(**values)) or CUSTOM


def slicer_inputs(base: SlicerSettings) -> SlicerSettings:
    """Draw the preset and the slicer parameters; return ``base`` with the values entered."""
    keys = state.SLICER_KEYS
    st.selectbox(
        "Preset",
        [*PRESETS, CUSTOM],
        key=state.PREP_PRESET,
        on_change=_apply_preset,
        help="default: openvpi Audio Slicer's values; tutorial: the so-vits-svc tutorial's (minimum length 8000 ms).",
    )
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.number_input(
        "Threshold (dB)",
        min_value=-90.0,
        max_value=0.0,
        step=1.0,
        key=keys["threshold_db"],
        on_change=_sync_preset,
        help="Frames whose RMS is below this level count as silence.",
    )
    c2.number_input(
        "Min length (ms)",
        min_value=100,
        max_value=120_000,
        step=500,
        key=keys["min_length_ms"],
        on_change=_sync_preset,
        help="A clip is not cut before it is this long.",
    )
    c3.number_input(
        "Min interval (ms)",
        min_value=10,
        max_value=10_000,
        step=50,
        key=keys["min_interval_ms"],
        on_change=_sync_preset,
        help="A silence must last this long to become a cut.",
    )
    c4.number_input(
        "Hop size (ms)",
        min_value=1,
        max_value=100,
        step=1,
        key=keys["hop_size_ms"],
        on_change=_sync_preset,
        help="Frame step of the RMS measurement.",
    )
    c5.number_input(
        "Max silence kept (ms)",
        min_value=1,
        max_value=10_000,
        step=50,
        key=keys["max_sil_kept_ms"],
        on_change=_sync_preset,
        help="At most this much silence stays on each side of a cut.",
    )
    d1, d2, d3 = st.columns(3)
    d1.number_input(
        "Shortest piece (s)",
        min_value=0.0,
        max_value=60.0,
        step=0.5,
        key=keys["min_piece_s"],
        help="Shorter pieces are merged into a neighbour or dropped.",
    )
    d2.number_input(
        "Longest piece (s)",
        min_value=1.0,
        max_value=600.0,
        step=1.0,
        key=keys["max_piece_s"],
        help="Longer stretches are split at their quietest point.",
    )
    d3.radio(
        "Short pieces",
        SHORT_PIECE_POLICIES,
        horizontal=True,
        key=keys["short_piece_policy"],
        help="merge: join a short piece to a neighbour; drop: leave it out.",
    )
    return dataclasses.replace(base, **{name: st.session_state[key] for name, key in keys.items()})


def cleanup_inputs(base: PrepareSettings, max_piece_s: float) -> PrepareSettings:
    """Draw the clean-up options; return ``base`` with the choices made."""
    left, right = st.columns(2)
    exclude = left.checkbox(
        "Exclude flagged clips",
        key=state.PREP_EXCLUDE,
        help="Clips with these flags are left out unless you tick them in the table below.",
    )
    flags = left.multiselect(
        "Flags that exclude a clip", list(CATALOGUE), key=state.PREP_EXCLUDE_FLAGS, disabled=not exclude
    )
    slice_long = left.checkbox(f"Slice clips over {max_piece_s:g} s into pieces", key=state.PREP_SLICE_LONG)
    rename = left.checkbox(
        "Rename to safe ASCII names",
        key=state.PREP_RENAME,
        help="Transliterates non-ASCII names and replaces spaces; a mapping file keeps old -> new.",
    )
    mono = right.checkbox("Mix down to mono", key=state.PREP_MONO)
    resample = right.checkbox(
        f"Resample to {base.target_sample_rate_hz / 1000:g} kHz", key=state.PREP_RESAMPLE
    )
    normalise = right.checkbox("Normalise loudness", key=state.PREP_NORMALISE)
    target = right.number_input(
        "Target loudness (LUFS)",
        min_value=-60.0,
        max_value=-5.0,
        step=0.5,
        key=state.PREP_TARGET_LUFS,
        disabled=not normalise,
    )
    ceiling = right.number_input(
        "Peak ceiling (dBFS)",
        min_value=-20.0,
        max_value=0.0,
        step=0.5,
        key=state.PREP_PEAK_CEILING,
        help="No prepared sample goes above this level; it wins over the loudness target.",
    )
    return dataclasses.replace(
        base,
        exclude_flags=tuple(flags) if exclude else (),
        slice_long=slice_long,
        rename_safe=rename,
        to_mono=mono,
        resample=resample,
        normalise=normalise,
        target_lufs=float(target),
        peak_ceiling_dbfs=float(ceiling),
    )


@st.fragment
def slicer_preview(
    source_dir: Path, rows: list[dict[str, Any]], slicer: SlicerSettings, max_input_s: float
) -> None:
    """Draw where the chosen file would be cut (the longest by default); picking another file
    redraws only this preview. A file longer than ``max_input_s`` (the slicing limit) is refused
    before it is decoded."""
    readable = {row["path"]: row["duration_s"] for row in rows if row["duration_s"]}
    if not readable:
        st.warning("No readable file to preview.")
        return
    paths = list(readable)
    preview_path = st.selectbox(
        "Preview file",
        paths,
        index=paths.index(max(paths, key=readable.__getitem__)),
        format_func=lambda p: f"{p} ({readable[p]:.1f} s)",
        key=state.PREP_PREVIEW_FILE,
    )
    path = source_dir / preview_path
    try:
        figure, pieces = _preview(
            str(path), path.stat().st_mtime_ns, json_hash(slicer.to_dict()), slicer, max_input_s
        )
    except (SvcqaError, OSError) as exc:
        st.error(str(exc))
        return
    st.plotly_chart(figure, width="stretch", key="prep_waveform")
    st.dataframe(
        prepare_report.pieces_frame(pieces),
        hide_index=True,
        width="stretch",
        key="prep_pieces",
        column_config={"duration_s": st.column_config.NumberColumn("length (s)", format="%.2f")},
    )
    st.caption(
        f"{len(pieces.pieces)} pieces, {len(pieces.dropped)} dropped as too short. "
        f"Only clips over {slicer.max_piece_s:g} s are sliced when the plan runs."
    )


@st.cache_resource(max_entries=_KEPT_PREVIEWS, show_spinner=False)
def _preview(
    path: str, mtime_ns: int, slicer_key: str, _slicer: SlicerSettings, max_input_s: float
) -> tuple[go.Figure, SlicePlan]:
    """Return the waveform with the cuts marked and the slice plan of one file (kept while unchanged)."""
    samples, rate_hz = read(Path(path), max_duration_s=max_input_s, work=SLICE_LIMIT)
    pieces = plan_slices(samples, rate_hz, _slicer)
    return charts.waveform(samples.mean(axis=1), rate_hz, marks_s=pieces.cut_points_s), pieces
