"""The abuse suite: hostile names, bad files and path tricks through every upload, page input
and command line entry point.

Each attack must be refused with a message that says why (a typed error, an error on the page,
or a CLI exit code with one line and no traceback), leave nothing behind, and leave the rest of
the work going on.
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest
from websockets.exceptions import InvalidStatus

from svcqa.cli.main import main
from svcqa.core import jobs
from svcqa.core.errors import JobError, PathOutsideWorkspaceError
from svcqa.core.settings import UploadSettings
from svcqa.core.uploads import UploadError, save_upload
from svcqa.core.workspace import Workspace
from svcqa.dataset.table import FORMULA_STARTS, to_csv
from svcqa.listen import excerpts, invites
from svcqa.ui import state
from tests import streamlit_ws
from tests.app_paths import APP, REPO, page
from tests.audio_files import wav_header_claiming, write_clip
from tests.audit_wait import run_audited
from tests.browser import running_server

SR = 44_100
LONG_NAME = "x" * 5000
"""Far over the 255 bytes a file name may have."""


def wav_bytes(seconds: float = 2.0, sample_rate_hz: int = SR) -> bytes:
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * np.sin(2 * np.pi * 220 * t), sample_rate_hz, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("song.wav", wav_bytes(0.5))
    return buffer.getvalue()


GOOD = wav_bytes()
CHANNELS_65535 = wav_header_claiming(65_535)
"""1 kB whose header claims 65,535 channels: once a traceback in every command that read it."""
BAD_CONTENT: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "is empty"),
    "header_only": (GOOD[:44], "no audio samples"),
    "random_bytes": (np.random.default_rng(7).bytes(4096), "not readable audio"),
    "png_image": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not readable audio"),
    "zip_archive": (zip_bytes(), "not readable audio"),
    "shell_script": (b"#!/bin/sh\nrm -rf ~\n", "not readable audio"),
    "header_claims_65535_channels": (CHANNELS_65535, "not readable audio: .*Too many channels: 65535"),
}
"""Upload content that is not audio one can use, and the reason the refusal must give."""
HOSTILE_NAMES: dict[str, str] = {
    "../../etc/passwd.wav": "passwd.wav",
    "/etc/cron.d/evil.wav": "evil.wav",
    "..\\..\\windows.wav": "windows.wav",
    "a\x00b.wav": "ab.wav",
    LONG_NAME + ".wav": "x" * 80 + ".wav",
    "....wav": "upload.wav",
    "line\nbreak.wav": "line_break.wav",
    "\u202egnp.wav": "gnp.wav",
    "我的 歌.WAV": "Wo_De_Ge.wav",
    "song.wav/": "song.wav",
}
"""Upload names -> the name the file must get inside songs/."""
REFUSED_NAMES = ("passwd", "evil.txt", "song.exe", ".wav", "song.wav\x00.txt", "songs/")


def short_id(value: object) -> str:
    """Return a test id that stays readable for a 5000-character name."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}...({len(str(value))} chars)"


