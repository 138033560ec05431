"""Background jobs with small Python commands: state file, log, stop, kill, re-attach."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

import svcqa
from svcqa.core import jobs
from svcqa.core.errors import JobError
from svcqa.core.files import PARTIAL_SUFFIX
from svcqa.core.workspace import Workspace

REPO_ROOT = Path(svcqa.__file__).resolve().parents[1]
WAIT_S = 60.0


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").ensure_layout()


@pytest.fixture
def cleanup(ws: Workspace):
    """Stop whatever a test left running."""
    yield
    for job in jobs.list_jobs(ws):
        if job.running:
            jobs.stop(ws, job.id, timeout_s=2)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


SLEEPER = python(
    """
    import time
    print("ready", flush=True)
    time.sleep(120)
    """
)


def wait_for_log(ws: Workspace, job_id: str, text: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in jobs.log_tail(ws, job_id, max_lines=1000):
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log"
        time.sleep(0.05)


def test_job_runs_in_the_workspace_and_records_success_and_output(ws: Workspace):
    job = jobs.start(ws, "demo", python("import os; print('cwd=' + os.getcwd())"), env={"SVCQA_X": "1"})

    done = jobs.wait(ws, job.id, WAIT_S)

    assert done.state == "succeeded"
    assert done.exit_code == 0
    assert done.ended_at is not None
    assert jobs.log_tail(ws, job.id) == f"cwd={ws.root}"
    record = json.loads((ws.jobs_dir / job.id / "job.json").read_text())
    assert record["id"] == job.id
    assert record["kind"] == "demo"
    assert record["argv"] == list(job.argv)
    assert record["cwd"] == str(ws.root)
    assert record["pid"] == job.pid
    assert record["pid_start_time"] > 0
    assert record["state"] == "succeeded"
    assert record["exit_code"] == 0
    assert not list((ws.jobs_dir / job.id).glob(f"*{PARTIAL_SUFFIX}"))


def test_command_environment_gets_the_extra_variables(ws: Workspace):
    job = jobs.start(ws, "demo", python("import os; print(os.environ['SVCQA_X'])"), env={"SVCQA_X": "42"})
    jobs.wait(ws, job.id, WAIT_S)
    assert jobs.log_tail(ws, job.id) == "42"


def test_failing_command_is_failed_with_its_exit_code_and_stderr_in_the_log(ws: Workspace):
    job = jobs.start(ws, "demo", python("import sys; sys.stderr.write('boom\\n'); sys.exit(3)"))

    done = jobs.wait(ws, job.id, WAIT_S)

    assert (done.state, done.exit_code) == ("failed", 3)
    assert "boom" in jobs.log_tail(ws, job.id)


def test_missing_program_is_failed_with_exit_code_127(ws: Workspace):
    job = jobs.start(ws, "demo", [str(ws.root / "no-such-program")])
    done = jobs.wait(ws, job.id, WAIT_S)
    assert (done.state, done.exit_code) == ("failed", 127)
    assert "could not start" in jobs.log_tail(ws, job.id)


def test_second_job_of_a_running_kind_is_refused(ws: Workspace, cleanup):
    first = jobs.start(ws, "train", SLEEPER)

    with pytest.raises(JobError, match=first.id):
        jobs.start(ws, "train", SLEEPER)
    other = jobs.start(ws, "preprocess", python("pass"))

    assert jobs.running_job(ws, "train") == first
    assert jobs.wait(ws, other.id, WAIT_S).state == "succeeded"


def test_bad_kind_and_empty_command_are_refused(ws: Workspace):
    with pytest.raises(JobError):
        jobs.start(ws, "Train Job", SLEEPER)
    with pytest.raises(JobError):
        jobs.start(ws, "train", [])


def test_stop_interrupts_the_group_and_lets_the_command_clean_up(ws: Workspace):
    job = jobs.start(
        ws,
        "train",
        python(
            """
            import time
            try:
                print("ready", flush=True)
                time.sleep(120)
            except KeyboardInterrupt:
                print("saved on interrupt", flush=True)
            """
        ),
    )
    wait_for_log(ws, job.id, "ready")

    started = time.monotonic()
    stopped = jobs.stop(ws, job.id, timeout_s=30)

    assert time.monotonic() - started < 10
    assert (stopped.state, stopped.exit_code) == ("stopped", 0)
    assert "saved on interrupt" in jobs.log_tail(ws, job.id)
    assert jobs.running_job(ws, "train") is None


def test_stop_terminates_a_command_that_ignores_the_interrupt(ws: Workspace):
    job = jobs.start(
        ws,
        "train",
        python(
            """
            import signal, time
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            print("ready", flush=True)
            time.sleep(120)
            """
        ),
    )
    wait_for_log(ws, job.id, "ready")

    stopped = jobs.stop(ws, job.id, timeout_s=0.5)

    assert (stopped.state, stopped.exit_code) == ("stopped", -signal.SIGTERM)


def test_job_whose_processes_are_killed_is_failed(ws: Workspace):
    job = jobs.start(ws, "train", SLEEPER)
    wait_for_log(ws, job.id, "ready")

    os.killpg(job.pid, signal.SIGKILL)  # the wrapper dies too: nobody records the exit
    deadline = time.monotonic() + WAIT_S
    while (current := jobs.get(ws, job.id)).running:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert (current.state, current.exit_code) == ("failed", None)
    assert json.loads((ws.jobs_dir / job.id / "job.json").read_text())["state"] == "failed"


def test_command_killed_by_a_signal_is_failed_with_that_signal(ws: Workspace):
    job = jobs.start(ws, "train", SLEEPER)
    wait_for_log(ws, job.id, "ready")
    (command,) = psutil.Process(job.pid).children()

    command.kill()

    assert (jobs.wait(ws, job.id, WAIT_S).state, jobs.get(ws, job.id).exit_code) == (
        "failed",
        -signal.SIGKILL,
    )


def in_fresh_python(ws: Workspace, code: str) -> str:
    """Return the stdout of ``code`` run by a new interpreter, with ``ws`` bound to the workspace."""
    prelude = "import sys\nfrom pathlib import Path\nfrom svcqa.core import jobs\nfrom svcqa.core.workspace import Workspace\n"
    return subprocess.run(
        [
            sys.executable,
            "-c",
            prelude + "ws = Workspace(Path(sys.argv[1]))\n" + textwrap.dedent(code),
            ws.root,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ).stdout.strip()


def test_fresh_process_reattaches_to_the_running_job(ws: Workspace, cleanup):
    job = jobs.start(ws, "train", SLEEPER)

    seen = in_fresh_python(ws, "j = jobs.running_job(ws, 'train'); print(j.id, j.state, j.pid)")

    assert seen.split() == [job.id, "running", str(job.pid)]


def test_job_outlives_the_process_that_started_it_and_records_its_end(ws: Workspace):
    job_id = in_fresh_python(
        ws,
        """
        command = [sys.executable, "-c", "import time; time.sleep(1.5); print('done')"]
        print(jobs.start(ws, "train", command).id)
        """,
    )

    assert jobs.get(ws, job_id).running  # the starter has exited; the job has not
    done = jobs.wait(ws, job_id, WAIT_S)

    assert (done.state, done.exit_code) == ("succeeded", 0)
    assert jobs.log_tail(ws, job_id) == "done"


def test_reused_pid_is_not_taken_for_the_job(ws: Workspace):
    folder = ws.jobs_dir / "train-reused"
    folder.mkdir()
    record = {
        "id": "train-reused",
        "kind": "train",
        "argv": ["svc", "train"],
        "cwd": str(ws.root),
        "pid": os.getpid(),  # alive, but started at another time than recorded
        "pid_start_time": psutil.Process().create_time() - 3600,
        "started_at": "2026-01-01T00:00:00.000+00:00",
        "state": "running",
    }
    (folder / "job.json").write_text(json.dumps(record))

    assert jobs.get(ws, "train-reused").state == "failed"
    assert jobs.running_job(ws, "train") is None


def test_jobs_are_listed_newest_first_and_unknown_ids_are_refused(ws: Workspace):
    first = jobs.start(ws, "demo", python("pass"))
    jobs.wait(ws, first.id, WAIT_S)
    time.sleep(0.01)
    second = jobs.start(ws, "other", python("pass"))
    jobs.wait(ws, second.id, WAIT_S)

    assert [j.id for j in jobs.list_jobs(ws)] == [second.id, first.id]
    assert [j.id for j in jobs.list_jobs(ws, "demo")] == [first.id]
    with pytest.raises(JobError):
        jobs.get(ws, "demo-nope")
    with pytest.raises(JobError):
        jobs.get(ws, "../escape")


def test_log_tail_keeps_the_last_lines_and_the_last_redraw_of_a_progress_line(ws: Workspace):
    job = jobs.start(
        ws,
        "demo",
        python(
            """
            import sys
            for i in range(100):
                print(f"line {i}")
            sys.stdout.write("progress 10%\\rprogress 50%\\rprogress 100%\\n")
            """
        ),
    )
    jobs.wait(ws, job.id, WAIT_S)

    assert jobs.log_tail(ws, job.id, max_lines=3) == "line 98\nline 99\nprogress 100%"


def test_stopping_an_ended_job_changes_nothing(ws: Workspace):
    job = jobs.start(ws, "demo", python("pass"))
    done = jobs.wait(ws, job.id, WAIT_S)
    assert jobs.stop(ws, job.id, timeout_s=1) == done
