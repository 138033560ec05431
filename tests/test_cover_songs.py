"""A cover asked for by name (``svcqa cover``): the song, the checkpoint, the output and its copy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from svcqa.core.files import file_sha256
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace
from svcqa.cover.pipeline import CoverResult, StageOutcome, StageRecord
from svcqa.cover.songs import CoverRequestError, cover_request, deliver, find_checkpoint, find_song
from svcqa.train import checkpoints


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    (ws.songs / "song.wav").write_bytes(b"RIFF song")
    return ws


def _old_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` as if written a minute ago (a finished checkpoint)."""
    path.write_bytes(data)
    os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))
    return path


def test_song_is_found_from_the_current_folder_or_inside_the_workspace(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.wav").write_bytes(b"RIFF")

    assert find_song(ws, "here.wav") == Path("here.wav")
    assert find_song(ws, "songs/song.wav") == ws.root / "songs" / "song.wav"
    with pytest.raises(
        CoverRequestError, match=r"No song nowhere\.wav \(looked in the current folder and in"
    ):
        find_song(ws, "nowhere.wav")


def test_a_checkpoint_not_registered_yet_is_registered_and_an_unknown_step_lists_the_known_ones(
    ws: Workspace,
) -> None:
    _old_file(ws.logs_44k / "G_200.pth", b"two hundred")

    found = find_checkpoint(ws, 200, settle_s=1.0)

    assert (found.step, [c.step for c in checkpoints.list_checkpoints(ws)]) == (200, [200])
    with pytest.raises(
        CoverRequestError, match=r"No registered checkpoint of step 300 \(registered steps: 200\)"
    ):
        find_checkpoint(ws, 300, settle_s=1.0)


def test_request_takes_the_workspace_settings_with_the_options_over_them(ws: Workspace) -> None:
    checkpoint = _old_file(ws.logs_44k / "G_100.pth", b"one hundred")
    settings = Settings().with_section("cover", transpose_semitones=3)

    plain = cover_request(ws, "songs/song.wav", 100, Path("out.flac"), settings)
    changed = cover_request(
        ws,
        "songs/song.wav",
        100,
        Path("out.mp3"),
        settings,
        stages=(),
        transpose=-2,
        f0_method="dio",
        rerun="mix",
    )

    assert plain.song == str((ws.songs / "song.wav").absolute())
    assert plain.checkpoint == file_sha256(checkpoint)
    assert (plain.cover.export_format, plain.cover.transpose_semitones, plain.cover.f0_method) == (
        "flac",
        3,
        "auto",
    )
    assert plain.separation.stages == settings.separation.stages and plain.rerun is None
    assert (changed.cover.export_format, changed.cover.transpose_semitones, changed.cover.f0_method) == (
        "mp3",
        -2,
        "dio",
    )
    assert (changed.separation.stages, changed.rerun) == ((), "mix")


@pytest.mark.parametrize(
    ("out", "says"),
    [("cover.exe", "--out must end in .wav, .flac, .mp3."), ("songs/c.wav", "--out may not be in")],
)
def test_output_of_another_type_or_inside_songs_is_refused_before_any_checkpoint_lookup(
    ws: Workspace, out: str, says: str
) -> None:
    _old_file(ws.logs_44k / "G_100.pth", b"one hundred")  # a lookup would register it

    with pytest.raises(CoverRequestError, match=says.replace(".", r"\.")):
        cover_request(ws, "songs/song.wav", 100, ws.root / out, Settings())
    assert checkpoints.list_checkpoints(ws) == []


def _result(folder: Path, mix_status: str) -> CoverResult:
    record = StageRecord(
        "mix",
        "k",
        "done",
        {},
        {},
        output="cover.wav",
        details={"lufs": -14.0, "true_peak_dbtp": -1.2, "duration_s": 3.5},
    )
    outcomes = (StageOutcome("convert", "cached"), StageOutcome("mix", mix_status, "k", record))
    return CoverResult("songs/song.wav", "d" * 16, str(folder), outcomes)


def test_a_finished_cover_is_copied_to_out_with_the_mix_figures(tmp_path: Path) -> None:
    (tmp_path / "cover.wav").write_bytes(b"the mix")
    out = tmp_path / "deep" / "er" / "mine.wav"

    delivered = deliver(_result(tmp_path, "ran"), out)

    assert out.read_bytes() == b"the mix"
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine.wav"]
    data = delivered.to_dict()
    assert (data["out"], data["lufs"], data["true_peak_dbtp"], data["duration_s"]) == (
        str(out),
        -14.0,
        -1.2,
        3.5,
    )
    assert list(data)[:6] == ["song", "song_digest", "folder", "cover", "complete", "stages"]


def test_a_cover_whose_mix_did_not_run_copies_nothing_and_says_out_null(tmp_path: Path) -> None:
    out = tmp_path / "mine.wav"

    delivered = deliver(_result(tmp_path, "pending"), out)

    assert not out.exists()
    assert delivered.out is None and delivered.to_dict()["out"] is None
    assert "lufs" not in delivered.to_dict()