def listing(folder: Path) -> list[str]:
    """Return every entry under ``folder``, hidden ones included (a left-over temp file shows)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").ensure_layout()


# -- the door: Workspace.resolve and the ids that name files -------------------------------
@pytest.fixture
def door(ws: Workspace, tmp_path: Path) -> Workspace:
    """A workspace with symlinks leading out and in circles."""
    (tmp_path / "secret.wav").write_bytes(GOOD)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "secret.wav", ws.songs / "link_out.wav")
    os.symlink(tmp_path / "outside", ws.songs / "dir_out")
    os.symlink("loop.wav", ws.songs / "loop.wav")
    return ws


@pytest.mark.parametrize(
    "attack",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "songs/../../etc/passwd",
        "songs/./../../x.wav",
        "songs/a\x00.wav",
        LONG_NAME,
        "songs/" + "y" * 300 + ".wav",
        "songs/link_out.wav",
        "songs/dir_out/x.wav",
        "songs/loop.wav",
    ],
    ids=short_id,
)
def test_the_workspace_door_refuses_every_path_trick_with_a_message(door: Workspace, attack: str) -> None:
    with pytest.raises(PathOutsideWorkspaceError, match="refused"):
        door.resolve(attack)
    assert door.resolve("songs/new.wav") == (door.songs / "new.wav").resolve()


def test_a_symlink_leading_out_has_no_workspace_relative_name(door: Workspace) -> None:
    with pytest.raises(PathOutsideWorkspaceError, match="outside the workspace"):
        door.relative(door.songs / "link_out.wav")
    assert door.relative(door.songs / "new.wav") == "songs/new.wav"


@pytest.mark.parametrize(
    "job_id", ["../../etc", "/etc/passwd", "a\x00b", ".hidden", "", LONG_NAME, "a/b"], ids=short_id
)
def test_job_ids_naming_other_files_are_refused(ws: Workspace, job_id: str) -> None:
    with pytest.raises(JobError, match="is not a job id"):
        jobs.get(ws, job_id)


@pytest.mark.parametrize("invite_id", ["../../etc/passwd", "a\x00b", LONG_NAME], ids=short_id)
def test_invitation_ids_that_name_nothing_are_refused(ws: Workspace, invite_id: str) -> None:
    with pytest.raises(invites.InviteError, match="No invitation"):
        invites.revoke_invite(ws, invite_id)


# -- uploads --------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), list(HOSTILE_NAMES.items()), ids=short_id)
def test_hostile_upload_names_are_saved_under_safe_names_inside_songs(
    ws: Workspace, tmp_path: Path, name: str, expected: str
) -> None:
    around = listing(tmp_path)
    saved = save_upload(ws, "songs", name, GOOD)
    assert (saved.parent, saved.name) == (ws.songs, expected)
    assert saved.read_bytes() == GOOD
    assert sorted(set(listing(tmp_path)) - set(around)) == [f"ws/songs/{expected}"]


@pytest.mark.parametrize("name", REFUSED_NAMES, ids=short_id)
def test_upload_names_that_are_not_audio_names_are_refused_before_anything_is_written(
    ws: Workspace, name: str
) -> None:
    with pytest.raises(UploadError, match="not an audio file name"):
        save_upload(ws, "songs", name, GOOD)
    assert listing(ws.songs) == []


@pytest.mark.parametrize("kind", list(BAD_CONTENT))
def test_bad_upload_content_is_refused_with_the_reason_and_leaves_nothing_behind(
    ws: Workspace, kind: str
) -> None:
    data, reason = BAD_CONTENT[kind]
    with pytest.raises(UploadError, match=reason):
        save_upload(ws, "songs", f"{kind}.wav", data)
    assert listing(ws.songs) == []
    assert save_upload(ws, "songs", "next.wav", GOOD).name == "next.wav"  # the work goes on


def test_an_upload_over_the_size_limit_of_the_settings_is_refused(ws: Workspace) -> None:
    with pytest.raises(UploadError, match="over the"):
        excerpts.save_song(ws, "big.wav", GOOD, UploadSettings(max_song_bytes=len(GOOD) - 1))
    assert listing(ws.songs) == []


def test_compressed_silence_claiming_hours_is_refused(ws: Workspace, tmp_path: Path) -> None:
    """40 minutes of silence are 60 kB of FLAC but would decode into hundreds of MB."""
    bomb = tmp_path / "bomb.flac"
    with sf.SoundFile(bomb, "w", samplerate=8000, channels=1, format="FLAC", subtype="PCM_16") as out:
        for _ in range(40):
            out.write(np.zeros(8000 * 60, dtype=np.int16))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(UploadError, match="40 min long, over the 30 min limit"):
        save_upload(ws, "songs", "bomb.flac", bomb.read_bytes())
    assert listing(ws.songs) == []


def test_uploads_of_one_name_at_the_same_moment_never_overwrite_each_other(ws: Workspace) -> None:
    contents = [wav_bytes(0.5 + k / 10) for k in range(6)]
    with cf.ThreadPoolExecutor(max_workers=6) as pool:
        saved = list(pool.map(lambda data: save_upload(ws, "songs", "same.wav", data), contents))
    assert len({p.name for p in saved}) == 6
    assert sorted(p.read_bytes() for p in saved) == sorted(contents)
    assert sorted(listing(ws.songs)) == sorted(p.name for p in saved)


# -- pages ----------------------------------------------------------------------------------
@pytest.fixture
def app_ws(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace the app starts on, with one short take and the slow voice models off."""
    write_clip(ws.recordings / "singer" / "take.wav", 3.0)
    settings = ws.load_settings()
    ws.save_settings(
        dataclasses.replace(
            settings, voice=dataclasses.replace(settings.voice, embed_voices=False, score_quality=False)
        )
    )
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    monkeypatch.delenv("SVCQA_PUBLIC", raising=False)
    return ws


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


