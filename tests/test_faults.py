"""The fault suite: kill -9 of the server and of jobs, a database left mid-transaction, a full
disk during every kind of write, and voters writing at once while one of them is killed.

Each fault must leave the previous state intact, and the next process (a restarted server, a
fresh interpreter) must see where things stand: running jobs as running, dead ones as failed
with their last log lines.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from svcqa.core import jobs
from svcqa.core.errors import JobError, WorkspaceError
from svcqa.core.files import PARTIAL_SUFFIX
from svcqa.core.settings import Settings
from svcqa.core.store import Store
from svcqa.core.store.audit_cache import CachedMeasurement
from svcqa.core.uploads import UploadError, save_upload
from svcqa.core.workspace import Workspace
from svcqa.dataset.run import audit_dataset, measure_key
from svcqa.listen.ranking import results
from svcqa.listen.stimuli import stimuli_from_renders
from svcqa.prepare import preprocess
from svcqa.prepare.execute import execute_plan, load_manifest, manifest_path
from svcqa.prepare.plan import build_plan
from svcqa.ui import state
from tests.app_paths import APP, REPO, page
from tests.audio_files import tree_fingerprint, write_clip
from tests.browser import free_port
from tests.listen_workspace import make_listen_workspace

pytest_plugins = ["tests.svc_fixtures"]

WAIT_S = 180.0
TRAINING_STAND_IN = """
import time
for step in range(1, 4):
    print(f"step {step}: loss/g/total {3.0 - step / 10:.2f}", flush=True)
print("ready", flush=True)
time.sleep(600)
"""
"""A stand-in for a training run: a few log lines, then it waits to be killed."""


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def fresh_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **(extra or {})}


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s:.0f} s"
        time.sleep(0.1)


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    return at


def stop_all(ws: Workspace) -> None:
    for job in jobs.list_jobs(ws):
        if job.running:
            jobs.stop(ws, job.id, timeout_s=2)


def sqlite_ok(path: Path) -> bool:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- the server is killed while jobs run ------------------------------------------------------
@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str


def start_server(ws: Workspace, log: Path) -> Server:
    """Run ``python -m svcqa serve`` as a process group of its own and wait until it answers."""
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "svcqa",
                "serve",
                "--workspace",
                str(ws.root),
                "--port",
                str(port),
                "--no-demo",
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=fresh_env({"DISPLAY": ""}),
            process_group=0,
        )
    server = Server(process, f"http://127.0.0.1:{port}")
    wait_until(lambda: healthy(server) or process.poll() is not None, "the server start")
    assert process.poll() is None, log.read_text()[-3000:]
    return server


def healthy(server: Server) -> bool:
    try:
        with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def kill_hard(server: Server) -> None:
    """kill -9 the server's whole process group (``serve`` and its Streamlit child)."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=30)
    wait_until(lambda: not group_members(server.process.pid), "the end of the server's processes", 30)


def group_members(pgid: int) -> list[int]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


STARTER = """
import sys
from pathlib import Path
from svcqa.core import jobs
from svcqa.prepare import preprocess
from svcqa.listen import render_worker
from svcqa.core.workspace import Workspace
ws = Workspace(Path(sys.argv[1]))
print(preprocess.start(ws, "parselmouth").id)
print(jobs.start(ws, "train", [sys.executable, "-c", sys.argv[2]]).id)
print(render_worker.start(ws).id)
"""
"""Starts a real preprocessing job, a training stand-in and the real render worker."""


