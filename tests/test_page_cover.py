"""The Cover page in Streamlit's AppTest: every stage for real, with tiny models, as a background job.

Separation runs audio-separator's ``Separator`` with the tiny stand-in models; conversion runs
the conversion engine renders use, with the tiny checkpoint trained by ``tests.svc_fixtures``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from svcqa.core import jobs
from svcqa.core.workspace import Workspace
from svcqa.cover import jobs as cover_jobs
from svcqa.cover import pipeline as cover
from svcqa.demo.tiny_separation_model import TINY_MODELS, build_tiny_separation_models
from svcqa.engines.separation_models import MODEL_ENV_VAR
from svcqa.train import checkpoints
from tests.audio_files import tree_fingerprint

pytest_plugins = ["tests.svc_fixtures"]

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "streamlit_app.py")
SR = 44_100
JOB_TIMEOUT_S = 240.0


def _song_bytes(seconds: float = 2.0) -> bytes:
    """A stereo 'song': a sung-like vibrato tone over a bass line, as WAV bytes."""
    t = np.arange(int(seconds * SR)) / SR
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t))
    bass = 0.3 * np.sin(2 * np.pi * 82.4 * t)
    buffer = io.BytesIO()
    sf.write(buffer, np.stack([voice + bass, 0.8 * voice + bass], axis=1), SR, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cover_ws(tmp_path_factory: pytest.TempPathFactory, tiny_trained) -> Workspace:
    """A workspace of its own with the tiny separation models and the tiny trained checkpoint."""
    ws = Workspace(tmp_path_factory.mktemp("cover") / "ws").ensure_layout()
    build_tiny_separation_models(ws.separation_models)
    generator = ws.logs_44k / tiny_trained.generator_path.name
    shutil.copyfile(tiny_trained.generator_path, generator)
    shutil.copyfile(tiny_trained.workspace.logs_44k / "config.json", ws.logs_44k / "config.json")
    checkpoints.register(ws, generator, settle_s=0.01)
    settings = ws.load_settings()
    ws.save_settings(
        dataclasses.replace(
            settings,
            separation=dataclasses.replace(
                settings.separation,
                allow_download=False,
                **{f"{stage}_model": tiny.filename for stage, tiny in TINY_MODELS.items()},
            ),
            cover=dataclasses.replace(settings.cover, f0_method="parselmouth"),
            # The toy voice after 10 training steps is a DC offset of about -0.037 with a faint
            # buzz (-62 LUFS): the vocal chain's high-pass removes the DC, which the limiter would
            # otherwise squash the mix against, and the low balance keeps the buzz quiet.
            mix=dataclasses.replace(settings.mix, balance_db=-20.0, vocal_chain=True),
        )
    )
    return ws


@pytest.fixture
def page_env(monkeypatch: pytest.MonkeyPatch, tiny_svc_env: dict[str, str], cover_ws: Workspace) -> Workspace:
    """Point the app at the workspace and give the jobs it starts the tiny offline ContentVec."""
    monkeypatch.setenv("SVCQA_WORKSPACE", str(cover_ws.root))
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    for name, value in tiny_svc_env.items():
        monkeypatch.setenv(name, value)
    return cover_ws


def _workspace_with_a_song_and_a_stand_in_checkpoint(tmp_path: Path) -> Workspace:
    """Return a workspace with a 1 s song, a one-speaker config and a registered G_100.pth that is
    not a real generator (enough for the page's settings and its missing-model checks)."""
    ws = Workspace(tmp_path / "ws").ensure_layout()
    (ws.songs / "song.wav").write_bytes(_song_bytes(1.0))
    (ws.logs_44k / "config.json").write_text(json.dumps({"spk": {"singer": 0}}), encoding="utf-8")
    (ws.logs_44k / "G_100.pth").write_bytes(b"stand-in generator")
    checkpoints.register(ws, ws.logs_44k / "G_100.pth", settle_s=0.01)
    return ws


def _cover_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/cover.py").run()
    assert not at.exception, at.exception
    return at


def _wait_for_job(at: AppTest, ws: Workspace) -> jobs.Job:
    """Re-run the page (as the live panel does) until the newest cover job ends; return it."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    job = cover_jobs.latest_job(ws)
    assert job is not None
    while job.running:
        assert time.monotonic() < deadline, jobs.log_tail(ws, job.id)
        at.run()
        assert not at.exception, at.exception
        time.sleep(1.0)
        job = jobs.get(ws, job.id)
    at.run()
    assert not at.exception, at.exception
    return job


def _job_statuses(job: jobs.Job) -> dict[str, str]:
    progress = cover_jobs.job_progress(job)
    assert progress is not None and progress.finished
    return {line.stage: line.status for line in progress.stages}


@pytest.mark.slow
def test_upload_run_every_stage_listen_change_transpose_and_rerun_one_stage(page_env: Workspace) -> None:
    ws = page_env
    at = _cover_page()
    assert any("No songs yet" in info.value for info in at.info)

    at.file_uploader(key="cover_upload").set_value(("My Song (live).wav", _song_bytes(), "audio/wav")).run()
    at.button(key="cover_upload_save").click().run()
    assert at.selectbox(key="cover_song").value == "My_Song_live.wav"
    songs_before = tree_fingerprint(ws.songs)

    # Options come from the saved settings: the tiny models, the trained checkpoint, parselmouth.
    assert at.selectbox(key="cover_model_vocals").value == TINY_MODELS["vocals"].filename
    assert at.selectbox(key="cover_model_karaoke").value == TINY_MODELS["karaoke"].filename
    assert "step 10" in at.selectbox(key="cover_checkpoint").format_func(
        at.selectbox(key="cover_checkpoint").value
    )
    assert at.selectbox(key="cover_f0").value == "parselmouth"
    assert "5 of 5 stages to make" in at.button(key="cover_run").label

    at.button(key="cover_run").click().run()
    assert not at.exception, at.exception
    job = _wait_for_job(at, ws)

    assert job.state == "succeeded", jobs.log_tail(ws, job.id, 60)
    assert _job_statuses(job) == dict.fromkeys(cover.STAGES, "ran")
    assert "all cached" in at.button(key="cover_run").label
    assert len(at.get("audio")) == 2 * 3 + 1 + 1 + 1  # separation pairs, converted, mix, A/B
    assert at.radio(key="cover_ab").value == "A: original song"
    downloads = {b.key for b in at.get("download_button")} if at.get("download_button") else set()
    assert {"cover_download_cover", "cover_download_converted", "cover_download_instrumental"} <= downloads
    planned = cover.plan(ws, cover_jobs.job_request(job))
    converted = sf.info(planned.path("convert"))
    assert converted.samplerate == SR and converted.duration == pytest.approx(2.0, abs=0.1)
    mixed = planned.outcome("mix").record.details
    assert abs(mixed["lufs"] - -14.0) <= 0.5 and mixed["true_peak_dbtp"] <= -1.0

    # A new transpose makes only the conversion and the mix again.
    at.number_input(key="cover_transpose").set_value(-3).run()
    assert "2 of 5 stages to make" in at.button(key="cover_run").label
    at.button(key="cover_run").click().run()
    job = _wait_for_job(at, ws)
    assert job.state == "succeeded", jobs.log_tail(ws, job.id, 60)
    assert _job_statuses(job) == {
        **dict.fromkeys(cover.SEPARATION_STAGES, "cached"),
        "convert": "ran",
        "mix": "ran",
    }
    assert ws.load_settings().cover.transpose_semitones == -3

    # One stage again, alone.
    at.button(key="cover_rerun_mix").click().run()
    job = _wait_for_job(at, ws)
    assert _job_statuses(job) == {**dict.fromkeys(cover.STAGES[:-1], "cached"), "mix": "ran"}
    at.radio(key="cover_ab").set_value("B: cover").run()
    assert not at.exception, at.exception
    assert tree_fingerprint(ws.songs) == songs_before


def test_missing_model_names_the_file_and_folder_and_blocks_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ws = _workspace_with_a_song_and_a_stand_in_checkpoint(tmp_path)
    folder = tmp_path / "models"
    names = build_tiny_separation_models(folder)
    (folder / names["dereverb"]).unlink()
    settings = ws.load_settings()
    separation = dataclasses.replace(
        settings.separation, allow_download=False, **{f"{stage}_model": name for stage, name in names.items()}
    )
    ws.save_settings(dataclasses.replace(settings, separation=separation))
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    monkeypatch.setenv(MODEL_ENV_VAR, str(folder))

    at = _cover_page()

    assert any(names["dereverb"] in e.value and str(folder) in e.value for e in at.error)
    assert f"`{folder}`" in " ".join(c.value for c in at.caption)
    assert at.button(key="cover_run").disabled
    assert "cover_model_dereverb" in [s.key for s in at.selectbox]


@pytest.mark.slow
def test_cover_command_reuses_the_pages_stages_and_writes_the_cover(
    page_env: Workspace, tiny_svc_env: dict[str, str], tmp_path: Path
) -> None:
    # After the page test every stage but a FLAC mix is cached for these settings; alone, this
    # test makes them all.
    ws = page_env
    if not any(ws.songs.iterdir()):
        (ws.songs / "My_Song_live.wav").write_bytes(_song_bytes())
    song = sorted(ws.songs.iterdir())[0]
    out, report = tmp_path / "cover.flac", tmp_path / "cover.json"
    settings = ws.load_settings()

    done = subprocess.run(
        [
            sys.executable, "-m", "svcqa", "cover", str(ws.root), "--song", f"songs/{song.name}",
            "--step", "10", "--out", str(out), "--transpose", str(settings.cover.transpose_semitones),
            "--json", str(report),
        ],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, **tiny_svc_env, "PYTHONPATH": str(REPO)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert {"out", "lufs", "true_peak_dbtp", "duration_s", "stages"} <= set(data)
    assert data["out"] == str(out) and sf.info(out).format == "FLAC"
    assert abs(data["lufs"] - settings.mix.target_lufs) <= 0.5
    assert data["stages"][-1]["stage"] == "mix" and data["stages"][-1]["status"] == "ran"
    assert "Cover:" in done.stdout


def test_songs_uploaded_on_the_cover_page_keep_the_songs_size_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    song = _song_bytes(1.0)
    ws.save_settings(ws.load_settings().with_section("uploads", max_song_bytes=len(song) - 1))
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    at = _cover_page()

    at.file_uploader(key="cover_upload").set_value(("big.wav", song, "audio/wav")).run()
    at.button(key="cover_upload_save").click().run()

    assert any("over the" in e.value and "limit" in e.value for e in at.error)
    assert not any(ws.songs.iterdir())


def test_cover_page_shows_the_conversion_settings_renders_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ws = _workspace_with_a_song_and_a_stand_in_checkpoint(tmp_path)
    ws.save_settings(ws.load_settings().with_section("conversion", silence_threshold_db=-33))
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))

    at = _cover_page()

    assert any("the same for renders and covers" in c.value and "33 dB" in c.value for c in at.caption)
