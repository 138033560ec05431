"""The audit at a user's scale: one cache shared by the CLI and the pages, results stored as each
file is measured, a background job that a stop or a reload never makes lose work, bounded workers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svcqa.core import jobs
from svcqa.core.settings import Settings
from svcqa.core.store import Store
from svcqa.core.workspace import Workspace
from svcqa.dataset import audit_job, measure_pool
from svcqa.dataset.run import (
    AuditProgress,
    audit_dataset,
    enclosing_workspace,
    measure_key,
    scan_dataset,
    user_cache_path,
)
from tests.app_paths import REPO

SR = 16_000


def _tones(folder: Path, count: int, duration_s: float = 1.0) -> list[Path]:
    """Write ``count`` distinct short tones (quick to measure) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(duration_s * SR)) / SR
    paths = []
    for i in range(count):
        path = folder / f"tone_{i:03d}.wav"
        sf.write(path, (0.3 * np.sin(2 * np.pi * (200 + 7 * i) * t)).astype(np.float32), SR)
        paths.append(path)
    return paths


def _stored(cache: Path, paths: list[Path], settings: Settings | None = None) -> set[str]:
    key = measure_key(settings or Settings(), with_voice=False)
    return set(Store(cache).audit_cache.get_many([str(p) for p in paths], key))


def _stop_after(n_files: int):
    """Return a progress callback that raises KeyboardInterrupt (a stop) once ``n_files`` are done."""

    def progress(_fraction: float, message: str) -> None:
        done = re.search(r": ([\d,]+) of ", message)
        if message.startswith("Measured") and done and int(done.group(1).replace(",", "")) >= n_files:
            raise KeyboardInterrupt

    return progress


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stopped_audit_keeps_every_file_it_measured(tmp_path: Path, workers: int) -> None:
    paths = _tones(tmp_path / "ds", 12)
    cache = tmp_path / "cache.sqlite"
    with pytest.raises(KeyboardInterrupt):
        audit_dataset(tmp_path / "ds", workers=workers, cache_path=cache, progress=_stop_after(5))
    kept = _stored(cache, paths)
    assert 5 <= len(kept) < len(paths)
    messages: list[str] = []
    report = audit_dataset(
        tmp_path / "ds", workers=workers, cache_path=cache, progress=lambda _f, m: messages.append(m)
    )
    assert f"({len(paths) - len(kept)} measured, {len(kept)} cached)" in messages[-1]
    assert len(report.clips) == len(paths)


def test_progress_says_n_of_n_and_the_time_left(tmp_path: Path) -> None:
    _tones(tmp_path / "ds", 6)
    seen: list[AuditProgress] = []
    messages: list[str] = []
    audit_dataset(
        tmp_path / "ds",
        workers=1,
        cache_path=tmp_path / "c.sqlite",
        progress=lambda _f, m: messages.append(m),
        on_progress=seen.append,
    )
    assert seen[0].done == 0 and seen[0].total == 6 and seen[0].time_left_s is None
    assert seen[-1].done == seen[-1].total == 6 and seen[-1].measured == 6
    assert any(m.startswith("Measured ") and "3 of 6 files (about" in m for m in messages)
    assert AuditProgress(1500, 300, 200, 1400, 100.0).describe() == "300 of 1,500 files (about 10 min left)"