UPLOAD_ATTACKS: list[tuple[str, bytes, str | None]] = [
    ("corrupt.wav", BAD_CONTENT["random_bytes"][0], "not readable audio"),
    ("channels.wav", CHANNELS_65535, "Too many channels: 65535"),
    ("empty.wav", b"", "is empty"),
    ("image.wav", BAD_CONTENT["png_image"][0], "not readable audio"),
    ("../../etc/passwd.wav", GOOD, None),
    (LONG_NAME + ".wav", GOOD, None),
]
"""(name, content, expected error or None for an upload that is saved under a safe name)."""
SAVED = ["passwd.wav", "x" * 80 + ".wav"]


def _upload_with_button(upload_key: str, save_key: str) -> Callable[[AppTest, str, bytes], None]:
    def upload(at: AppTest, name: str, data: bytes) -> None:
        at.file_uploader(key=upload_key).set_value((name, data, "audio/wav")).run()
        at.button(key=save_key).click().run()

    return upload


def _upload_on_change(at: AppTest, name: str, data: bytes) -> None:
    at.file_uploader(key=state.RENDER_UPLOAD).set_value((name, data, "audio/wav")).run()


def open_dataset_page() -> AppTest:
    """Open the Dataset page of the workspace in SVCQA_WORKSPACE, once its background audit has ended."""
    at = run_audited(AppTest.from_file(APP, default_timeout=180), Path(os.environ["SVCQA_WORKSPACE"]))
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    ("page_name", "upload"),
    [
        ("cover", _upload_with_button(state.COVER_UPLOAD, state.COVER_UPLOAD_SAVE)),
        ("render", _upload_on_change),
        ("dataset", _upload_with_button(state.SONG_UPLOAD, state.SONG_UPLOAD_SAVE)),
    ],
    ids=["cover", "renders", "dataset-pitch"],
)
def test_every_upload_on_the_pages_refuses_bad_files_and_saves_hostile_names_safely(
    app_ws: Workspace, page_name: str, upload: Callable[[AppTest, str, bytes], None]
) -> None:
    beside = listing(app_ws.root.parent)
    at = open_dataset_page() if page_name == "dataset" else open_page(page_name)
    for name, data, refusal in UPLOAD_ATTACKS:
        upload(at, name, data)
        assert not at.exception, (name[:30], at.exception)
        if refusal is None:
            assert not errors(at), (name[:30], errors(at))
        else:
            assert any(refusal in e for e in errors(at)), (name[:30], errors(at))
    assert listing(app_ws.songs) == SAVED
    assert [p for p in listing(app_ws.root.parent) if p not in beside and not p.startswith("ws/")] == []


def test_renders_page_refuses_an_upload_over_the_workspace_size_limit(app_ws: Workspace) -> None:
    settings = app_ws.load_settings()
    app_ws.save_settings(settings.with_section("uploads", max_song_bytes=len(GOOD) - 1))
    at = open_page("render")
    _upload_on_change(at, "song.wav", GOOD)
    assert any("over the" in e for e in errors(at)), errors(at)
    assert listing(app_ws.songs) == []


@pytest.mark.parametrize(
    "speaker", ["../../evil", "/etc", "a\x00b", "two words", "x" * 300, ".."], ids=short_id
)
def test_prepare_page_refuses_speaker_names_that_are_not_plain_folder_names(
    app_ws: Workspace, speaker: str
) -> None:
    at = open_page("prepare")
    at.text_input(key=state.PREP_SPEAKER).input(speaker).run()
    assert not at.exception, at.exception
    assert any("is not a safe folder name" in e for e in errors(at)), errors(at)
    assert state.PREP_RUN not in [b.key for b in at.button]
    assert listing(app_ws.dataset_raw) == []


def _sidebar_app() -> None:
    from svcqa.ui.sidebar import workspace_sidebar

    workspace_sidebar()


@pytest.mark.parametrize(
    "name",
    ["../evil", "/etc", "abc\n", "x" * 70, "a\x00b", ".hidden", "-rf", "not_a_workspace"],
    ids=short_id,
)
def test_new_workspace_names_that_lead_elsewhere_are_refused(
    app_ws: Workspace, tmp_path: Path, name: str
) -> None:
    (tmp_path / "not_a_workspace").mkdir()
    (tmp_path / "not_a_workspace" / "keep.txt").write_text("mine")
    before = listing(tmp_path)
    at = AppTest.from_function(_sidebar_app, default_timeout=60)
    at.run()
    at.sidebar.text_input(key="new_workspace_name").input(name)
    at.sidebar.button(key="new_workspace_create").click().run()
    assert not at.exception, at.exception
    assert any("workspace" in e for e in errors(at)), errors(at)
    assert listing(tmp_path) == before
    assert state.WORKSPACE_ROOT not in at.session_state


