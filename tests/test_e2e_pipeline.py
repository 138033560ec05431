"""The whole pipeline in a real browser, as a user goes through it, with the tiny CPU models.

Dataset (see the flags) -> Prepare (clips, then so-vits-svc preprocessing) -> Train (until
checkpoints appear) -> Renders (the worker sings the test song through every checkpoint) ->
Listen (blind votes until reveal, export, download) -> Cover (separate, convert, mix, download).
The test only clicks and reads the page; it looks at the workspace to know when a background
job is done, as a user would wait for it. Screenshots of every page go to test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf
from playwright.sync_api import expect

from svcqa.core import jobs
from svcqa.core.settings import Settings
from svcqa.core.store import Store
from svcqa.core.workspace import Workspace
from svcqa.demo.model import demo_train_settings
from svcqa.demo.singer import create_demo
from svcqa.demo.synth import sung_phrase
from svcqa.demo.tiny_models import build_tiny_contentvec, tiny_config_edits, tiny_env
from svcqa.demo.tiny_separation_model import build_tiny_separation_models
from svcqa.engines import svc
from svcqa.listen import render_worker
from svcqa.listen.ranking import results
from svcqa.listen.stimuli import stimuli_from_renders
from svcqa.train import checkpoints
from tests.blindness import page_leaks, presented_audio
from tests.browser import CHROMIUM, SCREENSHOTS, chromium_page, running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is installed by `make test`"),
]
TRAIN_STEPS = 8
MINUTE_MS = 60_000


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll_s)


def _workspace(root: Path) -> Workspace:
    """A demo workspace set up to use the tests' tiny models (what `demo --with-model` sets up)."""
    ws = Workspace(root).ensure_layout()
    create_demo(ws)
    hf_home = ws.state_dir / "hf_home"
    build_tiny_contentvec(hf_home)
    svc.set_workspace_overrides(ws, env=tiny_env(hf_home), config_edits=tiny_config_edits())
    models = build_tiny_separation_models(ws.separation_models)
    base = Settings()
    ws.save_settings(
        base.with_section("render", min_step=0, measure_metrics=False)
        .with_section(
            "separation",
            allow_download=False,
            vocals_model=models["vocals"],
            dereverb_model=models["dereverb"],
            karaoke_model=models["karaoke"],
        )
        .with_section("train", **demo_train_settings(TRAIN_STEPS).__dict__)
    )
    sf.write(ws.songs / "test_song.wav", sung_phrase([62, 64, 66, 67, 69, 67], 1.5, 44_100, seed=7), 44_100)
    return ws


def _secrets(ws: Workspace) -> set[str]:
    """Return what names a checkpoint besides its step: hashes, render ids and file names."""
    found = set()
    for stim in stimuli_from_renders(ws):
        found |= {stim.checkpoint_sha256, stim.checkpoint_sha256[:12], stim.render_id, stim.path.name}
    return found


def _go(page, url: str, name: str) -> None:
    page.get_by_role("link", name=name).first.click()
    page.wait_for_timeout(2000)


