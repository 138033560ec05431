"""Training on two CPU processes through Lightning DDP (gloo), with the tiny model: the stop that
saves, progress, the registry, a kill -9 and the resume after it.

The scenario (module fixture, a few minutes on a loaded 2-core machine):

1. ``train start --devices 2 --accelerator cpu`` from scratch, a checkpoint every 3 steps;
2. once the first is registered: ``train status --json`` from a fresh process, and the ranks;
3. ``train stop``: rank 0 saves once, every rank ends;
4. ``train start`` resumes on two processes; after its first new checkpoint rank 0 is killed
   with SIGKILL: rank 1 ends by itself, the job is diagnosed;
5. ``train start --target-steps newest+2`` resumes from the newest checkpoint and finishes.

The discriminator checkpoints (about 560 MB each) are deleted afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from svcqa.core import jobs
from svcqa.core.files import file_sha256
from svcqa.core.workspace import Workspace
from svcqa.demo.tiny_models import tiny_train_settings
from svcqa.train import checkpoints, training

if TYPE_CHECKING:
    from tests.svc_fixtures import TinyPreprocessed

pytest_plugins = ["tests.svc_fixtures"]
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
EVAL_INTERVAL = 3
WAIT_S = 480.0
TRAIN = dataclasses.replace(
    tiny_train_settings(),
    target_steps=500,
    eval_interval=EVAL_INTERVAL,
    log_interval=2,
    keep_ckpts_when_archived=2,
    progress_interval_s=0.5,
    checkpoint_settle_s=0.5,
    stop_timeout_s=120.0,
    stop_finish_epoch_s=120.0,
    devices=2,
    accelerator="cpu",
    rank_watch_s=0.5,
)


@dataclass(frozen=True)
class Scenario:
    workspace: Workspace
    started: dict[str, Any]
    status_while_running: dict[str, Any]
    ranks_while_running: int
    stopped: jobs.Job
    stopped_progress: training.Progress
    ranks_after_stop: int
    resumed: dict[str, Any]
    killed_at_step: int
    killed: jobs.Job
    ranks_after_kill: int
    killed_status: training.TrainStatus
    finished_run: dict[str, Any]
    finished: jobs.Job
    finished_progress: training.Progress


def _cli(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "svcqa", *args, "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _processes(job: jobs.Job) -> list[psutil.Process]:
    """Return the job's training processes: the ranks and their data loader workers."""
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == job.pid and "svcqa.train.entry" in process.cmdline():
                found.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def _ranks(job: jobs.Job) -> list[psutil.Process]:
    """Return the job's DDP ranks: rank 0 (the runner's child) and the processes Lightning
    started from it with their own ``LOCAL_RANK`` (its data loader workers have none)."""
    processes = _processes(job)
    rank_zero = [p for p in processes if p.ppid() == job.pid]
    started = [
        p
        for p in processes
        if rank_zero and p.ppid() == rank_zero[0].pid and p.environ().get("LOCAL_RANK", "0") != "0"
    ]
    return rank_zero + started