def test_a_plain_new_workspace_name_creates_the_workspace_beside_the_first(
    app_ws: Workspace, tmp_path: Path
) -> None:
    at = AppTest.from_function(_sidebar_app, default_timeout=60)
    at.run()
    at.sidebar.text_input(key="new_workspace_name").input("second_voice")
    at.sidebar.button(key="new_workspace_create").click().run()
    assert not at.exception and not errors(at) and not at.warning
    assert at.session_state[state.WORKSPACE_ROOT] == str(tmp_path / "second_voice")
    assert (tmp_path / "second_voice" / ".svcqa").is_dir()


@pytest.fixture
def linked_out(app_ws: Workspace, tmp_path: Path) -> Path:
    """Songs and recordings that are symlinks to audio outside the workspace."""
    outside = tmp_path / "outside"
    write_clip(outside / "private.wav", 3.0, seed=3)
    os.symlink(outside / "private.wav", app_ws.songs / "linked.wav")
    os.symlink(outside / "private.wav", app_ws.recordings / "singer" / "linked.wav")
    os.symlink(outside, app_ws.recordings / "elsewhere")
    return outside


@pytest.mark.parametrize("page_name", ["cover", "render"])
def test_song_pickers_refuse_a_song_that_is_a_symlink_leading_out(linked_out: Path, page_name: str) -> None:
    at = open_page(page_name)
    assert any("leads outside the workspace" in e for e in errors(at)), errors(at)
    assert not at.get("audio")


def test_dataset_page_does_not_play_a_recording_that_is_a_symlink_leading_out(linked_out: Path) -> None:
    at = open_dataset_page()
    at.selectbox(key=state.CLIP_PICK).set_value("singer/linked.wav").run()
    assert not at.exception, at.exception
    assert any("leads outside the workspace" in e for e in errors(at)), errors(at)
    assert not at.get("audio")
    at.selectbox(key=state.CLIP_PICK).set_value("singer/take.wav").run()
    assert len(at.get("audio")) == 1  # the other clips still play


def test_prepare_page_refuses_a_speaker_folder_that_is_a_symlink_leading_out(linked_out: Path) -> None:
    at = open_page("prepare")
    at.selectbox(key=state.PREP_SOURCE).set_value("elsewhere").run()
    assert not at.exception, at.exception
    assert any("leads outside the workspace" in e for e in errors(at)), errors(at)


@pytest.mark.parametrize("token", ["../../etc/passwd", "a\x00b", "t" * 10_000, "' OR 1=1 --"], ids=short_id)
def test_hostile_listening_links_see_nothing_but_the_refusal(app_ws: Workspace, token: str) -> None:
    invites.create_invite(app_ws)  # a fresh workspace: no earlier wrong link makes this one wait
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params[invites.QUERY_PARAMETER] = token
    at.run()
    assert not at.exception, at.exception
    assert errors(at) == [
        "This listening link is not valid: it is mistyped or was revoked. Ask the owner for a new one."
    ]
    assert not at.title and not at.text_input and not at.button


# -- the command line -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CliCase:
    argv: tuple[str, ...]
    exit_code: int
    says: str
    stdin: str | None = None