def test_the_audit_uses_the_database_of_the_workspace_it_is_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    folder = root / "recordings" / "alice"
    _tones(folder, 2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SVCQA_WORKSPACE", raising=False)
    assert enclosing_workspace(folder) is None  # not ./workspace, never opened as one
    assert enclosing_workspace(folder, hint=root) == Workspace(root)
    monkeypatch.setenv("SVCQA_WORKSPACE", str(root))
    assert enclosing_workspace(folder) == Workspace(root)
    monkeypatch.delenv("SVCQA_WORKSPACE")
    Workspace(root).ensure_layout()
    assert enclosing_workspace(folder) == Workspace(root)
    assert enclosing_workspace(tmp_path / "elsewhere") is None


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SVCQA_WORKSPACE", None)
    return subprocess.run(
        [sys.executable, "-m", "svcqa", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_the_cli_says_which_cache_it_used_and_the_page_finds_nothing_to_measure(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    _tones(ws.recordings / "alice", 3)
    first = _cli("audit", str(ws.recordings), "--no-voice", "--workspace", str(ws.root), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"Cache: {ws.db_path} (3 measured, 0 reused)." in first.stdout
    again = _cli("audit", str(ws.recordings / "alice"), "--no-voice", "--json", "-", cwd=tmp_path)
    assert f"Cache: {ws.db_path} (0 measured, 3 reused)." in again.stderr  # found by its .svcqa/
    outside = tmp_path / "loose"
    _tones(outside, 1)
    done = _cli("audit", str(outside), "--no-voice", cwd=tmp_path)
    assert "Cache: " in done.stdout and "(1 measured, 0 reused)." in done.stdout
    assert str(ws.db_path) not in done.stdout
    scan = scan_dataset(ws.recordings, ws.load_settings(), cache_path=ws.db_path, retry_failed=False)
    assert scan.todo == ()


def test_rows_a_cli_audit_left_in_the_user_cache_are_reused_by_the_workspace(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    paths = _tones(ws.recordings / "alice", 3)
    audit_dataset(ws.recordings, cache_path=user_cache_path())  # a CLI audit before the workspace existed
    ws.ensure_layout()
    scan = scan_dataset(ws.recordings, cache_path=ws.db_path)
    assert scan.todo == ()
    assert _stored(ws.db_path, paths) == {str(p) for p in paths}  # copied into the workspace


def test_a_crashed_file_is_kept_and_measured_again_only_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _tones(tmp_path / "ds", 2)
    real = measure_pool.measure_file

    def flaky(path: Path, *args: object, **kwargs: object):
        if path.name == paths[0].name:
            raise RuntimeError("a bug in a check")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(measure_pool, "measure_file", flaky)
    cache = tmp_path / "c.sqlite"
    report = audit_dataset(tmp_path / "ds", workers=1, cache_path=cache)
    assert report.clips[0].codes == ["unreadable"]
    assert "a bug in a check" in report.clips[0].measurement.error
    assert _stored(cache, paths) == {str(p) for p in paths}
    assert scan_dataset(tmp_path / "ds", cache_path=cache, retry_failed=False).todo == ()
    assert scan_dataset(tmp_path / "ds", cache_path=cache).todo == (paths[0],)


def test_workers_are_bounded_by_cores_and_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    audit = Settings().audit

    class Memory:
        available = 3 * audit.worker_memory_mb * 2**20

    monkeypatch.setattr(measure_pool, "usable_cores", lambda: 16)
    monkeypatch.setattr(measure_pool.psutil, "virtual_memory", lambda: Memory())
    assert measure_pool.worker_count(None, audit, files=1000) == 3
    assert measure_pool.worker_count(None, audit, files=2) == 2
    assert measure_pool.worker_count(8, audit, files=1000) == 8  # an explicit choice wins
    Memory.available = 0
    assert measure_pool.worker_count(None, audit, files=1000) == 1


def test_workers_are_replaced_in_batches_and_share_the_preloaded_libraries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _tones(tmp_path / "ds", 9)
    settings = Settings().with_section("audit", worker_max_files=2)
    batches: list[int] = []
    real = measure_pool._measure_batch

    def counting(jobs_, n_workers, context, on_result):
        batches.append(len(jobs_))
        return real(jobs_, n_workers, context, on_result)

    monkeypatch.setattr(measure_pool, "_measure_batch", counting)
    report = audit_dataset(tmp_path / "ds", settings, workers=2, cache_path=tmp_path / "c.sqlite")
    assert batches == [4, 4, 1]
    assert len(report.clips) == len(paths) and all(
        c.codes == ["too_short", "low_sample_rate"] for c in report.clips
    )
    voice = Settings().voice
    assert "onnxruntime" in measure_pool.preload_modules(True, voice)
    assert "onnxruntime" not in measure_pool.preload_modules(False, voice)


def test_when_a_page_starts_an_audit_by_itself(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    paths = _tones(ws.recordings / "alice", 2)
    scan = scan_dataset(ws.recordings, cache_path=ws.db_path)
    assert audit_job.should_start(scan, None, None)  # never audited

    def job(state: str, started_at: str) -> jobs.Job:
        argv = ("python", "-m", "svcqa.dataset.audit_job", str(ws.root), str(ws.recordings))
        return jobs.Job("audit-x", "audit", argv, str(ws.root), 1, 0.0, started_at, state)

    long_ago, later = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
    assert not audit_job.should_start(scan, job("running", long_ago), None)  # attach
    assert not audit_job.should_start(scan, job("stopped", long_ago), None)  # the user resumes
    assert not audit_job.should_start(scan, job("failed", long_ago), None)
    assert audit_job.should_start(scan, job("succeeded", long_ago), None)  # files changed since
    assert not audit_job.should_start(scan, job("succeeded", later), None)  # measured, not stored
    other = audit_job.RecordedProgress("audit-x", "another-key", AuditProgress(2, 2, 2, 2, 1.0))
    assert audit_job.should_start(scan, job("succeeded", later), other)  # other measuring settings
    assert audit_job.folder_of(job("running", long_ago)) == ws.recordings
    audit_dataset(ws.recordings, cache_path=ws.db_path)
    assert not audit_job.should_start(scan_dataset(ws.recordings, cache_path=ws.db_path), None, None)
    assert len(paths) == 2


def test_the_background_audit_records_progress_and_a_stop_keeps_what_it_measured(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    ws.save_settings(Settings().with_section("audit", workers=1))
    paths = _tones(ws.recordings / "alice", 150)
    job = audit_job.start(ws, ws.recordings)
    with pytest.raises(jobs.JobError, match="already running"):
        audit_job.start(ws, ws.recordings)  # one audit per workspace
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        recorded = audit_job.read_progress(ws, ws.recordings)
        if recorded is not None and recorded.job_id == job.id and recorded.progress.measured >= 10:
            break
        time.sleep(0.1)
    assert recorded is not None and recorded.progress.total == len(paths)
    stopped = audit_job.stop(ws, timeout_s=10.0)
    assert stopped is not None and stopped.state == "stopped"
    scan = scan_dataset(ws.recordings, ws.load_settings(), with_voice=True, cache_path=ws.db_path)
    kept = len(paths) - len(scan.todo)
    assert kept >= 10
    assert not audit_job.should_start(scan, audit_job.latest(ws, ws.recordings), recorded)
    resumed = jobs.wait(ws, audit_job.start(ws, ws.recordings).id, timeout_s=300)
    assert resumed.state == "succeeded"
    assert f"Audited {len(paths)} files ({len(paths) - kept} measured)." in jobs.log_tail(ws, resumed.id)


def test_the_entry_script_does_nothing_when_imported(tmp_path: Path) -> None:
    # A worker pool's start-up runs the parent's main script under the name __mp_main__.
    code = f"import runpy; runpy.run_path({str(REPO / 'streamlit_app.py')!r}, run_name='__mp_main__')"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "ScriptRunContext" not in done.stderr and done.stderr == ""


def test_the_worker_server_preloads_only_libraries_the_checks_use(tmp_path: Path) -> None:
    # A preloaded library the checks no longer import would cost every audit its memory for nothing.
    clip = _tones(tmp_path / "ds", 1, duration_s=5.0)[0]
    code = f"""
import sys
from pathlib import Path
from svcqa.core.settings import Settings
from svcqa.dataset.checks import measure_file
from svcqa.dataset.measure_pool import preload_modules
s = Settings().with_section("voice", embed_voices=True, score_quality=True)
measure_file(Path({str(clip)!r}), "x.wav", s.audit, s.pitch, s.voice)
print(" ".join(m for m in preload_modules(True, s.voice) if m not in sys.modules))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
