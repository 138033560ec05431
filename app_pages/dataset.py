"""Dataset page: what is wrong with the recordings, file by file, and how to fix it."""

from __future__ import annotations

import json

import streamlit as st

from svcqa.dataset.flags import CATALOGUE
from svcqa.dataset.table import to_csv
from svcqa.demo.singer import create_demo, is_demo
from svcqa.ui import charts, state
from svcqa.ui.audit_view import audited
from svcqa.ui.clip_review import problems_panel
from svcqa.ui.settings_form import audit_settings_form
from svcqa.ui.voice_panels import pitch_panel, speech_panel, verdict_banner, voice_map_panel

ws = state.current_workspace()
settings = ws.load_settings()
st.title("Dataset")

folders = {
    name: path
    for name, path in (("recordings", ws.recordings), ("dataset_raw", ws.dataset_raw))
    if ws.has_audio(path)
}
if not folders:
    st.info(
        f"No recordings yet. Put your clips in `{ws.recordings}/<speaker>/` "
        "(WAV, FLAC, MP3, OGG or M4A), or start with the demo singer to see what the audit finds."
    )
    if st.button("Create the demo speaker", key="create_demo", type="primary"):
        with st.spinner("Generating the demo recordings..."):
            create_demo(ws)
        st.rerun()
    st.stop()

if is_demo(ws):
    st.caption("Demo workspace: a generated singer with planted problems (a toy voice, not a real one).")
folder_name = st.radio("Folder", list(folders), horizontal=True, key=state.AUDIT_FOLDER)
folder = folders[folder_name]

view = audited(ws, folder, settings)
report = view.data
summary = report["summary"]
verdict_banner(summary)

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Clips", summary["clip_count"], help=f"{summary['readable_count']} readable")
c2.metric(
    "Total audio",
    f"{summary['total_duration_s'] / 60:.1f} min",
    help=f"About {settings.audit.recommended_total_s / 60:.0f} min of singing is recommended.",
)
c2.progress(min(summary["share_of_recommended"], 1.0))
c3.metric(
    "In 10-20 s sweet spot",
    f"{summary['sweet_spot_share'] * 100:.0f}%",
)
c4.metric("Clips with problems", summary["flagged_clip_count"])
spread = summary["lufs"]["spread"]
c5.metric(
    "Loudness spread", "-" if spread is None else f"{spread:.1f} LU", help="p90 - p10 of integrated loudness"
)

tab_problems, tab_voice, tab_pitch, tab_map, tab_lengths, tab_loudness = st.tabs(
    ["Problems", "Speech vs singing", "Pitch range", "Voice map", "Lengths", "Loudness"]
)

with tab_problems:
    problems_panel(view, ws, folder, settings)
    with st.expander("What the flags mean"):
        st.table([{"flag": f.code, "meaning": f.title, "fix": f.fix} for f in CATALOGUE.values()])
    d1, d2 = st.columns(2)
    d1.download_button(
        "Download report (CSV)",
        lambda: to_csv(report),
        "audit.csv",
        "text/csv",
        key="dl_csv",
        on_click="ignore",
    )
    d2.download_button(
        "Download report (JSON)",
        lambda: json.dumps(report, indent=2, ensure_ascii=False),
        "audit.json",
        "application/json",
        key="dl_json",
        on_click="ignore",
    )

with tab_voice:
    speech_panel(ws, folder, summary)

with tab_pitch:
    pitch_panel(ws, view.report, settings)

with tab_map:
    voice_map_panel(ws, folder, report)

with tab_lengths:
    st.plotly_chart(
        charts.length_histogram(
            [c["duration_s"] for c in report["clips"] if c["duration_s"]],
            settings.audit,
            charts.outliers(report["clips"], "duration_s"),
        ),
        width="stretch",
        key="len_hist",
    )
    d = summary["duration_s"]
    if d["median"] is not None:
        st.caption(
            f"Shortest {d['min']} s, median {d['median']} s, longest {d['max']} s. "
            "Each flagged clip is a red tick under the bars (hover for its name)."
        )

with tab_loudness:
    lufs = [c["lufs"] for c in report["clips"] if c["lufs"] is not None]
    st.plotly_chart(
        charts.loudness_histogram(
            lufs, settings.prepare.target_lufs, charts.outliers(report["clips"], "lufs")
        ),
        width="stretch",
        key="lufs_hist",
    )
    st.caption(
        "Uneven loudness is normal in raw takes; Prepare normalises every clip to the target. "
        "Clips far below the rest are often noisy or recorded too far from the microphone; "
        "each flagged clip is a red tick under the bars."
    )

with st.expander("Thresholds"):
    audit_settings_form(ws, settings)