@pytest.fixture(scope="module")
def cli_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a workspace, a good song, bad files and a dataset full of hostile files."""
    root = tmp_path_factory.mktemp("cli")
    ws = Workspace(root / "ws").ensure_layout()
    write_clip(ws.recordings / "singer" / "take.wav", 3.0)
    write_clip(root / "song.wav", 3.0)
    (root / "corrupt.wav").write_bytes(BAD_CONTENT["random_bytes"][0])
    (root / "bad").mkdir()
    (root / "bad" / "corrupt.wav").write_bytes(BAD_CONTENT["random_bytes"][0])
    (root / "image.wav").write_bytes(BAD_CONTENT["png_image"][0])
    (root / "a_file").write_text("not a folder")
    (root / "empty_dir").mkdir()
    hostile = root / "hostile"
    write_clip(hostile / "good.wav", 3.0)
    (hostile / "empty.wav").write_bytes(b"")
    (hostile / "header_only.wav").write_bytes(GOOD[:44])
    (hostile / "image.wav").write_bytes(BAD_CONTENT["png_image"][0])
    with open(hostile / "huge.wav", "wb") as sparse:  # 3 GB that take no disk
        sparse.truncate(3 * 1024**3)
    with open(bytes(hostile) + b"/\xff\xfe latin1.wav", "wb") as latin1:  # not valid UTF-8
        latin1.write(GOOD)
    os.symlink(root / "nowhere.wav", hostile / "dangling.wav")
    (hostile / "channels.wav").write_bytes(CHANNELS_65535)
    (root / "header").mkdir()
    (root / "header" / "channels.wav").write_bytes(CHANNELS_65535)
    write_clip(root / "header_and_good" / "good.wav", 3.0)
    (root / "header_and_good" / "channels.wav").write_bytes(CHANNELS_65535)
    return root


def cli_cases(root: Path) -> dict[str, CliCase]:
    ws = str(root / "ws")
    return {
        "audit-long-name": CliCase(("audit", LONG_NAME), 1, "File name too long"),
        "audit-a-file": CliCase(("audit", str(root / "a_file")), 2, "is a file, not a folder"),
        "audit-json-unwritable": CliCase(
            ("audit", str(root / "empty_dir"), "--no-voice", "--json", "/proc/svcqa.json"),
            1,
            "/proc/svcqa.json",
        ),
        "slice-corrupt": CliCase(
            ("slice", str(root / "bad" / "corrupt.wav"), str(root / "pieces")), 1, "corrupt.wav"
        ),
        "slice-header-65535-channels": CliCase(
            ("slice", str(root / "header" / "channels.wav"), str(root / "pieces")),
            1,
            "Too many channels: 65535",
        ),
        "slice-folder-with-header-65535-channels": CliCase(
            ("slice", str(root / "header_and_good"), str(root / "pieces_of_two")),
            0,
            "Too many channels: 65535",
        ),
        "slice-into-its-source": CliCase(
            ("slice", str(root / "song.wav"), str(root / "pieces")), 2, "lies inside"
        ),
        "slice-long-name": CliCase(("slice", LONG_NAME, str(root / "pieces")), 1, "File name too long"),
        "prepare-speaker-traversal": CliCase(
            ("prepare", ws, "--speaker", "../../evil", "--plan-only", "--no-voice"),
            2,
            "not a safe folder name",
        ),
        "prepare-speaker-long": CliCase(
            ("prepare", ws, "--speaker", "s" * 300, "--plan-only", "--no-voice"), 2, "up to 80 characters"
        ),
        "prepare-source-missing": CliCase(
            ("prepare", ws, "--source", "../../nowhere", "--plan-only", "--no-voice"), 2, "does not exist"
        ),
        "prepare-workspace-long": CliCase(("prepare", LONG_NAME), 1, "File name too long"),
        "render-song-not-audio": CliCase(
            ("render", ws, "--song", "/etc/passwd"), 1, "not an audio file name"
        ),
        "render-song-corrupt": CliCase(
            ("render", ws, "--song", str(root / "corrupt.wav")), 1, "not readable audio"
        ),
        "render-song-long-name": CliCase(
            ("render", ws, "--song", LONG_NAME + ".wav"), 1, "File name too long"
        ),
        "cover-song-missing": CliCase(
            ("cover", ws, "--song", "../../nowhere.wav", "--step", "1", "--out", str(root / "c.wav")),
            2,
            "No song",
        ),
        "cover-out-into-songs": CliCase(
            ("cover", ws, "--song", str(root / "song.wav"), "--step", "1", "--out", f"{ws}/songs/x.wav"),
            2,
            "may not be in",
        ),
        "cover-out-wrong-type": CliCase(
            ("cover", ws, "--song", str(root / "song.wav"), "--step", "1", "--out", str(root / "c.exe")),
            2,
            "--out",
        ),
        "mix-out-unwritable": CliCase(
            (
                "mix",
                "--vocals",
                str(root / "song.wav"),
                "--instrumental",
                str(root / "song.wav"),
                "--out",
                "/proc/m.wav",
            ),
            1,
            "/proc/m.wav",
        ),
        "mix-vocals-corrupt": CliCase(
            (
                "mix",
                "--vocals",
                str(root / "corrupt.wav"),
                "--instrumental",
                str(root / "song.wav"),
                "--out",
                "m.wav",
            ),
            2,
            "corrupt.wav",
        ),
        "mix-instrumental-image": CliCase(
            (
                "mix",
                "--vocals",
                str(root / "song.wav"),
                "--instrumental",
                str(root / "image.wav"),
                "--out",
                "m.wav",
            ),
            2,
            "image.wav",
        ),
        "mix-vocals-header-65535-channels": CliCase(
            (
                "mix",
                "--vocals",
                str(root / "header" / "channels.wav"),
                "--instrumental",
                str(root / "song.wav"),
                "--out",
                "m.wav",
            ),
            2,
            "Too many channels: 65535",
        ),
        "separate-header-65535-channels": CliCase(
            (
                "separate",
                str(root / "header" / "channels.wav"),
                "--out",
                str(root / "stems"),
                "--no-download",
            ),
            2,
            "Too many channels: 65535",
        ),
        "pitch-header-65535-channels": CliCase(
            ("pitch", str(root / "header" / "channels.wav"), "--against", str(root / "empty_dir")),
            2,
            "Too many channels: 65535",
        ),
        "pitch-song-corrupt": CliCase(
            ("pitch", str(root / "corrupt.wav"), "--against", str(root / "empty_dir")), 2, "corrupt.wav"
        ),
        "preprocess-not-prepared": CliCase(
            ("preprocess", str(root / "empty_dir")), 2, "prepare the dataset first"
        ),
        "preprocess-long-name": CliCase(("preprocess", LONG_NAME), 1, "File name too long"),
        "train-status-long-name": CliCase(("train", "status", LONG_NAME), 1, "File name too long"),
        "train-start-missing": CliCase(("train", "start", str(root / "nowhere")), 2, "does not exist"),
        "train-watch-folder-missing": CliCase(
            ("train", "watch", ws, "--folder", "../../nowhere", "--once"), 2, "does not exist"
        ),
        "demo-into-a-file": CliCase(("demo", str(root / "a_file")), 2, "is a file"),
        "demo-under-a-file": CliCase(("demo", str(root / "a_file" / "ws")), 1, "Cannot create"),
        "serve-into-a-file": CliCase(
            ("serve", "--workspace", str(root / "a_file"), "--no-demo"), 2, "is a file"
        ),
        "password-empty": CliCase(
            ("password", "set", "--workspace", ws, "--stdin"), 1, "at least 10", stdin="\n"
        ),
        "listen-vote-hostile-pair": CliCase(
            ("listen", "vote", ws, "--listener", "eve", "--pair", "../../etc/passwd", "--choice", "A"),
            1,
            "error:",
        ),
        "listen-revoke-hostile-id": CliCase(("listen", "revoke", ws, "../../etc/passwd"), 1, "No invitation"),
        "export-wrong-type": CliCase(("export", ws, str(root / "model.exe"), "--step", "1"), 2, ".zip"),
        "export-nothing-registered": CliCase(
            ("export", ws, "../../evil.zip", "--step", "1"), 1, "No registered checkpoint"
        ),
    }


def _run_cli(case: CliCase, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svcqa", *case.argv],
        input=case.stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cwd / "xdg-cache")},
    )


@pytest.fixture(scope="module")
def cli_results(cli_root: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case run once, a few at a time (each is a fresh interpreter)."""
    cases = cli_cases(cli_root)
    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        done = {name: pool.submit(_run_cli, case, cli_root) for name, case in cases.items()}
        return {name: future.result() for name, future in done.items()}


