"""Prepare page: slice, clean and rename a speaker's recordings into ``dataset_raw/<speaker>/``."""

from __future__ import annotations

import dataclasses

import streamlit as st

from svcqa.audio.decode import read
from svcqa.core.errors import SvcqaError
from svcqa.dataset.run import audit_dataset
from svcqa.prepare import report as prepare_report
from svcqa.prepare.execute import execute_plan
from svcqa.prepare.plan import build_plan, check_speaker_name, safe_speaker_name, source_folders
from svcqa.prepare.slicer import check_settings, plan_slices
from svcqa.ui import charts, prepare_form, state
from svcqa.ui.preprocess_panel import preprocess_panel

ws = state.current_workspace()
base = ws.load_settings()
st.title("Prepare")
st.caption(
    "Slices long takes, leaves out flagged clips, mixes to mono, resamples, evens out loudness and "
    "renames to safe names. Your recordings are only read; the prepared copies go to "
    "`dataset_raw/<speaker>/`, the folder so-vits-svc-fork trains from."
)

sources = source_folders(ws)
if not sources:
    st.info(
        f"No recordings to prepare. Put each singer's clips in their own folder, `{ws.recordings}/<speaker>/` "
        "(WAV, FLAC, MP3, OGG or M4A), then come back. The Dataset page can create a demo singer."
    )
    if ws.has_audio(ws.dataset_raw):
        st.subheader("so-vits-svc preprocessing")
        preprocess_panel(ws)
    st.stop()

left, right = st.columns(2)
source = left.selectbox(
    "Recordings folder", sources, key=state.PREP_SOURCE, on_change=prepare_form.on_source_change
)
st.session_state.setdefault(state.PREP_SPEAKER, safe_speaker_name(source))
speaker = right.text_input(
    "Output speaker name",
    key=state.PREP_SPEAKER,
    help="The folder name under dataset_raw/; so-vits-svc-fork uses it as the speaker's name.",
)
try:
    check_speaker_name(speaker)
except SvcqaError as exc:
    st.error(f"{exc} Suggestion: `{safe_speaker_name(speaker)}`.")
    st.stop()
source_dir = ws.recordings / source
out_dir = ws.dataset_raw / speaker
try:
    source_rel, out_rel = ws.relative(source_dir), ws.relative(out_dir)
except SvcqaError as exc:  # a speaker folder that is a symlink leading out of the workspace
    st.error(str(exc))
    st.stop()
st.caption(f"From `{source_rel}/` to `{out_rel}/`.")

bar = st.progress(0.0, text="Auditing the recordings...")
try:
    rows = audit_dataset(
        source_dir, base, with_voice=True, progress=lambda f, m: bar.progress(min(f, 1.0), text=m)
    ).to_dict()["clips"]
except SvcqaError as exc:
    bar.empty()
    st.error(str(exc))
    st.stop()
bar.empty()

prepare_form.init_state(base)

st.subheader("1. Slicer preview")
st.caption("Where one file would be cut, before anything is written.")
readable = {row["path"]: row["duration_s"] for row in rows if row["duration_s"]}
slicer = prepare_form.slicer_inputs(base.slicer)
try:
    check_settings(slicer)
except SvcqaError as exc:
    st.error(str(exc))
    st.stop()
if readable:
    paths = list(readable)
    preview_path = st.selectbox(
        "Preview file",
        paths,
        index=paths.index(max(paths, key=readable.__getitem__)),
        format_func=lambda p: f"{p} ({readable[p]:.1f} s)",
        key=state.PREP_PREVIEW_FILE,
    )
    try:
        samples, rate_hz = read(source_dir / preview_path)
    except SvcqaError as exc:
        st.error(str(exc))
    else:
        pieces = plan_slices(samples, rate_hz, slicer)
        st.plotly_chart(
            charts.waveform(samples.mean(axis=1), rate_hz, marks_s=pieces.cut_points_s),
            width="stretch",
            key="prep_waveform",
        )
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
else:
    st.warning("No readable file to preview.")

