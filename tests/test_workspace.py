"""Workspace layout, the path door, and settings persistence."""

from __future__ import annotations

import json
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


def test_every_layout_path_is_where_existing_workspaces_keep_it(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    layout = {
        ws.recordings: "recordings",
        ws.dataset_raw: "dataset_raw",
        ws.dataset_44k: "dataset/44k",
        ws.filelists_44k: "filelists/44k",
        ws.train_list_path: "filelists/44k/train.txt",
        ws.config_path: "configs/44k/config.json",
        ws.logs_44k: "logs/44k",
        ws.trained_config_path: "logs/44k/config.json",
        ws.songs: "songs",
        ws.renders: "renders",
        ws.render_dir("ex1", "h2"): "renders/ex1/h2",
        ws.features_dir: "renders/.features",
        ws.covers_dir: "renders/covers",
        ws.exports: "exports",
        ws.models_dir: "models",
        ws.separation_models: "models/separation",
        ws.state_dir: ".svcqa",
        ws.db_path: ".svcqa/state.sqlite",
        ws.auth_path: ".svcqa/auth.json",
        ws.settings_path: ".svcqa/settings.json",
        ws.svc_overrides_path: ".svcqa/svc_overrides.json",
        ws.demo_marker_path: ".svcqa/demo.json",
        ws.jobs_dir: ".svcqa/jobs",
        ws.archive_dir: ".svcqa/archive",
        ws.train_control_dir: ".svcqa/train",
        ws.prepare_dir("alice"): ".svcqa/prepare/alice",
        ws.cover_runs_dir: ".svcqa/covers",
        ws.hf_home: ".svcqa/hf_home",
    }
    assert {path.relative_to(ws.root).as_posix(): rel for path, rel in layout.items()} == {
        rel: rel for rel in layout.values()
    }
    assert not ws.is_initialised
    ws.ensure_layout()
    assert ws.is_initialised


def test_settings_saved_by_an_older_svcqa_load_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    old = Settings().to_dict()
    old["render"]["max_song_bytes"] = 123_000_000  # where the song upload limit lived before
    del old["uploads"]
    old["slicer"]["min_length_ms"] = 8000
    old["prepare"]["exclude_flags"] = ["speech", "duplicate"]
    old["train"].pop("force_stop_timeout_s")
    path.write_text(json.dumps(old, indent=2, sort_keys=True))
    loaded = load_settings(path)
    assert loaded.uploads.max_song_bytes == 123_000_000
    assert loaded.uploads.max_bytes == Settings().uploads.max_bytes
    assert loaded.slicer.min_length_ms == 8000
    assert loaded.prepare.exclude_flags == ("speech", "duplicate")
    assert loaded.train.force_stop_timeout_s == Settings().train.force_stop_timeout_s
    assert loaded.with_section("uploads", max_song_bytes=123_000_000).render == Settings().render


def test_saved_settings_keep_their_json_format(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    changed = Settings().with_section("cover", speaker="Sänger")
    ws.save_settings(changed)
    saved = json.loads(ws.settings_path.read_text(encoding="utf-8"))
    assert saved == changed.to_dict()
    assert saved["prepare"]["exclude_flags"] == list(changed.prepare.exclude_flags)
    assert set(saved) == {
        "audit", "pitch", "slicer", "prepare", "train", "separation", "mix", "cover", "listen",
        "voice", "render", "uploads", "conversion", "loudness",
    }  # fmt: skip
    assert ws.load_settings() == changed
