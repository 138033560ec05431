"""Measure many audio files in worker processes, with memory kept in bounds.

Each file's result is handed to a callback as soon as it is measured, so a caller can store
it at once (an audit stopped half-way keeps what it measured). Memory stays bounded three ways:

* **How many workers.** One per physical core this process may use; by default no more than the free
  memory holds at :attr:`~svcqa.core.settings.AuditSettings.worker_memory_mb` each.
* **Shared libraries.** Workers fork from a server process that imported the heavy libraries
  the checks need (torch, onnxruntime) once, so their pages are shared, not copied per worker.
* **Fresh workers.** The files go in batches of
  :attr:`~svcqa.core.settings.AuditSettings.worker_max_files` per worker; each batch gets new
  workers, so a slow leak or fragmentation in one cannot grow over a long audit.

Example
-------
>>> from svcqa.core.settings import Settings
>>> worker_count(None, Settings().audit, files=1)
1
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from svcqa.core.settings import AuditSettings, PitchSettings, Settings, VoiceSettings
from svcqa.dataset.checks import Measurement, measure_file

CRASH_PREFIX = "analysis crashed"
"""Error prefix of files whose analysis raised (or whose worker died)."""

IN_PROCESS_MAX_FILES = 4
"""Up to this many files to measure, a worker pool costs more than it saves."""

ResultCallback = Callable[[str, Measurement, bool], None]
"""Called with (absolute path, measurement, keep) as each file is measured; ``keep`` is False for
a file lost with a dead worker (worth measuring again rather than storing)."""


@dataclass(frozen=True)
class MeasureJob:
    """One file to measure: its absolute path, its path inside the dataset, and the settings."""

    path: str
    relative: str
    audit: AuditSettings
    pitch: PitchSettings | None
    voice: VoiceSettings | None


def measure_job(job: MeasureJob) -> dict[str, Any]:
    """Return one file's measurement as a dict; an unexpected exception becomes an ``unreadable`` row."""
    try:
        return measure_file(Path(job.path), job.relative, job.audit, job.pitch, job.voice).to_dict()
    except Exception as exc:  # a crash on one file must not end the audit
        return crashed(Path(job.path), job.relative, exc).to_dict()


def crashed(path: Path, relative: str, exc: BaseException) -> Measurement:
    """Return the ``unreadable`` row of a file whose analysis raised ``exc``."""
    st = path.stat()
    return Measurement(
        path=relative,
        size_bytes=st.st_size,
        mtime_ns=st.st_mtime_ns,
        readable=False,
        error=f"{CRASH_PREFIX}: {type(exc).__name__}: {exc}",
    )


def usable_cores() -> int:
    """Return how many physical CPU cores this process may run on (a second hardware thread of a
    core adds little to this work, and a worker's memory all the same)."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    return max(min(logical, physical), 1)


def worker_count(requested: int | None, settings: AuditSettings, files: int) -> int:
    """Return how many workers measure ``files`` files.

    ``requested`` (or ``settings.workers``) wins when given; otherwise one per usable core,
    no more than the available memory holds at ``settings.worker_memory_mb`` each.
    """
    wanted = requested or settings.workers
    if not wanted:
        by_memory = psutil.virtual_memory().available // (settings.worker_memory_mb * 2**20)
        wanted = min(usable_cores(), max(int(by_memory), 1))
    return max(1, min(wanted, files))


def preload_modules(with_voice: bool, voice: VoiceSettings) -> list[str]:
    """Return the modules the worker server imports once for all workers (missing ones are skipped)."""
    modules = ["svcqa.dataset.checks"]
    if with_voice:
        modules.append("svcqa.dataset.voice_kind")
        if voice.embed_voices:  # GE2E runs on onnxruntime, without torch (svcqa.dataset.ge2e)
            modules += ["onnxruntime", "svcqa.dataset.voice_identity"]
        if voice.score_quality:
            modules += ["onnxruntime", "svcqa.dataset.quality"]
    return list(dict.fromkeys(modules))


def measure_files(
    todo: Sequence[Path],
    dataset_dir: Path,
    settings: Settings,
    with_voice: bool,
    workers: int | None,
    on_result: ResultCallback,
) -> None:
    """Measure the files ``todo`` of ``dataset_dir``, calling ``on_result`` as each one is done.

    A worker that dies (killed for memory, say) takes the files still queued with it; they are
    measured once more in fresh workers, then reported as crashed (``keep`` False: not worth
    keeping, another run may measure them).
    """
    pitch = settings.pitch if with_voice else None
    voice = settings.voice if with_voice else None
    jobs = [
        MeasureJob(str(p), p.relative_to(dataset_dir).as_posix(), settings.audit, pitch, voice) for p in todo
    ]
    n_workers = worker_count(workers, settings.audit, len(jobs))
    if len(jobs) <= IN_PROCESS_MAX_FILES or n_workers == 1:
        for job in jobs:
            on_result(job.path, Measurement.from_dict(measure_job(job)), True)
        return
    # forkserver: safe from a threaded parent (the Streamlit server), cheaper than spawn.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload_modules(with_voice, settings.voice))
    batch = n_workers * max(settings.audit.worker_max_files, 1)
    for start in range(0, len(jobs), batch):
        lost = _measure_batch(jobs[start : start + batch], n_workers, context, on_result)
        if lost:
            for job in _measure_batch(lost, n_workers, context, on_result):
                on_result(job.path, crashed(Path(job.path), job.relative, _WorkerDied()), False)


class _WorkerDied(Exception):
    def __str__(self) -> str:
        return "the worker process measuring it ended (out of memory?)"


def _ignore_interrupts() -> None:
    """Let only the parent react to Ctrl-C or a stop: a worker finishes its file, then ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _measure_batch(
    jobs: list[MeasureJob], n_workers: int, context: Any, on_result: ResultCallback
) -> list[MeasureJob]:
    """Measure ``jobs`` with ``n_workers`` fresh workers; return those lost with a dead worker."""
    pool = cf.ProcessPoolExecutor(max_workers=n_workers, mp_context=context, initializer=_ignore_interrupts)
    lost: list[MeasureJob] = []
    try:
        futures = {pool.submit(measure_job, job): job for job in jobs}
        for future in cf.as_completed(futures):
            job = futures[future]
            try:
                result = Measurement.from_dict(future.result())
            except cf.process.BrokenProcessPool:
                lost.append(job)
                continue
            on_result(job.path, result, True)
    except BaseException:
        # Stopped (Ctrl-C, a stop request): drop the queue instead of measuring it first.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return lost