@pytest.mark.parametrize("name", list(cli_cases(Path("/r"))))
def test_cli_refuses_each_bad_argument_with_one_clear_line(
    cli_root: Path, cli_results: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    case, done = cli_cases(cli_root)[name], cli_results[name]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == case.exit_code, (done.returncode, done.stderr[-1000:])
    assert case.says in done.stdout + done.stderr, (done.stdout[-1000:], done.stderr[-1000:])
    assert len(done.stderr) < 2000  # a long name is shortened, not echoed in full


def test_cli_leaves_no_file_outside_the_folders_it_was_given(
    cli_root: Path, cli_results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    assert not (cli_root / "../../evil.zip").resolve().exists() and not (cli_root / "m.wav").exists()
    assert not (cli_root / "ws" / "dataset_raw" / "evil").exists()
    assert sorted(p.name for p in (cli_root / "ws" / "songs").iterdir()) == []


def test_audit_of_a_folder_of_hostile_files_reports_each_one_and_measures_the_rest(cli_root: Path) -> None:
    out = cli_root / "hostile.json"
    done = _run_cli(
        CliCase(("audit", str(cli_root / "hostile"), "--no-voice", "--json", str(out)), 0, ""), cli_root
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {c["path"]: c for c in json.loads(out.read_text())["clips"]}
    assert rows["good.wav"]["readable"] and not rows["good.wav"]["error"]
    assert "empty" in rows["empty.wav"]["flags"] and "empty" in rows["header_only.wav"]["flags"]
    assert "unreadable" in rows["image.wav"]["flags"]
    assert "over the 2.0 GB limit" in rows["huge.wav"]["error"]
    assert "cannot be opened" in rows["dangling.wav"]["error"]
    assert "not valid UTF-8" in rows["\\xff\\xfe latin1.wav"]["error"]
    assert "unreadable" in rows["channels.wav"]["flags"]
    assert "Too many channels: 65535" in rows["channels.wav"]["error"]  # the decoder's reason


def test_slicing_a_folder_slices_the_good_file_beside_a_damaged_header(
    cli_root: Path, cli_results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    done = cli_results["slice-folder-with-header-65535-channels"]
    assert "channels.wav: skipped:" in done.stdout
    assert [p.name for p in (cli_root / "pieces_of_two").iterdir()] == ["good_001.wav"]


@pytest.mark.parametrize(
    "argv",
    [
        ("audit", "a\x00b"),
        ("prepare", "ws", "--speaker", "a\x00b"),
        ("render", "ws", "--song", "s\x00.wav"),
        ("mix", "--vocals", "v.wav", "--instrumental", "i.wav", "--out", "o\x00.wav"),
        ("train", "status", "w\x00s"),
        ("listen", "vote", "ws", "--listener", "a", "--pair", "p\x00", "--choice", "A"),
    ],
    ids=lambda argv: argv[0] if argv[0] != "train" else "train-status",
)
def test_arguments_with_nul_bytes_are_refused_as_bad_arguments(argv: tuple[str, ...]) -> None:
    """A shell cannot pass a NUL byte; a script calling ``main`` can."""
    result = CliRunner().invoke(main, list(argv))
    assert result.exit_code == 2, result.output
    assert "NUL byte" in result.output


# -- no shell strings -------------------------------------------------------------------------
_PROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen", "system", "popen", "spawnl", "execl"}


def _process_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _PROCESS_CALLS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in {"subprocess", "os"}
    ]


def test_no_process_is_started_from_a_shell_string() -> None:
    sources = [*sorted((REPO / "svcqa").rglob("*.py")), *sorted(REPO.glob("*.py"))]
    sources += sorted((REPO / page("x")).parent.glob("*.py"))
    found = []
    for path in sources:
        for call in _process_calls(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(REPO)}:{call.lineno}"
            assert call.func.attr not in {"system", "popen"}, f"{where} runs a shell"
            assert not any(k.arg == "shell" for k in call.keywords), f"{where} passes shell="
            if call.args:
                assert not isinstance(call.args[0], ast.Constant | ast.JoinedStr | ast.BinOp), (
                    f"{where} passes a command string, not an argument list"
                )
            found.append(where)
    assert len(found) >= 5  # the scan does see the calls


# -- decompression bombs: hours of silence in a 1 MB file -------------------------------------
MAX_WALL_S = 120.0
MAX_PEAK_RSS_BYTES = 1.5e9


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours of 44.1 kHz silence in a FLAC of about 1 MB (it decodes to 1.3 GB of floats)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.flac"
    with sf.SoundFile(path, "w", samplerate=SR, channels=1, format="FLAC", subtype="PCM_16") as out:
        minute = np.zeros(SR * 60, dtype=np.int16)
        for _ in range(120):
            out.write(minute)
    assert path.stat().st_size < 1_500_000
    return path


def run_measured(argv: list[str], cwd: Path) -> tuple[int, str, float, int]:
    """Run ``python -m svcqa ARGV``; return its exit code, its output, wall time and peak RSS (bytes)."""
    log = cwd / "measured.log"
    start = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "svcqa", *argv],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cwd / "xdg-cache")},
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, log.read_text(), time.monotonic() - start, usage.ru_maxrss * 1024


