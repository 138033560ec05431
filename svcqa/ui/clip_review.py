"""The Dataset page's flag table and clip inspector, redrawn on their own (a fragment).

Filtering, searching, ticking a row, stepping to the next flagged clip and playing it rerun only
this part of the page, on the audit view built once (:mod:`svcqa.ui.audit_view`), so each
answers in well under a second at thousands of clips. One clip is "current" (the key
:data:`~svcqa.ui.state.CLIP_PICK`): the ticked row, the Next/Previous buttons and the clip box
all set it, and the table ticks its row, so the inspector and the table always agree.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from svcqa.audio import decode
from svcqa.core.errors import SvcqaError
from svcqa.core.files import text_sha256
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace
from svcqa.dataset.flags import flag_info
from svcqa.dataset.table import filter_clips
from svcqa.ui import charts, state
from svcqa.ui.audit_view import AuditView

_MESSAGE_KEYS = frozenset({"code", "message", "fix"})
_KEPT_WAVEFORMS = 32


def evidence_lines(clip: Mapping[str, Any]) -> list[str]:
    """Return one line per flag of ``clip`` that carries evidence: ``code: name value, ...``.

    Evidence is a message's ``evidence`` mapping (the figures behind the flag and the threshold
    they crossed), and any other key of the message beyond its code, message and fix.

    >>> evidence_lines({"messages": [{"code": "noisy", "message": "m", "fix": "f",
    ...                               "evidence": {"noise_floor_db": -21.04, "noisy_floor_db": -30}}]})
    ['noisy: noise_floor_db -21, noisy_floor_db -30']
    """
    lines = []
    for message in clip.get("messages") or []:
        extra = {k: v for k, v in message.items() if k not in _MESSAGE_KEYS}
        evidence = extra.pop("evidence", None)
        values = {**(evidence if isinstance(evidence, Mapping) else {}), **extra}
        if values:
            lines.append(f"{message['code']}: " + ", ".join(f"{k} {_plain(v)}" for k, v in values.items()))
    return lines


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _pick(path: str | None) -> None:
    """Make ``path`` the current clip, played at once; the table then ticks its row."""
    st.session_state[state.CLIP_PICK] = path
    st.session_state[state.CLIP_AUTOPLAY] = True
    st.session_state[state.CLIP_TABLE_VERSION] = st.session_state.get(state.CLIP_TABLE_VERSION, 0) + 1


def _on_tick(table_key: str, paths: list[str]) -> None:
    """Make the ticked row's clip the current one (the table keeps its tick)."""
    rows = st.session_state[table_key].selection.rows
    if rows and rows[0] < len(paths):
        st.session_state[state.CLIP_PICK] = paths[rows[0]]
        st.session_state[state.CLIP_AUTOPLAY] = True


def _on_box() -> None:
    st.session_state[state.CLIP_AUTOPLAY] = True
    st.session_state[state.CLIP_TABLE_VERSION] = st.session_state.get(state.CLIP_TABLE_VERSION, 0) + 1


def _step(flagged: list[str], direction: int) -> None:
    """Move the current clip to the next (``direction`` 1) or previous (-1) flagged clip, wrapping."""
    current = st.session_state.get(state.CLIP_PICK)
    index = flagged.index(current) if current in flagged else (-1 if direction > 0 else 0)
    _pick(flagged[(index + direction) % len(flagged)])