def test_server_killed_during_jobs_restarts_and_reattaches_to_every_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_svc_env: dict[str, str]
) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    for i in range(5):  # so-vits-svc-fork's minimum per speaker
        write_clip(ws.dataset_raw / "singer" / f"phrase_{i}.wav", 2.0, seed=i)
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    log = tmp_path / "server.log"
    first = start_server(ws, log)
    second: Server | None = None
    try:
        # The jobs are started from inside the server's process group, as the pages start them.
        started = subprocess.run(
            [sys.executable, "-c", STARTER, str(ws.root), TRAINING_STAND_IN],
            capture_output=True,
            text=True,
            env=fresh_env(tiny_svc_env),
            timeout=120,
            process_group=first.process.pid,
            check=True,
        )
        preprocess_id, train_id, render_id = started.stdout.split()
        kill_hard(first)
        assert not healthy(first)
        for job_id in (preprocess_id, train_id, render_id):
            assert jobs.get(ws, job_id).running, jobs.log_tail(ws, job_id)

        second = start_server(ws, log)
        # A fresh interpreter and every page re-attach from the files alone.
        status = subprocess.run(
            [sys.executable, "-m", "svcqa", "train", "status", str(ws.root), "--json"],
            capture_output=True,
            text=True,
            env=fresh_env(),
            timeout=120,
            check=True,
        )
        assert (json.loads(status.stdout)["state"], json.loads(status.stdout)["job"]["id"]) == (
            "running",
            train_id,
        )
        train = open_page("train")
        assert not train.button(key=state.TRAIN_STOP).disabled
        assert train.button(key=state.TRAIN_START).disabled
        renders = open_page("render")
        assert any("Worker **running**" in m.value and render_id in m.value for m in renders.markdown)
        prepare_page = open_page("prepare")
        if jobs.get(ws, preprocess_id).running:  # still running after the page ran: it ran then
            assert prepare_page.button(key=state.PREPROCESS_STOP)

        # The real preprocessing went on without a server and finishes.
        done = jobs.wait(ws, preprocess_id, WAIT_S)
        assert done.state == "succeeded", jobs.log_tail(ws, preprocess_id)
        assert preprocess.progress(ws, done).fraction == 1.0
        assert any(open_page("prepare").success)
        assert healthy(second)

        # The real render worker killed: failed, and the page shows its last lines.
        os.killpg(jobs.get(ws, render_id).pid, signal.SIGKILL)
        wait_until(lambda: not jobs.get(ws, render_id).running, "the render worker's end")
        assert jobs.get(ws, render_id).state == "failed"
        renders = open_page("render")
        assert any("Worker **failed**" in m.value for m in renders.markdown)
        last_lines = jobs.log_tail(ws, render_id, 12)
        assert last_lines and last_lines in [c.value for c in renders.code]
    finally:
        for server in (first, second):
            if server is not None and server.process.poll() is None:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait(timeout=30)
        stop_all(ws)


# -- a job is killed ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("victim", "how"),
    [
        ("group", "vanished without recording an exit code"),
        ("command", "was killed by signal SIGKILL"),
    ],
)
def test_killed_training_shows_as_failed_with_its_last_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, victim: str, how: str
) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    job = jobs.start(ws, "train", python(TRAINING_STAND_IN))
    try:
        wait_until(lambda: "ready" in jobs.log_tail(ws, job.id), "the stand-in's start")
        if victim == "group":
            os.killpg(job.pid, signal.SIGKILL)  # the wrapper dies too: nobody records the end
        else:
            (command,) = psutil.Process(job.pid).children()
            command.kill()
        wait_until(lambda: not jobs.get(ws, job.id).running, "the job's end")
    finally:
        stop_all(ws)

    assert jobs.get(ws, job.id).state == "failed"
    assert jobs.log_tail(ws, job.id).splitlines()[-2:] == ["step 3: loss/g/total 2.70", "ready"]
    at = open_page("train")
    died = [e.value for e in at.error if "The training process died" in e.value]
    assert died and how in died[0], [e.value for e in at.error]
    assert any("step 3: loss/g/total 2.70\nready" in c.value for c in at.code)
    assert not at.button(key=state.TRAIN_START).disabled  # it can be resumed