@pytest.mark.parametrize(
    ("argv", "exit_code", "says"),
    [
        (
            ("mix", "--vocals", "{bomb}", "--instrumental", "{song}", "--out", "mix.wav"),
            2,
            "limit of the mix",
        ),
        (("pitch", "{bomb}", "--against", "{folder}"), 2, "limit of the song check"),
        (("slice", "{bomb}", "{out}"), 1, "limit of slicing"),
        (("separate", "{bomb}", "--out", "{out}", "--no-download"), 2, "limit of separation"),
    ],
    ids=["mix", "pitch", "slice", "separate"],
)
def test_a_two_hour_bomb_is_refused_quickly_in_little_memory(
    bomb: Path, tmp_path: Path, argv: tuple[str, ...], exit_code: int, says: str
) -> None:
    song = write_clip(tmp_path / "folder" / "song.wav", 3.0)
    names = {"bomb": bomb, "song": song, "folder": song.parent, "out": tmp_path / "out"}
    code, output, wall_s, peak_bytes = run_measured([a.format(**names) for a in argv], tmp_path)
    assert "Traceback" not in output, output[-2000:]
    assert code == exit_code, output[-2000:]
    assert "it is 120 min long, over the" in output and says in output, output[-2000:]
    assert wall_s < MAX_WALL_S and peak_bytes < MAX_PEAK_RSS_BYTES, (wall_s, peak_bytes)
    assert not (tmp_path / "mix.wav").exists() and not (tmp_path / "out").exists()


