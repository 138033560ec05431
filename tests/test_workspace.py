"""Workspace layout, the path door, and settings persistence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from svcqa.core.errors import PathOutsideWorkspaceError, WorkspaceError
from svcqa.core.settings import Settings, load_settings
from svcqa.core.workspace import Workspace, default_root


def test_layout_matches_so_vits_svc_fork_and_svcqa_state(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    for rel in (
        "dataset_raw",
        "dataset/44k",
        "configs/44k",
        "logs/44k",
        "songs",
        "renders",
        "exports",
        ".svcqa/jobs",
    ):
        assert (ws.root / rel).is_dir(), rel
    assert ws.config_path == ws.root / "configs" / "44k" / "config.json"
    assert ws.ensure_layout() == ws  # idempotent


def test_workspace_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SVCQA_WORKSPACE", str(tmp_path / "x"))
    assert default_root() == tmp_path / "x"
    monkeypatch.delenv("SVCQA_WORKSPACE")
    assert default_root() == Path.cwd() / "workspace"


@pytest.mark.parametrize("bad", ["../escape.wav", "/etc/passwd", "songs/../../x", "a\x00b"])
def test_resolve_refuses_paths_leading_out(tmp_path: Path, bad: str) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    with pytest.raises(PathOutsideWorkspaceError):
        ws.resolve(bad)


def test_resolve_refuses_symlinks_leading_out(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    (tmp_path / "secret.txt").write_text("x")
    os.symlink(tmp_path / "secret.txt", ws.songs / "link.wav")
    with pytest.raises(PathOutsideWorkspaceError):
        ws.resolve("songs/link.wav")
    assert ws.resolve("songs/new.wav") == (ws.songs / "new.wav").resolve()


def test_unwritable_workspace_gives_a_workspace_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="Cannot create"):
        Workspace(tmp_path / "file" / "ws").ensure_layout()


def test_settings_round_trip_and_defaults(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    assert ws.load_settings() == Settings()
    changed = Settings().with_section("audit", min_duration_s=3.5)
    ws.save_settings(changed)
    assert ws.load_settings().audit.min_duration_s == 3.5
    assert ws.load_settings().prepare.exclude_flags == Settings().prepare.exclude_flags


def test_settings_ignore_unknown_keys_and_reject_garbage(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"audit": {"min_duration_s": 1.5, "gone": 1}, "nope": {}}')
    assert load_settings(path).audit.min_duration_s == 1.5
    path.write_text("{not json")
    with pytest.raises(WorkspaceError, match="unreadable"):
        load_settings(path)