# -- the database is left by a process killed mid-write ---------------------------------------------
HOLDER = """
import sys
from pathlib import Path
from svcqa.core.store import Store
from svcqa.core.store.audit_cache import CachedMeasurement
store = Store(Path(sys.argv[1]))
if sys.argv[2] == "transaction":
    with store.connect() as conn:  # one transaction far larger than SQLite's page cache
        for i in range(10_000_000):
            conn.execute("INSERT INTO audit_cache VALUES (?, 1, 1, 'k', ?)", (f"open-{i}", "x" * 4000))
            if i == 3000:
                print("writing", flush=True)
else:
    for batch in range(10_000_000):  # committed batches of 50 until killed, maybe mid-commit
        with store.connect() as conn:
            conn.executemany(
                "INSERT INTO audit_cache VALUES (?, 1, 1, 'k', ?)",
                [(f"batch-{batch}-{i}", "x" * 4000) for i in range(50)],
            )
        if batch == 20:
            print("writing", flush=True)
"""


@pytest.mark.parametrize("moment", ["transaction", "commits"])
def test_database_left_by_a_process_killed_mid_write_opens_with_the_committed_data(
    tmp_path: Path, moment: str
) -> None:
    store = Store(tmp_path / "state.sqlite")
    store.audit_cache.put_many([CachedMeasurement(f"kept-{i}", 10, 20, "k", {"n": i}) for i in range(10)])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.path), moment],
        stdout=subprocess.PIPE,
        text=True,
        env=fresh_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "writing"
        time.sleep(0.3)
    finally:
        holder.kill()
        holder.wait(timeout=30)

    started = time.monotonic()
    reopened = Store(store.path)  # migrations need the write lock: none may be left behind
    kept = reopened.audit_cache.get_many([f"kept-{i}" for i in range(10)], "k")
    assert {key: row.data["n"] for key, row in kept.items()} == {f"kept-{i}": i for i in range(10)}
    with reopened.connect() as conn:
        opened = conn.execute("SELECT count(*) FROM audit_cache WHERE key LIKE 'open-%'").fetchone()[0]
        batches = conn.execute("SELECT count(*) FROM audit_cache WHERE key LIKE 'batch-%'").fetchone()[0]
    assert opened == 0  # nothing of the transaction that never committed
    assert batches % 50 == 0 and (moment == "transaction" or batches >= 21 * 50)  # whole commits only
    reopened.audit_cache.put_many([CachedMeasurement("after", 1, 1, "k", {})])
    assert time.monotonic() - started < 10
    assert sqlite_ok(store.path)