@st.fragment
def problems_panel(view: AuditView, ws: Workspace, folder: Path, settings: Settings) -> None:
    """Draw the flag filter, search, the clip table and the inspector of the current clip."""
    frame = view.frame
    counts = view.data["summary"]["flag_counts"]
    left, right = st.columns([2, 1])
    chosen = left.multiselect(
        "Show clips flagged",
        options=list(counts),
        format_func=lambda code: f"{code} ({counts[code]})",
        key=state.FLAG_FILTER,
        placeholder="all clips",
    )
    search = right.text_input("Search file names", key=state.CLIP_SEARCH)
    shown = filter_clips(frame, chosen, search).reset_index(drop=True)
    paths = shown["path"].tolist()
    flagged = shown.loc[shown["flags"] != "", "path"].tolist()
    if st.session_state.get(state.CLIP_PICK) not in view.clips:
        st.session_state.pop(state.CLIP_PICK, None)
    current = st.session_state.get(state.CLIP_PICK)

    b1, b2, b3 = st.columns([1, 1, 3], vertical_alignment="center")
    b1.button(
        "Next flagged clip",
        key=state.CLIP_NEXT,
        on_click=_step,
        args=(flagged, 1),
        disabled=not flagged,
        shortcut="N",
        icon=":material/skip_next:",
    )
    b2.button(
        "Previous",
        key=state.CLIP_PREV,
        on_click=_step,
        args=(flagged, -1),
        disabled=not flagged,
        shortcut="P",
    )
    b3.caption(
        f"{len(shown):,} of {len(frame):,} clips shown, {len(flagged):,} flagged. Tick a row to hear it."
    )

    version = st.session_state.get(state.CLIP_TABLE_VERSION, 0)
    table_key = f"{state.CLIP_TABLE}-{version}-{text_sha256(json.dumps([chosen, search]))[:8]}"
    ticked = {"selection": {"rows": [paths.index(current)]}} if current in paths else None
    st.dataframe(
        shown,
        key=table_key,
        on_select=functools.partial(_on_tick, table_key, paths),
        selection_mode="single-row",
        selection_default=ticked,
        hide_index=True,
        width="stretch",
        height=min(36 + 35 * len(shown), 420),
        placeholder="",
        column_order=["problem", *(c for c in shown.columns if c != "problem")],
        column_config={
            "problem": st.column_config.TextColumn("problem", width="large"),
            "duration_s": st.column_config.NumberColumn("length (s)", format="%.2f"),
            "lufs": st.column_config.NumberColumn("LUFS", format="%.1f"),
            "peak_dbfs": st.column_config.NumberColumn("peak dBFS", format="%.1f"),
        },
    )
    st.caption(
        "Each problem says what was measured: `noisy` the steady noise floor (hiss, mains hum) in dB "
        "relative to the voice; `other_voice` the similarity to the dataset's voice, the robust "
        "centroid of its clean clips (a noisy, short or mostly silent clip is compared, not judged)."
    )
    st.selectbox(
        "Inspect clip",
        list(view.clips),
        index=None,
        key=state.CLIP_PICK,
        on_change=_on_box,
        placeholder="tick a row above, press N for the next flagged clip, or pick a clip here",
    )
    if current:
        position = (
            f" (flagged clip {flagged.index(current) + 1} of {len(flagged)})" if current in flagged else ""
        )
        _inspector(view.clips[current], position, ws, folder, settings)


def _inspector(clip: dict[str, Any], position: str, ws: Workspace, folder: Path, settings: Settings) -> None:
    """Draw one clip: its problems with their evidence and fixes, a player and its waveform."""
    st.markdown(f"**`{clip['path']}`**{position}")
    try:
        clip_path: Path | None = ws.resolve(Path(ws.relative(folder)) / clip["path"])
    except SvcqaError as exc:  # a symlink leading out of the workspace is not played
        clip_path = None
        st.error(str(exc))
    for message in clip["messages"]:
        info = flag_info(message["code"])
        show = st.error if info.severity == "error" else st.warning if info.severity == "warning" else st.info
        show(f"**{message['code']}**: {message['message']} {info.title} Fix: {message['fix']}")
    for line in evidence_lines(clip):
        st.caption(f"Evidence, {line}")
    if not clip["messages"]:
        st.success("No problems found in this clip.")
    autoplay = bool(st.session_state.pop(state.CLIP_AUTOPLAY, False))
    if clip_path is None or not clip["readable"] or not clip["frames"]:
        return
    if clip["size_bytes"] <= settings.audit.max_play_bytes:
        st.audio(clip_path.read_bytes(), autoplay=autoplay)
    figure = _waveform(str(clip_path), clip["mtime_ns"], settings.audit.waveform_max_s)
    st.plotly_chart(figure, width="stretch", key="clip_waveform")


@st.cache_resource(max_entries=_KEPT_WAVEFORMS, show_spinner=False)
def _waveform(path: str, mtime_ns: int, max_s: float) -> go.Figure:
    """Return the waveform figure of the first ``max_s`` of ``path`` (kept while the file is unchanged)."""
    samples, rate = decode.read(Path(path), mono=True, duration_s=max_s)
    return charts.waveform(samples, rate)
