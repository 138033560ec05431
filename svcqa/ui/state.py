"""Session-state keys, declared once, and the current workspace of a browser session."""

from __future__ import annotations

import re
import string
from pathlib import Path

import streamlit as st

from svcqa.core.errors import WorkspaceError
from svcqa.core.workspace import Workspace, default_root

WORKSPACE_ROOT = "workspace_root"
WORKSPACE_CREATED = "workspace_created"
"""Set when the sidebar just created a workspace and switched to it (not a widget)."""
AUDIT_FOLDER = "audit_folder"
FLAG_FILTER = "flag_filter"
CLIP_SEARCH = "clip_search"
CLIP_TABLE = "clip_table"
CLIP_PICK = "clip_pick"
"""The clip in the inspector: set by the table's ticked row, the Next/Previous buttons or this box."""
CLIP_NEXT = "clip_next"
CLIP_PREV = "clip_prev"
CLIP_AUTOPLAY = "clip_autoplay"
"""Set when a clip was just picked, so its player starts by itself once (not a widget)."""
CLIP_TABLE_VERSION = "clip_table_version"
"""Bumped when the inspector's clip changes other than by ticking, so the table ticks that row
instead (not a widget)."""
AUDIT_STOP = "audit_stop"
AUDIT_RESUME = "audit_resume"
AUDIT_RETRY_FAILED = "audit_retry_failed"
ADMISSION = "admission"
"""The ticket of a session that entered the password (see :class:`svcqa.core.auth.AdmittedSessions`)."""
SONG_UPLOAD = "song_upload"
SONG_UPLOAD_SAVE = "song_upload_save"
SONG_PICK = "song_pick"
VOICE_MAP = "voice_map"
PREPROCESS_F0 = "preprocess_f0"
PREPROCESS_START = "preprocess_start"
PREPROCESS_STOP = "preprocess_stop"
TRAIN_MEASURE = "train_measure"

PREP_SOURCE = "prep_source"
PREP_SPEAKER = "prep_speaker"
PREP_PREVIEW_FILE = "prep_preview_file"
PREP_PRESET = "prep_preset"
SLICER_KEYS: dict[str, str] = {
    "threshold_db": "slicer_threshold_db",
    "min_length_ms": "slicer_min_length_ms",
    "min_interval_ms": "slicer_min_interval_ms",
    "hop_size_ms": "slicer_hop_size_ms",
    "max_sil_kept_ms": "slicer_max_sil_kept_ms",
    "min_piece_s": "slicer_min_piece_s",
    "max_piece_s": "slicer_max_piece_s",
    "short_piece_policy": "slicer_short_piece_policy",
}
"""Widget key of each editable :class:`~svcqa.core.settings.SlicerSettings` field."""
PREP_EXCLUDE = "prep_exclude"
PREP_EXCLUDE_FLAGS = "prep_exclude_flags"
PREP_SLICE_LONG = "prep_slice_long"
PREP_MONO = "prep_mono"
PREP_RESAMPLE = "prep_resample"
PREP_NORMALISE = "prep_normalise"
PREP_TARGET_LUFS = "prep_target_lufs"
PREP_PEAK_CEILING = "prep_peak_ceiling"
PREP_RENAME = "prep_rename"
PREP_CHOICES = "prep_choices"
PREP_CHOICES_SHOW = "prep_choices_show"
PREP_CHOICE_PATHS = "prep_choice_paths"
"""The paths of the rows the include table showed last, in order (not a widget)."""
PREP_OVERRIDES = "prep_overrides"
"""Path -> include of every clip whose use the user chose, by ticks or bulk actions (not a widget)."""
PREP_BULK_FLAG = "prep_bulk_flag"
PREP_BULK_FOLDER = "prep_bulk_folder"
PREP_BULK_KEYS: dict[str, str] = {
    f"{action}_{target}": f"prep_bulk_{action}_{target}"
    for action in ("exclude", "include")
    for target in ("flag", "folder")
}
"""Key of each bulk button: exclude or include every clip with the chosen flag, or in the chosen folder."""
PREP_PLAN_SHOW = "prep_plan_show"
PREP_RUN = "prep_run"
PREP_RESULT = "prep_result"
"""The last :class:`~svcqa.prepare.execute.PrepareResult` of this session (not a widget)."""
PREP_DL_MANIFEST = "prep_dl_manifest"
PREP_DL_RENAMES = "prep_dl_renames"

