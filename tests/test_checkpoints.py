"""The checkpoint registry and archive (file-level; real training is in the training tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from svcqa.core.errors import SvcqaError
from svcqa.core.files import file_sha256
from svcqa.core.workspace import Workspace
from svcqa.train import checkpoints


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").ensure_layout()


def _fake(ws: Workspace, step: int, payload: bytes) -> Path:
    path = ws.logs_44k / f"G_{step}.pth"
    path.write_bytes(payload)
    return path


def test_register_reads_the_step_hashes_and_archives(ws: Workspace) -> None:
    path = _fake(ws, 200, b"generator weights 200")
    record = checkpoints.register(ws, path, settle_s=0.01)
    assert (record.step, record.step_derived, record.size_bytes) == (200, False, 21)
    assert record.sha256 == file_sha256(path)
    assert record.archived_path and record.archived_path.read_bytes() == path.read_bytes()
    assert checkpoints.register(ws, path, settle_s=0.01) == record  # registered once


def test_rotated_checkpoint_survives_in_the_archive(ws: Workspace) -> None:
    first = _fake(ws, 100, b"a" * 1000)
    _fake(ws, 200, b"b" * 1000)
    checkpoints.scan(ws, settle_s=0.01)
    first.unlink()  # what keep_ckpts rotation does
    listed = checkpoints.list_checkpoints(ws)
    assert [c.step for c in listed] == [100, 200]
    assert listed[0].available_path == listed[0].archived_path
    assert listed[0].available_path.read_bytes() == b"a" * 1000
    assert checkpoints.archive_size_bytes(ws) == 2000


def test_min_step_filters_and_deletion_is_explicit(ws: Workspace) -> None:
    for step in (5000, 10_000, 20_000):
        _fake(ws, step, str(step).encode() * 10)
    checkpoints.scan(ws, settle_s=0.01)
    assert [c.step for c in checkpoints.list_checkpoints(ws, min_step=10_000)] == [10_000, 20_000]
    target = checkpoints.list_checkpoints(ws)[0]
    assert checkpoints.delete_archived(ws, target.sha256) == 1
    assert checkpoints.list_checkpoints(ws)[0].archived_path is None
    assert target.path.exists()  # the run's own file is untouched


def test_names_without_a_step_need_an_explicit_step(ws: Workspace) -> None:
    path = ws.logs_44k / "model.pth"
    path.write_bytes(b"x")
    with pytest.raises(SvcqaError, match="G_<step>"):
        checkpoints.register(ws, path, settle_s=0.01)
    assert checkpoints.register(ws, path, step=1234, step_derived=True, settle_s=0.01).step_derived