# -- DNS rebinding: a page elsewhere whose name points at 127.0.0.1 ----------------------------
@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``svcqa serve`` (local mode, no password) on a workspace with one take; yields its port."""
    ws = Workspace(tmp_path_factory.mktemp("served") / "ws").ensure_layout()
    write_clip(ws.recordings / "singer" / "take.wav", 3.0)
    settings = ws.load_settings()
    ws.save_settings(settings.with_section("voice", embed_voices=False, score_quality=False))
    with running_server(ws.root, extra_args=("--no-demo", "--host", "studio.lan")) as url:
        yield int(url.rsplit(":", 1)[1])


def _dashboard(port: int, host: str) -> list[str]:
    """Return the headings a websocket naming ``host`` gets; raise when it is refused."""
    with streamlit_ws.session(port, host=host) as session:
        return session.run().headings


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "evil.example", "localhost:1", "10.0.0.7:{port}", "127.0.0.1.nip.io:{port}"],
)
def test_a_websocket_naming_a_foreign_host_gets_no_dashboard(local_server: int, host: str) -> None:
    with pytest.raises(InvalidStatus, match="403"):
        _dashboard(local_server, host.format(port=local_server))
    request = urllib.request.Request(
        f"http://127.0.0.1:{local_server}/", headers={"Host": host.format(port=local_server)}
    )
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(request, timeout=30)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "studio.lan"])
def test_the_names_the_server_serves_get_the_dashboard(local_server: int, host: str) -> None:
    assert "Dataset" in _dashboard(local_server, host.format(port=local_server))


# -- prepare, the CSV report and the terminal ------------------------------------------------------
def test_prepare_refuses_a_recording_that_is_a_symlink_leading_out_and_prepares_the_rest(
    app_ws: Workspace, linked_out: Path
) -> None:
    done = _run_cli(
        CliCase(("prepare", str(app_ws.root), "--source", "recordings/singer", "--no-voice"), 0, ""),
        app_ws.root,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "linked.wav is a symbolic link leading outside singer/" in done.stdout + done.stderr
    prepared = listing(app_ws.dataset_raw / "singer")
    assert prepared == ["take.wav"]


def test_the_audit_csv_escapes_cells_a_spreadsheet_would_run(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    for name in ("=HYPERLINK(1).wav", "+1.wav", "-rf.wav", "@SUM(A1).wav", "plain.wav"):
        write_clip(folder / name, 3.0)
    report = json.loads(
        _run_cli(CliCase(("audit", str(folder), "--no-voice", "--json", "-"), 0, ""), tmp_path).stdout
    )
    rows = list(csv.DictReader(io.StringIO(to_csv(report).decode())))
    assert sorted(r["path"] for r in rows) == [
        "'+1.wav",
        "'-rf.wav",
        "'=HYPERLINK(1).wav",
        "'@SUM(A1).wav",
        "plain.wav",
    ]
    text = [r[k] for r in rows for k in ("path", "flags", "problem") if k in r]
    assert not [cell for cell in text if cell.startswith(FORMULA_STARTS)]
    assert all(float(r["lufs"]) < 0 for r in rows)  # numbers stay numbers, a minus sign and all


def test_the_cli_prints_escape_sequences_in_file_names_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    write_clip(folder / "take\x1b[2J\x1b]0;owned\x07.wav", 1.0)
    done = _run_cli(CliCase(("audit", str(folder), "--no-voice"), 0, ""), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout + done.stderr
    assert "take\\x1b[2J\\x1b]0;owned\\x07.wav" in done.stdout