COVER_UPLOAD = "cover_upload"
COVER_UPLOAD_SAVE = "cover_upload_save"
COVER_SONG = "cover_song"
COVER_STAGES = "cover_stages"
COVER_ALLOW_DOWNLOAD = "cover_allow_download"
COVER_MODEL_KEYS: dict[str, str] = {
    stage: f"cover_model_{stage}" for stage in ("vocals", "dereverb", "karaoke")
}
"""Widget key of each separation stage's model picker."""
COVER_CHECKPOINT = "cover_checkpoint"
COVER_TRANSPOSE = "cover_transpose"
COVER_F0 = "cover_f0"
COVER_MIX_KEYS: dict[str, str] = {
    "balance_db": "cover_balance_db",
    "target_lufs": "cover_target_lufs",
    "true_peak_ceiling_dbtp": "cover_ceiling_dbtp",
    "offset_ms": "cover_offset_ms",
    "vocal_chain": "cover_vocal_chain",
    "reverb_room_size": "cover_reverb_room_size",
    "reverb_wet": "cover_reverb_wet",
}
"""Widget key of each editable :class:`~svcqa.core.settings.MixSettings` field."""
COVER_FORMAT = "cover_format"
COVER_RUN = "cover_run"
COVER_STOP = "cover_stop"
COVER_RERUN_KEYS: dict[str, str] = {
    stage: f"cover_rerun_{stage}" for stage in ("vocals", "dereverb", "karaoke", "convert", "mix")
}
"""Key of each stage's "run again" button."""
COVER_AB = "cover_ab"
COVER_DOWNLOAD_KEYS: dict[str, str] = {
    name: f"cover_download_{name}" for name in ("cover", "converted", "instrumental")
}

RENDER_UPLOAD = "render_upload"
RENDER_SONG = "render_song"
RENDER_SUGGESTION = "render_suggestion"
RENDER_START_S = "render_start_s"
RENDER_END_S = "render_end_s"
RENDER_ADD_EXCERPT = "render_add_excerpt"
RENDER_DROP_PICK = "render_drop_pick"
RENDER_DROP = "render_drop"
RENDER_TRANSPOSE = "render_transpose"
RENDER_F0_METHOD = "render_f0_method"
RENDER_SPEAKER = "render_speaker"
RENDER_MIN_STEP = "render_min_step"
RENDER_WAIT_TRAINING = "render_wait_training"
RENDER_SAVE = "render_save"
RENDER_WORKER_START = "render_worker_start"
RENDER_WORKER_STOP = "render_worker_stop"
RENDER_RETRY = "render_retry"
RENDER_LISTEN_EXCERPT = "render_listen_excerpt"
RENDER_REFRESH = "render_refresh"
RENDER_NOTICE = "render_notice"
"""A message from the Renders page's last upload or excerpt action (not a widget)."""

TRAIN_TARGET_STEPS = "train_target_steps"
TRAIN_BATCH_SIZE = "train_batch_size"
TRAIN_PRECISION = "train_precision"
TRAIN_LOG_INTERVAL = "train_log_interval"
TRAIN_EVAL_INTERVAL = "train_eval_interval"
TRAIN_DEVICES = "train_devices"
TRAIN_ACCELERATOR = "train_accelerator"
TRAIN_START = "train_start"
TRAIN_STOP = "train_stop"
TRAIN_FORCE_STOP = "train_force_stop"
TRAIN_TAGS = "train_tags"
TRAIN_SMOOTHING = "train_smoothing"
TRAIN_LAST_STATE = "train_last_state"
"""The training state the live view saw last (not a widget): a change redraws the whole page."""

OWNER_BLIND = "owner_blind"
"""True while this session's owner takes the blind test too (not a widget: it outlives page switches)."""
OWNER_BLIND_TOGGLE = "owner_blind_toggle"
OWNER_BLIND_SEED = "owner_blind_seed"
"""This session's random order of anonymous players on the Renders page (not a widget)."""

