"""Dataset page panels for pitch coverage and speech-vs-singing."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from svcqa.core.errors import SvcqaError
from svcqa.core.settings import Settings
from svcqa.core.uploads import save_upload
from svcqa.core.workspace import AUDIO_EXTENSIONS, Workspace
from svcqa.dataset.dataset_voice import check_song, singing_coverage
from svcqa.dataset.run import AuditReport
from svcqa.ui import state
from svcqa.ui.pitch_charts import coverage_chart, song_overlay_chart, voice_map_chart

MAX_LISTED_CLIPS = 12


def verdict_banner(summary: dict) -> None:
    """Show the dataset's speech/singing verdict as one coloured line."""
    verdict = summary.get("verdict")
    counts = summary.get("kind_counts", {})
    detail = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    if verdict == "mixed":
        st.error(
            f"**Mixed dataset**: speech and singing are both present ({detail}). Training on both gives a "
            "very poor singing model: remove the clips listed under *Speech vs singing*."
        )
    elif verdict and verdict != summary.get("declared_kind") and verdict != "unknown":
        st.warning(f"This dataset sounds like **{verdict}** ({detail}), not {summary.get('declared_kind')}.")
    elif verdict == summary.get("declared_kind"):
        st.success(f"Voice check: **{verdict}** ({detail}).")


def pitch_panel(ws: Workspace, report: AuditReport, settings: Settings) -> None:
    """Draw the dataset's pitch coverage and the test-song check."""
    rows = [(c.measurement, c.codes) for c in report.clips]
    coverage = singing_coverage(rows, settings.pitch)
    if coverage.range_low_midi is None:
        st.info("No singing was found to measure a pitch range.")
        return
    data = coverage.to_dict()
    st.markdown(
        f"Usable range **{data['range_low_note']} - {data['range_high_note']}** "
        f"(p{settings.pitch.range_low_percentile:g}-p{settings.pitch.range_high_percentile:g} of "
        f"{data['voiced_s'] / 60:.1f} min of voiced singing)."
    )
    st.plotly_chart(coverage_chart(coverage), width="stretch", key="coverage_chart")
    cols = st.columns(len(data["thirds"]) or 1)
    for col, third in zip(cols, data["thirds"], strict=False):
        col.metric(
            f"{third['name']} ({third['low_note']}-{third['high_note']})",
            f"{third['share'] * 100:.0f}%",
            help=f"{third['seconds']:.0f} s",
        )
    if data["thin_notes"]:
        st.warning(
            f"Notes with under {settings.pitch.thin_note_s:g} s of material inside your range: "
            f"{', '.join(data['thin_notes'])}. Record more phrases on them, or the model will sound "
            "hoarse or broken there."
        )
    st.subheader("Test song check")
    st.caption("Does the dataset cover the notes a song needs? Use the song's dry vocals.")
    songs = sorted(p.name for p in ws.songs.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    upload = st.file_uploader(
        "Upload vocals to songs/", type=[e.lstrip(".") for e in AUDIO_EXTENSIONS], key=state.SONG_UPLOAD
    )
    if upload is not None and st.button("Save to songs/", key=state.SONG_UPLOAD_SAVE):
        try:
            saved = save_upload(ws, "songs", upload.name, upload.getvalue())
        except SvcqaError as exc:
            st.error(str(exc))
        else:
            st.success(f"Saved as songs/{saved.name}")
            st.rerun()
    choice = st.selectbox(
        "Song", songs, index=None, key=state.SONG_PICK, placeholder="choose a song in songs/"
    )
    if not choice:
        return
    try:
        check = check_song(
            ws.resolve(Path("songs") / choice), rows, settings.pitch, settings.limits.pitch_max_s
        )
    except SvcqaError as exc:
        st.error(f"{choice}: {exc}")
        return
    result = check.to_dict()
    st.plotly_chart(song_overlay_chart(check, coverage), width="stretch", key="song_overlay")
    if not result["uncovered_midi"]:
        st.success("Every note the song holds is covered by the dataset.")
        return
    shift = result["suggested_transpose"]
    advice = (
        f"transpose **{shift:+d}** semitones ({result['transposed_uncovered_s']} s stay uncovered)"
        if shift
        else "no transpose helps"
    )
    st.warning(
        f"The song holds {result['uncovered_s']} s on notes the dataset covers thinly: "
        f"{', '.join(result['uncovered_notes'])}. Record more of these notes, or {advice}."
    )


def play_clip(ws: Workspace, folder: Path, relative: str) -> None:
    """Play the clip ``relative`` of ``folder``; one that leads outside the workspace shows why not."""
    try:
        path = ws.resolve(Path(ws.relative(folder)) / relative)
    except SvcqaError as exc:
        st.error(str(exc))
        return
    st.audio(path.read_bytes())


def speech_panel(ws: Workspace, folder: Path, summary: dict) -> None:
    """List the clips whose kind contradicts the dataset's, most confident first, playable."""
    to_remove = summary.get("clips_to_remove") or []
    counts = summary.get("kind_counts", {})
    st.caption(
        "Each clip is judged from its pitch contour (held notes, vibrato, voiced share, syllable rhythm). "
        "Clips too short or too unvoiced to judge are 'unknown'."
    )
    st.write(", ".join(f"**{n}** {kind}" for kind, n in counts.items()))
    if not to_remove:
        st.success(
            f"No {('speech' if summary.get('declared_kind') == 'singing' else 'singing')} clips found."
        )
        return
    st.markdown(f"**Remove these {len(to_remove)} clips** (most confident first):")
    for row in to_remove[:MAX_LISTED_CLIPS]:
        st.markdown(f"`{row['path']}` - {row['kind']}, confidence {row['confidence'] * 100:.0f}%")
        play_clip(ws, folder, row["path"])
    if len(to_remove) > MAX_LISTED_CLIPS:
        st.caption(
            f"... and {len(to_remove) - MAX_LISTED_CLIPS} more (filter the table by the `speech` flag)."
        )


@st.fragment
def voice_map_panel(ws: Workspace, folder: Path, report: dict) -> None:
    """Draw the 2-D map of clip voices (PCA of embeddings); clicking a point plays that clip
    (only this panel is redrawn)."""
    consistency = report["summary"].get("voice_consistency")
    if not consistency or not consistency.get("map_xy"):
        st.info(
            "No voice embeddings yet (turn on 'embed voices' in the thresholds, or add clips of 3 s or more)."
        )
        return
    st.caption(
        "Each point is a clip, placed by its voice embedding (GE2E speaker encoder, resemblyzer). "
        "Clips of one singer cluster; a clip far from the cluster may be someone else, a very different "
        "register, or heavy noise. A screen, not a verdict: listen before you remove anything."
    )
    figure, paths = voice_map_chart(report)
    event = st.plotly_chart(
        figure, width="stretch", key=state.VOICE_MAP, on_select="rerun", selection_mode="points"
    )
    points = event.selection.points if event else []
    if points:
        path = paths[points[0]["curve_number"]][points[0]["point_index"]]
        clip = next(c for c in report["clips"] if c["path"] == path)
        st.markdown(
            f"`{path}`: similarity {clip.get('voice_similarity')}, flags {', '.join(clip['flags']) or 'none'}"
        )
        play_clip(ws, folder, path)
    else:
        st.caption("Click a point to hear the clip.")
