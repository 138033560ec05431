"""Session-state keys, declared once, and the current workspace of a browser session."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from svcqa.errors import WorkspaceError
from svcqa.workspace import Workspace, default_root

WORKSPACE_ROOT = "workspace_root"
AUDIT_FOLDER = "audit_folder"
FLAG_FILTER = "flag_filter"
CLIP_SEARCH = "clip_search"
CLIP_TABLE = "clip_table"
CLIP_PICK = "clip_pick"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def startup_root() -> Path:
    """Return the workspace the server was started with."""
    return default_root()


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
        found.update(p for p in home.iterdir() if p.is_dir() and (p / ".svcqa").is_dir())
    return sorted(found)


def new_workspace_path(name: str) -> Path:
    """Return the path of a new sibling workspace called ``name``; refuse unsafe names."""
    if not _SAFE_NAME.match(name):
        raise WorkspaceError(
            "A workspace name may use letters, digits, '.', '_' and '-' (up to 64 characters)."
        )
    return workspaces_home() / name
