"""The Cover page's widgets: stage options, the stage-by-stage results, the live job panel.

Option widgets start from the workspace settings and return settings objects; the page saves
them to the workspace when a run starts, so the ``cover`` command uses the same choices.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import streamlit as st

from svcqa.core import jobs
from svcqa.core.errors import SvcqaError
from svcqa.core.settings import ConversionSettings, CoverSettings, MixSettings, SeparationSettings
from svcqa.core.workspace import Workspace
from svcqa.cover import jobs as cover_jobs
from svcqa.cover import records as cover
from svcqa.engines import separation_models, svc
from svcqa.train.checkpoints import Checkpoint
from svcqa.ui import state

MIME_TYPES: dict[str, str] = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}
STATUS_TEXT: dict[str, str] = {
    "cached": ":green[done]",
    "ran": ":green[done]",
    "failed": ":red[failed]",
    "pending": ":gray[not made for these settings yet]",
    "running": ":blue[running]",
}
_LOG_LINES = 40


# -- options --------------------------------------------------------------------------------
@st.cache_data(show_spinner="Reading audio-separator's model list...")
def _catalogue(
    folder: str, allow_download: bool, _signature: tuple[tuple[str, int, int], ...]
) -> tuple[tuple[separation_models.ModelInfo, ...], str | None]:
    """Return the supported models (or none, and why); ``_signature`` renews it when files change."""
    try:
        return separation_models.supported_models(Path(folder), allow_download), None
    except SvcqaError as exc:
        return (), str(exc)


def _folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    if not folder.is_dir():
        return ()
    return tuple(
        sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    )


def _model_label(info: separation_models.ModelInfo | None, filename: str) -> str:
    if info is None:
        return f"{filename} (not in audio-separator's list)"
    scores = ", ".join(
        f"{stem} SDR {metrics['SDR']:.1f} dB" for stem, metrics in info.scores_db.items() if "SDR" in metrics
    )
    return " · ".join(part for part in (info.name, scores, "installed" if info.installed else "") if part)


def separation_inputs(ws: Workspace, base: SeparationSettings) -> tuple[SeparationSettings, str | None]:
    """Draw stages, model pickers with their scores, and downloads; return the settings and,
    when a chosen model's files are missing and downloads are off, the message saying which."""
    folder = separation_models.model_folder(ws.separation_models)
    st.caption(
        f"Model folder: `{folder}` (set `{separation_models.MODEL_ENV_VAR}` to use another). Scores are "
        "audio-separator's published medians on MUSDB18-HQ; higher SDR is cleaner."
    )
    allow_download = st.toggle(
        "Download missing models (needs network)",
        value=base.allow_download,
        key=state.COVER_ALLOW_DOWNLOAD,
    )
    chosen = st.multiselect(
        "Stages",
        list(cover.SEPARATION_STAGES),
        default=[s for s in cover.SEPARATION_STAGES if s in base.stages],
        format_func=cover.STAGE_LABELS.__getitem__,
        key=state.COVER_STAGES,
        help="Without the vocals stage the song is taken as dry vocals and mixed alone.",
    )
    stages = tuple(s for s in cover.SEPARATION_STAGES if s in chosen)
    catalogue, problem = _catalogue(str(folder), allow_download, _folder_signature(folder))
    if problem and allow_download:
        st.warning(problem)
    by_file = {info.filename: info for info in catalogue}
    models: dict[str, str] = {}
    for stage in stages:
        current = getattr(base, f"{stage}_model")
        options = separation_models.models_for_stage(catalogue, stage, current=current)
        models[stage] = st.selectbox(
            f"{cover.STAGE_LABELS[stage]} model",
            options,
            format_func=lambda name: _model_label(by_file.get(name), name),
            key=state.COVER_MODEL_KEYS[stage],
        )
    settings = dataclasses.replace(
        base,
        stages=stages,
        allow_download=allow_download,
        **{f"{stage}_model": name for stage, name in models.items()},
    )
    if catalogue:
        missing = {
            stage: separation_models.missing_files(by_file[name], folder)
            for stage, name in models.items()
            if name in by_file
        }
    else:  # no model list yet: every file each stage needs, from the lists bundled with audio-separator
        missing = separation_models.missing_model_files(folder, settings, stages)
    blocker = None
    if any(missing.values()):
        message = separation_models.missing_models_message(missing, folder)
        if allow_download:
            st.info(f"{message} They will be downloaded when the stage first runs.")
        else:
            st.error(message)
            blocker = message
    return settings, blocker