def _shot(page, name: str) -> None:
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_whole_pipeline_in_the_browser(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with running_server(ws.root) as url, chromium_page() as page:
        page.set_default_timeout(2 * MINUTE_MS)

        # Dataset: the planted problems and the mixing verdict.
        page.goto(url, wait_until="networkidle")
        page.get_by_text("Clips with problems").wait_for()
        page.get_by_text("Mixed dataset").wait_for()
        _shot(page, "01-dataset")
        page.get_by_role("tab", name="Speech vs singing").click()
        page.get_by_text("demo_singer/spoken_intro.wav").first.wait_for()

        # Prepare: clean copies into dataset_raw, then so-vits-svc preprocessing as a job.
        _go(page, url, "Prepare")
        page.get_by_role("button", name=re.compile(r"^Prepare \d+ clips")).click()
        page.get_by_text("Last run").wait_for()
        assert len(list((ws.dataset_raw / "demo_singer").glob("*.wav"))) >= 5
        page.get_by_role("button", name="Run preprocessing").click()
        page.get_by_text("Preprocessing finished").wait_for(timeout=10 * MINUTE_MS)
        _shot(page, "02-prepare")

        # Train: start, then watch checkpoints appear on the page until the target step.
        _go(page, url, "Train")
        page.get_by_role("button", name="Start training").click()
        _wait_for(lambda: len(checkpoints.list_checkpoints(ws)) >= 2, 15 * 60, "two checkpoints")
        _wait_for(lambda: not any(j.running for j in jobs.list_jobs(ws, "train")), 10 * 60, "training to end")
        page.reload(wait_until="networkidle")
        page.get_by_role("tab", name="Checkpoints").click()
        newest = checkpoints.list_checkpoints(ws)[-1].step
        page.get_by_text(re.compile(rf"\b{newest}\b")).first.wait_for()
        _shot(page, "03-train")

        # Renders: add the suggested excerpt, let the worker render every checkpoint.
        _go(page, url, "Renders")
        page.get_by_role("button", name="Add excerpt").click()
        page.get_by_text("Every checkpoint will render").wait_for()
        page.get_by_role("button", name="Start worker").click()
        wanted = len(checkpoints.list_checkpoints(ws))
        _wait_for(lambda: len(stimuli_from_renders(ws)) >= wanted, 15 * 60, "a render per checkpoint")
        page.get_by_role("button", name="Stop worker").click()
        _wait_for(lambda: render_worker.running(ws) is None, 120, "the render worker to stop")
        page.get_by_role("button", name="Refresh").click()
        steps = sorted({s.checkpoint_step for s in stimuli_from_renders(ws)})
        page.get_by_text(f"step {steps[-1]:,}", exact=True).wait_for()  # the owner sees the steps
        _shot(page, "04-renders")

        # Owner blind mode: the players lose their steps; the whole session stays blind until reveal.
        secrets = _secrets(ws)
        page.get_by_text("I am taking the test too").click()
        page.get_by_text("render 1", exact=True).wait_for()
        # The players of the run before stay on the page (stale) until the blind run has finished.
        expect(page.get_by_text(re.compile(r"^step [\d,]+$"))).to_have_count(0, timeout=MINUTE_MS)
        assert page_leaks(page, secrets, step_labels=False) == []
        _shot(page, "04-renders-blind")

        # Listen: vote blind until every checkpoint had its comparisons, reveal, export.
        _go(page, url, "Listen")
        page.get_by_role("textbox", name="Your name").fill("e2e listener")
        page.get_by_role("button", name="Start listening").click()
        store = Store(ws.db_path)

        def can_reveal() -> bool:
            return results(store, stimuli_from_renders(ws)).refusal is None

        presented: list[bytes] = []
        for _ in range(60):
            if can_reveal():
                break
            votes = results(store, stimuli_from_renders(ws)).votes
            _wait_for(lambda: bool(presented_audio(page)), 60, "the pair's audio", poll_s=0.5)
            shown = presented_audio(page)
            presented += shown
            page.get_by_role("button", name="A is better").click()
            _wait_for(
                lambda votes=votes: results(store, stimuli_from_renders(ws)).votes > votes,
                60,
                "the vote to be stored",
                poll_s=0.5,
            )
            _wait_for(
                lambda shown=shown: presented_audio(page) not in ([], shown), 60, "the next pair", poll_s=0.5
            )
            page.wait_for_timeout(1500)
        assert can_reveal()
        assert "step" not in page.inner_text("body").lower().split("reveal")[0]
        # Before reveal the whole page is blind: text, attributes, URLs, the audio and its metadata.
        assert page_leaks(page, secrets) == []
        assert len(presented) >= 4 and len(set(presented)) == len(presented)  # no two files share bytes
        page.evaluate(
            "() => document.body.insertAdjacentHTML('beforeend', "
            '\'<span id="planted" style="display:none">step 8</span>\')'
        )
        assert any("step label 'step 8'" in leak for leak in page_leaks(page, secrets))  # the check can fail
        page.evaluate("() => document.getElementById('planted').remove()")
        _shot(page, "05-listen-blind")
        page.get_by_role("button", name="Reveal the checkpoints").click()
        page.get_by_role("button", name="Export").wait_for(timeout=5 * MINUTE_MS)
        page.get_by_text(re.compile(r"^Use step [\d,]+$")).wait_for()  # the answer, with the export beside it
        page.get_by_role("button", name="Export").click()
        # Export writes the zip in the page's rerun; on a loaded machine that can take minutes.
        page.get_by_text(re.compile(r"^Wrote exports/")).first.wait_for(timeout=5 * MINUTE_MS)
        page.get_by_role("button", name=re.compile(r"^Download .*\.zip")).wait_for(timeout=5 * MINUTE_MS)
        with page.expect_download() as model_download:
            page.get_by_role("button", name=re.compile(r"^Download .*\.zip")).click()
        model_zip = downloads / "model.zip"
        model_download.value.save_as(model_zip)
        with zipfile.ZipFile(model_zip) as archive:
            names = archive.namelist()
        assert "config.json" in names and any(re.fullmatch(r"G_\d+\.pth", n) for n in names)
        _shot(page, "05-listen-revealed")

        # Cover: separate, convert with a checkpoint, mix, download.
        _go(page, url, "Cover")
        page.get_by_role("button", name=re.compile(r"^Run pipeline")).click()
        _wait_for(lambda: bool(jobs.list_jobs(ws, "cover")), 120, "the cover job to start")
        _wait_for(lambda: not any(j.running for j in jobs.list_jobs(ws, "cover")), 10 * 60, "the cover job")
        assert jobs.list_jobs(ws, "cover")[0].state == "succeeded", jobs.log_tail(
            ws, jobs.list_jobs(ws, "cover")[0].id
        )
        page.reload(wait_until="networkidle")
        with page.expect_download() as cover_download:
            page.get_by_role("button", name="Download cover").click()
        cover_file = downloads / cover_download.value.suggested_filename
        cover_download.value.save_as(cover_file)
        info = sf.info(str(cover_file)) if cover_file.suffix in (".wav", ".flac") else None
        assert cover_file.stat().st_size > 10_000
        if info:
            assert info.duration > 5.0
        _shot(page, "06-cover")
    shutil.rmtree(ws.logs_44k, ignore_errors=True)  # the D_*.pth files are 560 MB each
