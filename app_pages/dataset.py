"""Dataset page: what is wrong with the recordings, file by file, and how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from svcqa.audio import decode
from svcqa.core.errors import SvcqaError
from svcqa.dataset.flags import CATALOGUE, flag_info
from svcqa.dataset.run import audit_dataset
from svcqa.dataset.table import clips_frame, filter_clips, to_csv
from svcqa.demo.singer import create_demo, is_demo
from svcqa.ui import charts, state
from svcqa.ui.settings_form import audit_settings_form
from svcqa.ui.voice_panels import pitch_panel, speech_panel, verdict_banner, voice_map_panel

ws = state.current_workspace()
settings = ws.load_settings()
st.title("Dataset")

folders = {name: path for name, path in (("recordings", ws.recordings), ("dataset_raw", ws.dataset_raw)) if ws.has_audio(path)}
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

bar = st.progress(0.0, text="Auditing...")
try:
    report_obj = audit_dataset(
        folder, settings, with_voice=True, progress=lambda f, m: bar.progress(min(f, 1.0), text=m)
    )
except SvcqaError as exc:
    bar.empty()
    st.error(str(exc))
    st.stop()
bar.empty()
report = report_obj.to_dict()
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
c5.metric("Loudness spread", "-" if spread is None else f"{spread:.1f} LU", help="p90 - p10 of integrated loudness")

tab_problems, tab_voice, tab_pitch, tab_map, tab_lengths, tab_loudness = st.tabs(
    ["Problems", "Speech vs singing", "Pitch range", "Voice map", "Lengths", "Loudness"]
)

with tab_problems:
    frame = clips_frame(report)
    counts = summary["flag_counts"]
    left, right = st.columns([2, 1])
    chosen_flags = left.multiselect(
        "Show clips flagged",
        options=list(counts),
        format_func=lambda code: f"{code} ({counts[code]})",
        key=state.FLAG_FILTER,
        placeholder="all clips",
    )
    search = right.text_input("Search file names", key=state.CLIP_SEARCH)
    shown = filter_clips(frame, chosen_flags, search).reset_index(drop=True)
    event = st.dataframe(
        shown,
        key=state.CLIP_TABLE,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_config={
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
    rows = event.selection.rows if event and event.selection else []
    picked = shown.iloc[rows[0]]["path"] if rows and rows[0] < len(shown) else None
    paths = list(shown["path"])
    rel = st.selectbox(
        "Inspect clip",
        paths,
        index=paths.index(picked) if picked in paths else None,
        key=state.CLIP_PICK,
        placeholder="select a row above, or pick a clip here",
    )
    if rel:
        clip = next(c for c in report["clips"] if c["path"] == rel)
        try:
            clip_path = ws.resolve(Path(ws.relative(folder)) / rel)
        except SvcqaError as exc:  # a symlink leading out of the workspace is not played
            clip_path = None
            st.error(str(exc))
        for message in clip["messages"]:
            info = flag_info(message["code"])
            show = st.error if info.severity == "error" else st.warning if info.severity == "warning" else st.info
            show(f"**{message['code']}**: {message['message']} {info.title} Fix: {message['fix']}")
        if not clip["messages"]:
            st.success("No problems found in this clip.")
        if clip_path is not None and clip["readable"] and clip["frames"]:
            if clip["size_bytes"] <= settings.audit.max_play_bytes:
                st.audio(clip_path.read_bytes())
            samples, rate = decode.read(clip_path, mono=True, duration_s=settings.audit.waveform_max_s)
            st.plotly_chart(charts.waveform(samples, rate), width="stretch", key="clip_waveform")
    with st.expander("What the flags mean"):
        st.table([{"flag": f.code, "meaning": f.title, "fix": f.fix} for f in CATALOGUE.values()])
    d1, d2 = st.columns(2)
    d1.download_button("Download report (CSV)", to_csv(report), "audit.csv", "text/csv", key="dl_csv")
    d2.download_button(
        "Download report (JSON)",
        json.dumps(report, indent=2, ensure_ascii=False),
        "audit.json",
        "application/json",
        key="dl_json",
    )

with tab_voice:
    speech_panel(ws, folder, summary)

with tab_pitch:
    pitch_panel(ws, report_obj, settings)

with tab_map:
    voice_map_panel(ws, folder, report)

with tab_lengths:
    durations = [c["duration_s"] for c in report["clips"] if c["duration_s"]]
    st.plotly_chart(charts.length_histogram(durations, settings.audit), width="stretch", key="len_hist")
    d = summary["duration_s"]
    if d["median"] is not None:
        st.caption(f"Shortest {d['min']} s, median {d['median']} s, longest {d['max']} s.")

with tab_loudness:
    lufs = [c["lufs"] for c in report["clips"] if c["lufs"] is not None]
    st.plotly_chart(
        charts.loudness_histogram(lufs, settings.prepare.target_lufs), width="stretch", key="lufs_hist"
    )
    st.caption(
        "Uneven loudness is normal in raw takes; Prepare normalises every clip to the target. "
        "Clips far below the rest are often noisy or recorded too far from the microphone."
    )

with st.expander("Thresholds"):
    audit_settings_form(ws, settings)
