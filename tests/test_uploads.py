"""Uploads: safe names, size and content checks, never overwriting."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svcqa.core.settings import UploadSettings
from svcqa.core.uploads import UploadError, safe_filename, save_upload
from svcqa.core.workspace import Workspace


def _wav_bytes() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(4410, dtype=np.float32), 44_100, format="WAV")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.wav", "passwd.wav"),
        ("我的 歌.WAV", "Wo_De_Ge.wav"),
        ("a\x00b.flac", "ab.flac"),
        ("..\\..\\evil.mp3", "evil.mp3"),
        ("x" * 300 + ".wav", "x" * 80 + ".wav"),
        ("....wav", "upload.wav"),
    ],
)
def test_hostile_names_become_safe(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_non_audio_names_are_refused() -> None:
    with pytest.raises(UploadError, match="not an audio file name"):
        safe_filename("notes.txt")


def test_upload_is_checked_and_never_overwrites(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    first = save_upload(ws, "songs", "My Song.wav", _wav_bytes())
    second = save_upload(ws, "songs", "My Song.wav", _wav_bytes())
    assert (first.name, second.name) == ("My_Song.wav", "My_Song_2.wav")
    with pytest.raises(UploadError, match="not readable audio"):
        save_upload(ws, "songs", "fake.wav", b"not audio at all")
    with pytest.raises(UploadError, match="over the"):
        save_upload(ws, "songs", "big.wav", _wav_bytes(), UploadSettings(max_song_bytes=10))
    with pytest.raises(UploadError, match="empty"):
        save_upload(ws, "songs", "e.wav", b"")
    assert sorted(p.name for p in ws.songs.iterdir()) == ["My_Song.wav", "My_Song_2.wav"]


def test_the_workspace_upload_policy_applies_to_every_page_by_folder(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    data = _wav_bytes()
    ws.save_settings(ws.load_settings().with_section("uploads", max_song_bytes=len(data) - 1))
    with pytest.raises(UploadError, match="over the"):
        save_upload(ws, "songs", "song.wav", data)  # the Cover page's call: the songs limit holds
    assert save_upload(ws, "recordings/alice", "take.wav", data).parent == ws.recordings / "alice"
    ws.save_settings(ws.load_settings().with_section("uploads", max_bytes=len(data) - 1))
    with pytest.raises(UploadError, match="over the"):
        save_upload(ws, "recordings/alice", "take2.wav", data)
    ws.save_settings(
        ws.load_settings().with_section("uploads", max_duration_s=0.05, max_song_bytes=len(data))
    )
    with pytest.raises(UploadError, match="min limit"):
        save_upload(ws, "songs", "long.wav", data)
    assert save_upload(ws, "songs", "fine.wav", data, UploadSettings()).name == "fine.wav"  # given limits win