def conversion_inputs(
    base: CoverSettings, conversion: ConversionSettings, registered: list[Checkpoint]
) -> tuple[str, CoverSettings]:
    """Draw checkpoint, transpose and pitch tracker, and say how the conversion slices and decodes
    (as renders do); return the checkpoint's sha256 and the settings."""
    by_sha = {c.sha256: c for c in registered}
    left, middle, right = st.columns([2, 1, 1])
    sha = left.selectbox(
        "Checkpoint",
        list(by_sha),
        index=len(by_sha) - 1,
        format_func=lambda s: (
            f"step {by_sha[s].step:,} · {by_sha[s].path.name}"
            + ("" if by_sha[s].path.exists() else " (archived copy)")
        ),
        key=state.COVER_CHECKPOINT,
    )
    transpose = middle.number_input(
        "Transpose (semitones)",
        min_value=-24,
        max_value=24,
        value=int(base.transpose_semitones),
        step=1,
        key=state.COVER_TRANSPOSE,
        help="Shift the song's melody to the model's range, e.g. -12 for a female song sung by a male voice.",
    )
    methods = ["auto", *svc.available_f0_methods()]
    f0_method = right.selectbox(
        "Pitch tracker",
        methods,
        index=methods.index(base.f0_method) if base.f0_method in methods else 0,
        format_func=lambda m: f"auto ({methods[1]})" if m == "auto" and len(methods) > 1 else m,
        key=state.COVER_F0,
        help="so-vits-svc-fork 4.2.30 has no rmvpe; crepe is the most accurate it offers (slow without a GPU).",
    )
    st.caption(svc.describe_conversion(conversion))
    return sha, dataclasses.replace(base, transpose_semitones=int(transpose), f0_method=f0_method)


def mix_inputs(base: MixSettings, cover_base: CoverSettings) -> tuple[MixSettings, str]:
    """Draw balance, loudness, ceiling, offset, vocal chain and format; return settings and format."""
    keys = state.COVER_MIX_KEYS
    c1, c2, c3, c4 = st.columns(4)
    balance = c1.number_input(
        "Vocal balance (LU)", -20.0, 20.0, float(base.balance_db), 0.5, key=keys["balance_db"],
        help="Vocals' loudness minus the accompaniment's; 0 is equally loud, +2 puts the voice in front.",
    )  # fmt: skip
    lufs = c2.number_input(
        "Loudness (LUFS)", -30.0, -6.0, float(base.target_lufs), 0.5, key=keys["target_lufs"],
        help="-14 LUFS is what streaming platforms play at.",
    )  # fmt: skip
    ceiling = c3.number_input(
        "True-peak ceiling (dBTP)", -6.0, 0.0, float(base.true_peak_ceiling_dbtp), 0.1,
        key=keys["true_peak_ceiling_dbtp"],
    )  # fmt: skip
    offset = c4.number_input(
        "Vocal offset (ms)", -2000.0, 2000.0, float(base.offset_ms), 5.0, key=keys["offset_ms"],
        help="Delay of the vocals; negative moves them earlier.",
    )  # fmt: skip
    chain = st.toggle(
        "Vocal chain: high-pass, compressor, de-esser-like EQ, reverb",
        value=base.vocal_chain,
        key=keys["vocal_chain"],
    )
    room, wet = base.reverb_room_size, base.reverb_wet
    if chain:
        r1, r2 = st.columns(2)
        room = r1.slider(
            "Reverb size", 0.0, 1.0, float(base.reverb_room_size), 0.05, key=keys["reverb_room_size"]
        )
        wet = r2.slider("Reverb wet", 0.0, 1.0, float(base.reverb_wet), 0.01, key=keys["reverb_wet"])
    export_format = st.radio(
        "Export format",
        list(cover.EXPORT_FORMATS),
        index=list(cover.EXPORT_FORMATS).index(cover_base.export_format),
        horizontal=True,
        key=state.COVER_FORMAT,
    )
    mix = dataclasses.replace(
        base,
        balance_db=float(balance),
        target_lufs=float(lufs),
        true_peak_ceiling_dbtp=float(ceiling),
        offset_ms=float(offset),
        vocal_chain=bool(chain),
        reverb_room_size=float(room),
        reverb_wet=float(wet),
    )
    return mix, export_format


# -- results --------------------------------------------------------------------------------
def stage_panels(result: cover.CoverResult, busy: bool) -> str | None:
    """Draw each stage with its status, audio and a run button; return the stage to run again."""
    clicked = None
    for outcome in result.outcomes:
        with st.container(border=True):
            head, button = st.columns([5, 1])
            head.markdown(f"**{cover.STAGE_LABELS[outcome.stage]}** · {STATUS_TEXT[outcome.status]}")
            label = "Run again" if outcome.status == "cached" else "Run up to here"
            if button.button(label, key=state.COVER_RERUN_KEYS[outcome.stage], disabled=busy):
                clicked = outcome.stage
            record = outcome.record
            if outcome.status == "failed" and record is not None:
                st.error(record.error or "failed")
            elif outcome.status in ("cached", "ran") and record is not None:
                _stage_audio(result, outcome.stage, record)
    return clicked