def _wait_for(predicate: Any, ws: Workspace, job_id: str, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        current = jobs.get(ws, job_id)
        if not current.running:
            pytest.fail(f"training ended ({current.state}) before {what}:\n{jobs.log_tail(ws, job_id, 80)}")
        time.sleep(0.5)
    jobs.stop(ws, job_id, timeout_s=10)
    pytest.fail(f"no {what} after {WAIT_S} s:\n{jobs.log_tail(ws, job_id, 80)}")


def _gone(job: jobs.Job, timeout_s: float = 60.0) -> int:
    """Return how many training processes of ``job`` (workers included) are left after up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while _processes(job) and time.monotonic() < deadline:
        time.sleep(0.5)
    return len(_processes(job))


def _saved_past(ws: Workspace, step: int) -> int | None:
    """Return the newest step past ``step`` whose G and D are both written whole, else None."""
    generator, discriminator = training.latest_pair(ws)
    if generator is None or generator <= step or generator != discriminator:
        return None
    pair = [ws.logs_44k / f"{prefix}_{generator}.pth" for prefix in ("G", "D")]
    return generator if not any(training.is_truncated(path) for path in pair) else None


@pytest.fixture(scope="module")
def scenario(tiny_preprocessed: TinyPreprocessed, tmp_path_factory: pytest.TempPathFactory) -> Any:
    ws = tiny_preprocessed.copy_to(tmp_path_factory.mktemp("ddp") / "ws")
    ws.save_settings(dataclasses.replace(ws.load_settings(), train=TRAIN))
    try:
        started = _cli("train", "start", str(ws.root), "--devices", "2", "--accelerator", "cpu")
        job = jobs.get(ws, started["job_id"])
        _wait_for(lambda: checkpoints.list_checkpoints(ws), ws, job.id, "a registered checkpoint")
        status = _cli("train", "status", str(ws.root))
        ranks_while_running = len(_ranks(job))

        stopped = training.stop(ws)
        stopped_progress = training.read_progress(ws, stopped)
        ranks_after_stop = _gone(stopped)

        resumed = _cli("train", "start", str(ws.root))
        second = jobs.get(ws, resumed["job_id"])
        killed_at = _wait_for(
            lambda: _saved_past(ws, stopped_progress.saved_step), ws, second.id, "a new checkpoint"
        )
        rank_zero = next(p for p in _ranks(second) if p.ppid() == second.pid)
        rank_zero.send_signal(signal.SIGKILL)
        killed = jobs.wait(ws, second.id, timeout_s=60)
        ranks_after_kill = _gone(killed)
        killed_status = training.status(ws)

        # The step `train start` resumes from: rank 0 may have written a pair after the one the
        # test waited for, before the kill landed, and before the registry saw it settle.
        newest = training.check_resumable(ws) or checkpoints.list_checkpoints(ws)[-1].step
        finished_run = _cli("train", "start", str(ws.root), "--target-steps", str(newest + 2))
        finished = jobs.wait(ws, finished_run["job_id"], timeout_s=WAIT_S)
        yield Scenario(
            ws,
            started,
            status,
            ranks_while_running,
            stopped,
            stopped_progress,
            ranks_after_stop,
            resumed,
            killed_at,
            killed,
            ranks_after_kill,
            killed_status,
            finished_run,
            finished,
            training.read_progress(ws, finished),
        )
    finally:
        for job in jobs.list_jobs(ws):
            if job.running:
                jobs.stop(ws, job.id, timeout_s=5)
        for discriminator in ws.logs_44k.rglob("D_*.pth"):
            discriminator.unlink()


def test_a_run_on_two_devices_trains_in_two_processes_and_reports_from_rank_zero(scenario: Scenario):
    assert (scenario.started["accelerator"], scenario.started["world_size"]) == ("cpu", 2)
    assert scenario.ranks_while_running == 2
    status = scenario.status_while_running
    assert (status["state"], status["world_size"]) == ("running", 2)
    assert status["progress"]["devices"] == ["cpu", "cpu"]
    assert status["progress"]["world_size"] == 2


def test_stop_saves_once_on_rank_zero_and_ends_every_rank(scenario: Scenario):
    job, progress = scenario.stopped, scenario.stopped_progress
    assert (job.state, job.exit_code) == ("stopped", 0)
    assert (progress.state, progress.saved_step) == ("stopped", progress.step)
    assert scenario.ranks_after_stop == 0
    log = jobs.log_tail(scenario.workspace, job.id, max_lines=2000)
    assert log.count("svcqa: saving checkpoints at step") == 1
    assert progress.saved_step in [c.step for c in checkpoints.list_checkpoints(scenario.workspace)]


def test_registry_and_archive_hold_each_checkpoint_once(scenario: Scenario):
    ws = scenario.workspace
    found = checkpoints.list_checkpoints(ws)
    steps = [c.step for c in found]
    assert steps == sorted(set(steps))
    assert steps[0] == EVAL_INTERVAL
    assert len(list(ws.archive_dir.glob("*_G_*.pth"))) == len(found)
    for checkpoint in found:
        assert checkpoint.available_path is not None
        assert file_sha256(checkpoint.available_path) == checkpoint.sha256


def test_a_run_whose_rank_zero_was_killed_is_diagnosed_and_its_other_rank_ends(scenario: Scenario):
    assert scenario.resumed["resumed_from_step"] == scenario.stopped_progress.saved_step
    assert (scenario.killed.state, scenario.killed.exit_code) == ("failed", -9)
    assert scenario.ranks_after_kill == 0
    status = scenario.killed_status
    assert status.state == "failed"
    found = {d.code: d for d in status.diagnoses}
    assert "SIGKILL" in found["process_died"].explanation
    assert "rank 0 has gone" in found["rank_died"].evidence
    kept = [c.step for c in status.checkpoints]
    assert scenario.killed_at_step in kept
    assert all(c.available_path is not None for c in status.checkpoints)


def test_start_after_the_kill_resumes_from_the_newest_checkpoint_and_finishes(scenario: Scenario):
    run = scenario.finished_run
    assert run["resumed_from_step"] >= scenario.killed_at_step
    assert run["world_size"] == 2
    progress = scenario.finished_progress
    assert (scenario.finished.state, scenario.finished.exit_code) == ("succeeded", 0)
    assert (progress.state, progress.reason, progress.world_size) == ("finished", "target reached", 2)
    assert progress.saved_step == run["target_steps"]
    assert progress.started_step == run["resumed_from_step"]