LISTEN_INVITE = "listen_invite"
"""Id of the vote-only invitation this session came through (not a widget); absent for the owner."""
LISTEN_NAME = "listen_name"
"""The listener name of this session, once entered (not a widget)."""
LISTEN_NAME_FORM = "listen_name_form"
LISTEN_NAME_INPUT = "listen_name_input"
LISTEN_NAME_SUBMIT = "listen_name_submit"
LISTEN_NAME_CHANGE = "listen_name_change"
LISTEN_MODE = "listen_mode"
LISTEN_PAIR = "listen_pair"
"""``(pair id, {"A": wav bytes, "B": wav bytes})`` of the pair on screen (not a widget)."""
LISTEN_TRIAL = "listen_trial"
"""``(trial id, {letter: wav bytes})`` of the rating trial on screen (not a widget)."""
LISTEN_NOTICE = "listen_notice"
"""``(kind, message)`` from the last vote, rating or action, shown once (not a widget)."""
LISTEN_VOTE_FORM = "listen_vote_form"
LISTEN_TAGS = "listen_tags"
LISTEN_VOTE_KEYS: dict[str, str] = {choice: f"listen_vote_{choice.lower()}" for choice in ("A", "B", "same")}
"""Key of the button of each vote choice."""
LISTEN_RATE_FORM = "listen_rate_form"
LISTEN_SCORE_KEYS: dict[str, str] = {letter: f"listen_score_{letter}" for letter in string.ascii_uppercase}
"""Key of the slider of each letter of a rating trial."""
LISTEN_RATE_SUBMIT = "listen_rate_submit"
LISTEN_REVEAL = "listen_reveal"
LISTEN_SHORTLIST_BASIS = "listen_shortlist_basis"
LISTEN_SHORTLIST_SIZE = "listen_shortlist_size"
LISTEN_SHORTLIST = "listen_shortlist"
LISTEN_SHORTLIST_CLEAR = "listen_shortlist_clear"
LISTEN_METRICS = "listen_metrics"
LISTEN_EXPORT_STEP = "listen_export_step"
LISTEN_EXPORT = "listen_export"
LISTEN_EXPORTED = "listen_exported"
"""Path of the zip this session exported last (not a widget)."""
LISTEN_DOWNLOAD = "listen_download"
LISTEN_INVITE_LABEL = "listen_invite_label"
LISTEN_INVITE_CREATE = "listen_invite_create"
LISTEN_INVITE_LINK = "listen_invite_link"
"""The link of the invitation just created, shown until the owner leaves the page (not a widget)."""
LISTEN_REVOKE_PICK = "listen_revoke_pick"
LISTEN_REVOKE = "listen_revoke"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def startup_root() -> Path:
    """Return the workspace the server was started with."""
    return default_root()


def startup_auth_path() -> Path:
    """Return the password file of the workspace the server was started with."""
    return Workspace(startup_root()).auth_path


def workspaces_home() -> Path:
    """Return the folder whose sub-folders the sidebar may switch between (the startup parent)."""
    return startup_root().parent


def current_workspace() -> Workspace:
    """Return this session's workspace (the startup one until the user switches), laid out."""
    root = Path(st.session_state.get(WORKSPACE_ROOT) or startup_root())
    return Workspace(root).ensure_layout()


def available_workspaces() -> list[Path]:
    """Return the startup workspace plus sibling folders that are svcqa workspaces."""
    home = workspaces_home()
    found = {startup_root()}
    if home.is_dir():
        found.update(p for p in home.iterdir() if p.is_dir() and Workspace(p).is_initialised)
    return sorted(found)


def new_workspace_path(name: str) -> Path:
    """Return the path of a new sibling workspace called ``name``; refuse unsafe names and
    folders that exist but are not workspaces (the server's own code may sit beside it)."""
    if not _SAFE_NAME.fullmatch(name):
        raise WorkspaceError(
            "A workspace name may use letters, digits, '.', '_' and '-' (up to 64 characters)."
        )
    path = workspaces_home() / name
    if path.exists() and not Workspace(path).is_initialised:
        raise WorkspaceError(f"{path} already exists and is not a svcqa workspace: choose another name.")
    return path
