"""One real tiny training on CPU, shared by every test here: watcher, archive, re-attach, the
Train page, stop with a save, resume, event files.

The scenario (module fixture, a few minutes on a loaded 2-core machine):

1. start from scratch, checkpoints every 4 steps, so-vits-svc-fork keeping only 1 pair;
2. once the watcher registered the first checkpoint: a fresh process reads the status
   (a server restart re-attaching), and the Train page, in AppTest, shows the run and is
   used to press Stop;
3. the run saves at the end of its epoch and exits; rotation has deleted the first checkpoint;
4. ``train start --target-steps saved+2`` resumes, runs two steps and hard-stops, saved.

The discriminator checkpoints (about 560 MB each) are deleted afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from streamlit.testing.v1 import AppTest

from svcqa.core import jobs
from svcqa.core.files import file_sha256
from svcqa.core.settings import TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.demo.tiny_models import tiny_train_settings
from svcqa.engines import tb_events
from svcqa.train import checkpoints, training

if TYPE_CHECKING:
    from tests.svc_fixtures import TinyPreprocessed

pytest_plugins = ["tests.svc_fixtures"]
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = str(REPO_ROOT / "streamlit_app.py")
EVAL_INTERVAL = 4
WAIT_S = 480.0
TRAIN = dataclasses.replace(
    tiny_train_settings(),
    target_steps=60,
    eval_interval=EVAL_INTERVAL,
    log_interval=2,
    keep_ckpts_when_archived=1,
    progress_interval_s=0.5,
    checkpoint_settle_s=0.5,
    stop_timeout_s=120.0,
    stop_finish_epoch_s=120.0,
)


@dataclass(frozen=True)
class Scenario:
    workspace: Workspace
    first: checkpoints.Checkpoint
    reattached: dict[str, Any]
    page_while_running: dict[str, Any]
    stopped: jobs.Job
    stopped_progress: training.Progress
    stop_took_s: float
    resumed_run: dict[str, Any]
    resumed: jobs.Job
    resumed_progress: training.Progress
    first_status: training.TrainStatus


def _cli(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svcqa", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _wait_for(predicate: Any, ws: Workspace, job: jobs.Job, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        current = jobs.get(ws, job.id)
        if not current.running:
            pytest.fail(f"training ended ({current.state}) before {what}:\n{jobs.log_tail(ws, job.id, 80)}")
        time.sleep(0.5)
    jobs.stop(ws, job.id, timeout_s=10)
    pytest.fail(f"no {what} after {WAIT_S} s:\n{jobs.log_tail(ws, job.id, 80)}")


def _page(root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("SVCQA_WORKSPACE", str(root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def scenario(tiny_preprocessed: TinyPreprocessed, tmp_path_factory: pytest.TempPathFactory) -> Any:
    ws = tiny_preprocessed.copy_to(tmp_path_factory.mktemp("train") / "ws")
    settings = ws.load_settings()
    ws.save_settings(dataclasses.replace(settings, train=TRAIN))
    monkeypatch = pytest.MonkeyPatch()
    try:
        run = training.start(ws, TRAIN, env=tiny_preprocessed.env)
        job = jobs.get(ws, run.job_id)
        first = _wait_for(lambda: checkpoints.list_checkpoints(ws), ws, job, "a registered checkpoint")[0]

        status = _cli("train", "status", str(ws.root), "--json")
        reattached = json.loads(status.stdout) if status.returncode == 0 else {"error": status.stderr}

        at = _page(ws.root, monkeypatch)
        page = {
            "state": at.metric[0].value,
            "buttons": {b.key: b.disabled for b in at.button},
            "exception": list(at.exception),
        }
        stopping = time.monotonic()
        at.button(key="train_stop").click().run()
        page["stop_requested"] = training.stop_requested(ws, job)
        stopped = jobs.wait(ws, job.id, timeout_s=WAIT_S)
        stop_took_s = time.monotonic() - stopping
        stopped_progress = training.read_progress(ws, stopped)
        first_status = training.status(ws)

        resumed_out = _cli(
            "train", "start", str(ws.root), "--target-steps", str(stopped_progress.saved_step + 2), "--json"
        )
        assert resumed_out.returncode == 0, resumed_out.stderr
        resumed_run = json.loads(resumed_out.stdout)
        resumed = jobs.wait(ws, resumed_run["job_id"], timeout_s=WAIT_S)
        resumed_progress = training.read_progress(ws, resumed)
        yield Scenario(
            ws,
            first,
            reattached,
            page,
            stopped,
            stopped_progress,
            stop_took_s,
            resumed_run,
            resumed,
            resumed_progress,
            first_status,
        )
    finally:
        monkeypatch.undo()
        for job in jobs.list_jobs(ws):
            if job.running:
                jobs.stop(ws, job.id, timeout_s=5)
        for discriminator in ws.logs_44k.glob("D_*.pth"):
            discriminator.unlink()


def test_watcher_registers_each_checkpoint_with_the_step_in_its_name(scenario: Scenario):
    found = checkpoints.list_checkpoints(scenario.workspace)
    saved = scenario.stopped_progress.saved_step
    steps = [c.step for c in found]
    assert steps[0] == EVAL_INTERVAL
    assert steps[-2:] == [saved, saved + 2]
    assert steps == sorted(set(steps))
    for checkpoint in found:
        assert checkpoint.path.name == f"G_{checkpoint.step}.pth"
        assert not checkpoint.step_derived
        assert checkpoint.sha256 == file_sha256(checkpoint.available_path)


def test_checkpoint_rotated_away_by_so_vits_svc_fork_is_still_in_the_archive(scenario: Scenario):
    first = scenario.first
    assert not first.path.exists()  # keep_ckpts 1: rotated out of logs/44k
    assert first.archived_path.is_file()
    assert file_sha256(first.archived_path) == first.sha256
    assert json.loads((scenario.workspace.logs_44k / "config.json").read_text())["train"]["keep_ckpts"] == 1


def test_a_fresh_process_reattaches_to_the_running_job(scenario: Scenario):
    data = scenario.reattached
    assert data["state"] == "running", data
    assert isinstance(data["step"], int) and data["step"] >= EVAL_INTERVAL
    listed = data["checkpoints"][0]
    assert {"path", "step", "step_derived", "sha256", "archived_path"} <= set(listed)
    assert listed["step"] == EVAL_INTERVAL


def test_train_page_shows_the_running_job_and_its_stop_button_requests_a_save(scenario: Scenario):
    page = scenario.page_while_running
    assert page["exception"] == []
    assert page["state"] in {"training", "stopping"}
    assert page["buttons"]["train_start"] is True  # disabled while running
    assert page["buttons"]["train_stop"] is False
    assert page["stop_requested"] is True


def test_stop_saves_the_current_step_then_exits(scenario: Scenario):
    print(f"stop took {scenario.stop_took_s:.1f} s")
    job, progress = scenario.stopped, scenario.stopped_progress
    assert (job.state, job.exit_code) == ("stopped", 0)
    assert progress.state == "stopped"
    assert progress.saved_step == progress.step
    saved = checkpoints.list_checkpoints(scenario.workspace)
    assert progress.saved_step in [c.step for c in saved]
    assert f"svcqa: saving checkpoints at step {progress.saved_step}" in jobs.log_tail(
        scenario.workspace, job.id, max_lines=400
    )
    # An epoch holds two batches here; so-vits-svc-fork resumes at an epoch's start, so the stop
    # waited for the epoch's end.
    assert progress.saved_step % progress.steps_per_epoch == 1


def test_resume_continues_from_the_saved_step_and_stops_at_the_target(scenario: Scenario):
    saved = scenario.stopped_progress.saved_step
    assert scenario.resumed_run["resumed_from_step"] == saved
    assert scenario.resumed_run["target_steps"] == saved + 2
    progress = scenario.resumed_progress
    assert progress.started_step == saved
    assert (scenario.resumed.state, scenario.resumed.exit_code) == ("succeeded", 0)
    assert (progress.state, progress.saved_step, progress.reason) == ("finished", saved + 2, "target reached")
    assert sorted(p.name for p in scenario.workspace.logs_44k.glob("G_*.pth")) == [f"G_{saved + 2}.pth"]


def test_loss_curves_are_read_from_the_runs_event_files(scenario: Scenario):
    series = tb_events.read_scalars(scenario.workspace.logs_44k)
    assert {"loss/g/total", "loss/g/mel", "loss/d/total", "lr"} <= set(series)
    total = series["loss/g/total"]
    saved = scenario.stopped_progress.saved_step
    assert total.steps == tuple(sorted(set(total.steps)))
    assert total.steps[-1] == saved + 2
    assert saved + 1 in total.steps  # the resumed run logged on from the saved step
    assert all(value > 0 for value in total.values)


def test_status_reports_the_offline_start_from_random_weights(scenario: Scenario):
    codes = [d.code for d in scenario.first_status.diagnoses]
    assert codes == ["pretrained_missing"]
    assert scenario.first_status.state == "stopped"


def test_train_page_after_the_run_lists_every_checkpoint(scenario: Scenario, monkeypatch: pytest.MonkeyPatch):
    at = _page(scenario.workspace.root, monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    saved = scenario.stopped_progress.saved_step
    assert metrics["State"] == "stopped"
    assert metrics["Step"] == str(saved + 2)
    table = next(df.value for df in at.dataframe if "sha256" in df.value.columns)
    assert list(table["step"]) == sorted(
        (c.step for c in checkpoints.list_checkpoints(scenario.workspace)), reverse=True
    )
    assert at.button(key="train_start").label == f"Resume from step {saved + 2}"
    assert not at.button(key="train_start").disabled


def test_train_settings_used_are_recorded_with_the_job(scenario: Scenario):
    run = training.read_run(scenario.workspace, scenario.stopped)
    assert run is not None
    assert run.resumed_from_step is None
    assert run.gpus == ()  # no GPU on this machine
    assert len(run.config_sha256) == 64
    assert TrainSettings(**run.settings).eval_interval == EVAL_INTERVAL
