"""Shared fixtures: generated audio files and workspaces (tests never use real recordings)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import audio_files

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep svcqa's user-level cache (audits outside a workspace) out of the real home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture(autouse=True)
def _no_audit_left_running(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stop the background audit a page started in the test's workspace, when the test ends."""
    yield
    root = os.environ.get("SVCQA_WORKSPACE")
    if root:
        from tests.audit_wait import stop_audit

        stop_audit(Path(root))


@pytest.fixture
def write_clip() -> Callable[..., Path]:
    """Return :func:`tests.audio_files.write_clip`."""
    return audio_files.write_clip


@pytest.fixture
def fingerprint() -> Callable[[Path], dict[str, tuple[str, int, int]]]:
    """Return :func:`tests.audio_files.tree_fingerprint`."""
    return audio_files.tree_fingerprint