st.subheader("2. Clean-up")
cleanup = prepare_form.cleanup_inputs(base.prepare, slicer.max_piece_s)
settings = dataclasses.replace(base, slicer=slicer, prepare=cleanup)
choices = st.data_editor(
    prepare_report.choices_frame(rows, settings),
    key=state.PREP_CHOICES,
    hide_index=True,
    width="stretch",
    num_rows="fixed",
    disabled=[c for c in prepare_report.CHOICE_COLUMNS if c != "include"],
    column_config={
        "include": st.column_config.CheckboxColumn(
            "use", help="Tick to use a flagged clip, untick to leave one out."
        ),
        "excluded_by": st.column_config.TextColumn("excluded by"),
        "duration_s": st.column_config.NumberColumn("length (s)", format="%.2f"),
    },
)

st.subheader("3. Plan")
plan_bar = st.progress(0.0, text="Planning...")
try:
    plan = build_plan(
        source_dir,
        rows,
        speaker,
        settings,
        overrides=prepare_report.overrides_from(choices),
        progress=lambda f, m: plan_bar.progress(min(f, 1.0), text=m),
    )
except SvcqaError as exc:
    plan_bar.empty()
    st.error(str(exc))
    st.stop()
plan_bar.empty()
outputs = sum(len(e.outputs) for e in plan.included)
m1, m2, m3 = st.columns(3)
m1.metric("Source files used", len(plan.included), help=f"of {len(plan.entries)}")
m2.metric("Clips to write", outputs)
m3.metric("Excluded", len(plan.entries) - len(plan.included))
st.dataframe(prepare_report.plan_frame(plan), hide_index=True, width="stretch", key="prep_plan")
unsafe = prepare_report.unsafe_output_names(plan)
if unsafe:
    st.warning(
        f"{len(unsafe)} output names have spaces or non-ASCII characters (for example `{unsafe[0]}`); "
        "so-vits-svc-fork may fail on them. Turn on renaming to safe ASCII names."
    )
if out_dir.is_dir() and any(out_dir.iterdir()):
    st.caption(
        f"`{ws.relative(out_dir)}/` already has files: clips that are up to date stay untouched, "
        "and files svcqa did not write are never overwritten."
    )

if st.button(f"Prepare {outputs} clips", key=state.PREP_RUN, type="primary", disabled=not outputs):
    ws.save_settings(settings)
    run_bar = st.progress(0.0, text="Preparing...")
    try:
        st.session_state[state.PREP_RESULT] = execute_plan(
            plan, ws, progress=lambda f, m: run_bar.progress(min(f, 1.0), text=m)
        )
    except SvcqaError as exc:
        st.error(str(exc))
    run_bar.empty()

result = st.session_state.get(state.PREP_RESULT)
if result is not None and result.out_dir == out_dir:
    st.subheader("Last run")
    r1, r2, r3, r4, r5 = st.columns(5)
    r1.metric("Written", len(result.written))
    r2.metric("Unchanged", len(result.unchanged), help="Already up to date from an earlier run.")
    r3.metric("Removed", len(result.removed), help="Earlier outputs the plan no longer makes.")
    r4.metric("Skipped", len(result.skipped))
    r5.metric("Conflicts", len(result.conflicts), help="Files svcqa did not write, left alone.")
    if result.written:
        st.dataframe(
            prepare_report.written_frame(result), hide_index=True, width="stretch", key="prep_written"
        )
    for title, problems, key in (
        ("Skipped", result.skipped, "prep_skipped"),
        ("Conflicts", result.conflicts, "prep_conflicts"),
    ):
        if problems:
            st.warning(f"{title}: {len(problems)} file(s).")
            st.dataframe(prepare_report.problems_frame(problems), hide_index=True, width="stretch", key=key)
    st.caption(f"Manifest: `{result.manifest_path}` · Renames: `{result.renames_path}`")
    d1, d2 = st.columns(2)
    for column, path, mime, key in (
        (d1, result.manifest_path, "application/jsonl", state.PREP_DL_MANIFEST),
        (d2, result.renames_path, "text/csv", state.PREP_DL_RENAMES),
    ):
        if path.is_file():
            column.download_button(f"Download {path.name}", path.read_bytes(), path.name, mime, key=key)

st.subheader("4. so-vits-svc preprocessing")
preprocess_panel(ws)
