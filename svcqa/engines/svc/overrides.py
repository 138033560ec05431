"""What every so-vits-svc-fork run of a workspace gets: environment variables and config edits.

They are kept in :attr:`svcqa.core.workspace.Workspace.svc_overrides_path`. The demo workspace keeps its own
offline Hugging Face cache there, so its stand-in ContentVec is used for its preprocessing,
training and rendering, and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svcqa.core.errors import SvcqaError
from svcqa.core.files import atomic_write_text
from svcqa.core.workspace import Workspace


def workspace_overrides_path(workspace: Workspace) -> Path:
    """Return the file of what every so-vits-svc-fork run of ``workspace`` gets (env, config edits)."""
    return workspace.svc_overrides_path


def _workspace_overrides(workspace: Workspace) -> dict[str, Any]:
    path = workspace_overrides_path(workspace)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SvcqaError(f"{path} is unreadable ({exc}); fix or delete it.") from exc
    return data if isinstance(data, dict) else {}


def workspace_env(workspace: Workspace) -> dict[str, str]:
    """Return the variables every so-vits-svc-fork run of ``workspace`` gets ({} when none are set)."""
    env = _workspace_overrides(workspace).get("env") or {}
    return {str(key): str(value) for key, value in env.items()}


def workspace_config_edits(workspace: Workspace) -> dict[str, dict[str, Any]]:
    """Return the config edits every preprocessing of ``workspace`` applies ({} when none are set)."""
    edits = _workspace_overrides(workspace).get("config_edits") or {}
    return {str(section): dict(values) for section, values in edits.items()}


def set_workspace_overrides(
    workspace: Workspace,
    env: Mapping[str, str] | None = None,
    config_edits: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Store what every later so-vits-svc-fork run of ``workspace`` gets: ``env`` and ``config_edits``."""
    data = {
        "env": dict(env or {}),
        "config_edits": {section: dict(values) for section, values in (config_edits or {}).items()},
    }
    atomic_write_text(workspace_overrides_path(workspace), json.dumps(data, indent=2, sort_keys=True))


def merge_edits(*edits: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Return config edits merged section by section, later ones winning."""
    merged: dict[str, dict[str, Any]] = {}
    for group in edits:
        for section, values in (group or {}).items():
            merged.setdefault(section, {}).update(values)
    return merged