# -- the disk fills up --------------------------------------------------------------------------------
@dataclass
class SmallDisk:
    """A 16 MiB tmpfs that :meth:`fill` fills to the last byte."""

    root: Path

    @property
    def filler(self) -> Path:
        return self.root / "filler"

    def fill(self) -> None:
        handle = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for block in (1 << 16, 512):
                try:
                    while True:
                        os.write(handle, b"\0" * block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
        finally:
            os.close(handle)

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a tmpfs, which only root can mount")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_disk_keeps_the_saved_settings(small_disk: SmallDisk) -> None:
    ws = Workspace(small_disk.root / "ws").ensure_layout()
    before = Settings().with_section("audit", min_duration_s=3.0)
    ws.save_settings(before)
    saved = ws.settings_path.read_bytes()
    small_disk.fill()

    with pytest.raises(WorkspaceError, match="No space left on device"):
        ws.save_settings(before.with_section("audit", min_duration_s=4.0))

    assert ws.settings_path.read_bytes() == saved
    assert not list(ws.state_dir.glob(f"*{PARTIAL_SUFFIX}"))
    small_disk.free()
    ws.save_settings(before.with_section("audit", min_duration_s=4.0))
    assert ws.load_settings().audit.min_duration_s == 4.0


def test_full_disk_keeps_job_records_whole_and_refuses_new_jobs_clearly(small_disk: SmallDisk) -> None:
    ws = Workspace(small_disk.root / "ws").ensure_layout()
    job = jobs.start(ws, "demo", python("import time; print('ready', flush=True); time.sleep(1.0)"))
    wait_until(lambda: "ready" in jobs.log_tail(ws, job.id), "the job's start")
    record = ws.jobs_dir / job.id / "job.json"
    written = record.read_text()
    small_disk.fill()

    # The job ends while its record cannot be rewritten: the old record stays, readers see it ended.
    wait_until(lambda: not jobs.get(ws, job.id).running, "the job's end")
    assert record.read_text() == written
    assert jobs.get(ws, job.id).state == "failed"
    with pytest.raises(JobError, match="No space left on device"):
        jobs.start(ws, "other", python("print('never')"))
    assert [j.id for j in jobs.list_jobs(ws)] == [job.id]

    small_disk.free()
    assert jobs.get(ws, job.id).state == "failed"
    assert json.loads(record.read_text())["state"] == "failed"


def test_full_disk_refuses_an_upload_and_keeps_the_songs(small_disk: SmallDisk) -> None:
    ws = Workspace(small_disk.root / "ws").ensure_layout()
    data = (REPO / "tests" / "__init__.py").read_bytes()  # any bytes: the write fails first
    write_clip(ws.songs / "first.wav", 2.0)
    kept = tree_fingerprint(ws.songs)
    small_disk.fill()

    with pytest.raises(UploadError, match="No space left on device"):
        save_upload(ws, "songs", "second.wav", data + b"\0" * 100_000)

    assert tree_fingerprint(ws.songs) == kept
    assert sorted(p.name for p in ws.songs.iterdir()) == ["first.wav"]  # no temporary file left
    small_disk.free()
    assert save_upload(ws, "songs", "second.wav", (ws.songs / "first.wav").read_bytes()).name == "second.wav"


def test_full_disk_keeps_the_prepared_clips_and_their_manifest(small_disk: SmallDisk) -> None:
    ws = Workspace(small_disk.root / "ws").ensure_layout()
    source = ws.recordings / "singer"
    for i in range(2):
        write_clip(source / f"take{i}.wav", 3.0, seed=i)
    settings = Settings()
    rows = audit_dataset(source, settings, use_cache=False).to_dict()["clips"]
    assert len(execute_plan(build_plan(source, rows, "singer", settings), ws).written) == 2
    clips = tree_fingerprint(ws.dataset_raw)
    manifest = load_manifest(manifest_path(ws, "singer"))
    louder = settings.with_section("prepare", target_lufs=-18.0)
    plan = build_plan(source, rows, "singer", louder)
    small_disk.fill()

    with pytest.raises(WorkspaceError, match="No space left on device"):
        execute_plan(plan, ws)

    assert tree_fingerprint(ws.dataset_raw) == clips  # the old clips, whole; no partial file
    assert load_manifest(manifest_path(ws, "singer")) == manifest
    small_disk.free()
    again = execute_plan(plan, ws)
    assert len(again.written) == 2
    assert {r.output_sha256 for r in load_manifest(manifest_path(ws, "singer")).values()} == {
        r.output_sha256 for r in again.written
    }


def test_full_disk_lets_the_audit_finish_and_keeps_its_cache(small_disk: SmallDisk) -> None:
    ws = Workspace(small_disk.root / "ws").ensure_layout()
    source = ws.recordings / "singer"
    for i in range(2):
        write_clip(source / f"take{i}.wav", 3.0, seed=i)
    settings = Settings()
    audit_dataset(source, settings)
    write_clip(source / "take2.wav", 3.0, seed=2)
    key = measure_key(settings, with_voice=False)
    paths = [str(source / f"take{i}.wav") for i in range(3)]
    small_disk.fill()

    report = audit_dataset(source, settings)

    assert sorted(c.measurement.path for c in report.clips) == ["take0.wav", "take1.wav", "take2.wav"]
    assert all(c.measurement.readable for c in report.clips)
    small_disk.free()
    assert sorted(Store(ws.db_path).audit_cache.get_many(paths, key)) == paths[:2]
    assert sqlite_ok(ws.db_path)
    audit_dataset(source, settings)
    assert sorted(Store(ws.db_path).audit_cache.get_many(paths, key)) == paths


def test_full_disk_during_a_database_transaction_keeps_what_was_committed(small_disk: SmallDisk) -> None:
    store = Store(small_disk.root / "state.sqlite")
    store.audit_cache.put_many([CachedMeasurement("kept", 10, 20, "k", {"n": 1})])

    with pytest.raises(WorkspaceError, match="database or disk is full"), store.connect() as conn:
        small_disk.fill()
        for i in range(5000):  # more than SQLite's page cache holds: it must write mid-transaction
            conn.execute("INSERT INTO audit_cache VALUES (?, 1, 1, 'k', ?)", (f"new-{i}", "x" * 2000))

    small_disk.free()
    with store.connect() as conn:
        assert [row["key"] for row in conn.execute("SELECT key FROM audit_cache")] == ["kept"]
    assert sqlite_ok(store.path)


def test_a_write_failing_with_no_space_keeps_the_settings_and_refuses_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same guarantees without root: every synced write fails as on a full disk."""
    ws = Workspace(tmp_path / "ws").ensure_layout()
    ws.save_settings(Settings().with_section("audit", min_duration_s=3.0))
    saved = ws.settings_path.read_bytes()

    def no_space(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(WorkspaceError, match="No space left on device"):
        ws.save_settings(Settings())
    with pytest.raises(JobError, match="No space left on device"):
        jobs.start(ws, "demo", python("print('never')"))
    monkeypatch.undo()

    assert ws.settings_path.read_bytes() == saved
    assert not list(ws.state_dir.glob(f"*{PARTIAL_SUFFIX}")) and jobs.list_jobs(ws) == []


# -- voters write at once, and one is killed -------------------------------------------------------
VOTER = """
import sys
from pathlib import Path
from svcqa.listen.pairs import next_pair, vote
from svcqa.listen.stimuli import stimuli_from_renders
from svcqa.core.store import Store
from svcqa.core.store.audit_cache import CachedMeasurement
from svcqa.core.workspace import Workspace
ws = Workspace(Path(sys.argv[1]))
store, stimuli = Store(ws.db_path), stimuli_from_renders(ws)
for _ in range(int(sys.argv[3])):
    pair = next_pair(store, stimuli, sys.argv[2])
    vote(store, pair.id, sys.argv[2], "A")
    print(pair.id, flush=True)
"""


def test_concurrent_voters_lose_no_vote_when_one_of_them_is_killed(tmp_path: Path) -> None:
    made = make_listen_workspace(tmp_path / "ws")
    ws = made.ws

    def voter(name: str, count: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", VOTER, str(ws.root), name, str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=fresh_env(),
        )

    steady = {f"voter {k}": voter(f"voter {k}", 12) for k in range(3)}
    victim = voter("victim", 100_000)
    try:
        assert victim.stdout is not None
        seen_by_victim = [victim.stdout.readline().strip() for _ in range(3)]
    finally:
        victim.kill()
        victim.wait(timeout=30)
    printed = {}
    for name, process in steady.items():
        out, err = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, err[-2000:]
        printed[name] = out.split()

    with Store(ws.db_path).connect() as conn:
        stored = {
            name: {
                row[0] for row in conn.execute("SELECT pair_id FROM listen_votes WHERE listener = ?", (name,))
            }
            for name in [*steady, "victim"]
        }
    for name, pairs in printed.items():
        assert stored[name] == set(pairs) and len(pairs) == 12
    # The victim may have committed one more vote than it lived to print; none half-written.
    assert set(seen_by_victim) <= stored["victim"] and len(stored["victim"]) - len(seen_by_victim) <= 1
    assert results(Store(ws.db_path), stimuli_from_renders(ws)).votes == sum(map(len, stored.values()))
    assert sqlite_ok(ws.db_path)