def _stage_audio(result: cover.CoverResult, stage: str, record: cover.StageRecord) -> None:
    details = record.details
    if stage in cover.SEPARATION_STAGES:
        left, right = st.columns(2)
        left.caption(
            f"{details.get('kept_stem', 'kept')} ({details.get('model', '')}, {details.get('device', '')})"
        )
        left.audio(str(result.path(stage)))
        right.caption(f"taken out: {cover.REMOVED_LABELS[stage]}")
        right.audio(str(result.path(stage, "removed")))
    elif stage == "convert":
        st.caption(
            f"step {details.get('checkpoint_step')} · {details.get('f0_method')} · "
            f"transpose {details.get('transpose_semitones', 0):+d} · speaker {details.get('speaker')}"
        )
        st.audio(str(result.path(stage)))
    else:
        st.caption(
            f"{details.get('lufs', 0):.1f} LUFS · true peak {details.get('true_peak_dbtp', 0):.2f} dBTP · "
            f"limiter {details.get('limiter_reduction_db', 0):.1f} dB"
        )
        for note in details.get("notes", []):
            st.caption(note)
        cover_path = result.path(stage)
        assert cover_path is not None
        st.audio(str(cover_path), format=MIME_TYPES[cover_path.suffix.lstrip(".")])
    st.caption(f"{record.duration_s:.1f} s to make · key `{record.key}`")


def listen_and_download(result: cover.CoverResult, song: Path, step: int) -> None:
    """Draw the A/B switch (original song against the cover) and the download buttons."""
    cover_path = result.cover
    if cover_path is None:
        return
    choice = st.radio(
        "Listen", ["A: original song", "B: cover"], horizontal=True, key=state.COVER_AB,
        help="The cover is levelled to the loudness target; the original may be louder or quieter.",
    )  # fmt: skip
    if choice.startswith("A"):
        st.audio(str(song))
    else:
        st.audio(str(cover_path), format=MIME_TYPES[cover_path.suffix.lstrip(".")])
    files = {
        "cover": (cover_path, f"{song.stem}_cover_step{step}{cover_path.suffix}"),
        "converted": (result.path("convert"), f"{song.stem}_vocals_step{step}.wav"),
        "instrumental": (result.path("vocals", "removed"), f"{song.stem}_instrumental.wav"),
    }
    columns = st.columns(len(files))
    for column, (name, (path, file_name)) in zip(columns, files.items(), strict=True):
        if path is not None:
            column.download_button(
                f"Download {name}",
                data=path.read_bytes,
                file_name=file_name,
                mime=MIME_TYPES.get(path.suffix.lstrip("."), "application/octet-stream"),
                key=state.COVER_DOWNLOAD_KEYS[name],
            )


# -- background job -------------------------------------------------------------------------
def job_panel(ws: Workspace, job: jobs.Job, refresh_s: float) -> None:
    """Draw the newest cover job: live progress while it runs, else how it ended."""
    if job.running:
        st.fragment(_live_progress, run_every=refresh_s)(ws, job.id)
        return
    progress = cover_jobs.job_progress(job)
    if job.state == "succeeded":
        return
    failed = next((s for s in progress.stages if s.status == "failed"), None) if progress else None
    reason = (progress.error if progress else None) or (failed.message if failed else None)
    st.warning(f"The last cover run {job.state}" + (f": {reason}" if reason else "."))
    with st.expander("Log of the last run"):
        st.code(jobs.log_tail(ws, job.id, _LOG_LINES) or "(empty)")


def _live_progress(ws: Workspace, job_id: str) -> None:
    job = jobs.get(ws, job_id)
    if not job.running:
        st.rerun()
    progress = cover_jobs.job_progress(job)
    if progress is None:
        st.caption("Starting...")
        return
    st.progress(progress.fraction, text=f"Making the cover ({job.elapsed_s:.0f} s)")
    for line in progress.stages:
        text = STATUS_TEXT.get(line.status, line.status)
        st.caption(f"{cover.STAGE_LABELS[line.stage]} · {text} · {line.message}")
    if st.button("Stop", key=state.COVER_STOP):
        jobs.stop(ws, job.id, timeout_s=10)
        st.rerun()
