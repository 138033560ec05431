"""Training runs: start so-vits-svc-fork's training as a background job, stop it with a save,
resume it, and read where it stands.

A run is the "train" job of the workspace (:mod:`svcqa.core.jobs`; one at a time) running
:mod:`svcqa.train.entry`, which is ``svc train`` plus a stop that saves, the target-step hard
stop, a progress file and the checkpoint archive watcher. Everything a page or CLI call shows
is read back from files (``job.json``, ``train.json`` beside it, ``.svcqa/train/progress.json``,
the registry), so any process re-attaches to a run, also after the server restarted.

Resume is a new start: so-vits-svc-fork continues from the newest ``G_*.pth``/``D_*.pth`` pair.

Example
-------
>>> ws = Workspace(Path("workspace"))                   # doctest: +SKIP
>>> run = start(ws)                                     # doctest: +SKIP
>>> status(ws).state                                    # doctest: +SKIP
'running'
>>> stop(ws).state                                      # doctest: +SKIP
'stopped'
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.audio import decode
from svcqa.core import gpu, jobrunner, jobs
from svcqa.core.errors import AudioError, DatasetError, JobError, TrainingError
from svcqa.core.files import file_sha256, iso_to_epoch_s, now_iso
from svcqa.core.records import Record, to_dict
from svcqa.core.settings import TRAIN_ACCELERATORS, TRAIN_PRECISIONS, TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.engines import svc
from svcqa.train import checkpoints
from svcqa.train.checkpoints import is_truncated
from svcqa.train.diagnosis import Diagnosis, diagnose, read_log

JOB_KIND = "train"
RUN_FILE = "train.json"
"""In the job's folder: what svcqa started the run with (:class:`TrainRun`)."""
STOP_FILE = "stop_request.json"
"""In :attr:`Workspace.train_control_dir`: present once a stop with a save was asked for."""
PROGRESS_FILE = "progress.json"
"""In :attr:`Workspace.train_control_dir`: the training process's own report (:class:`Progress`)."""
PRECISION_FLAGS: dict[str, tuple[bool, bool]] = dict(
    zip(TRAIN_PRECISIONS, ((False, False), (True, False), (False, True)), strict=True)
)
"""Precision -> (``fp16_run``, ``bf16_run``) in so-vits-svc-fork's config."""
INCOMPLETE_DIR = "incomplete"
"""In ``logs/44k``: checkpoint pairs whose write was cut off, set aside so a start can resume."""
STATES = ("running", "stopped", "failed", "none")
_STOP_POLL_S = 0.5


# -- records --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainRun(Record):
    """What a training job was started with: config hash, target, resume point, GPUs, settings."""

    job_id: str
    config_sha256: str
    target_steps: int
    resumed_from_step: int | None
    """The newest checkpoint's step at start; None for a run from scratch."""
    precision: str
    batch_size: int
    gpus: tuple[dict[str, Any], ...]
    """The GPUs the run trains on (the first ``world_size`` visible ones); () on CPU."""
    settings: dict[str, Any]
    accelerator: str = "cpu"
    """Where the processes run: ``cpu`` or ``gpu`` (resolved from the settings' choice)."""
    world_size: int = 1
    """Training processes (Lightning DDP when more than one), one per device."""


@dataclass(frozen=True)
class Progress(Record):
    """The training process's own report (``progress.json``), refreshed every couple of seconds."""

    state: str
    """``training``, ``stopping`` (finishing the epoch), ``saving``, then ``stopped`` or ``finished``."""
    step: int
    started_step: int | None
    epoch: int
    steps_per_epoch: int
    steps_per_s: float | None
    target_steps: int
    losses: dict[str, float | None]
    devices: tuple[str, ...]
    precision: str
    updated_at: str
    run_started_at: str
    saved_step: int | None = None
    reason: str | None = None
    world_size: int = 1
    """Processes training together (DDP ranks); only the first reports."""

    @property
    def eta_s(self) -> float | None:
        """Return the seconds to the target step at the current speed, None while unknown."""
        if not self.steps_per_s or self.steps_per_s <= 0:
            return None
        return max(self.target_steps - self.step, 0) / self.steps_per_s

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (with ``eta_s``)."""
        return {**to_dict(self), "eta_s": self.eta_s}


@dataclass(frozen=True)
class TrainStatus:
    """Where training stands in a workspace, as the Train page and ``train status`` show it."""

    state: str
    """One of :data:`STATES`; a run that reached its target counts as ``stopped``."""
    job: jobs.Job | None
    run: TrainRun | None
    progress: Progress | None
    step: int | None
    """The run's current step, else the newest checkpoint's, else None."""
    checkpoints: tuple[checkpoints.Checkpoint, ...]
    disk: checkpoints.DiskUsage
    disk_warning: str | None
    diagnoses: tuple[Diagnosis, ...]

    @property
    def world_size(self) -> int | None:
        """Return the run's number of training processes (from its progress, else as started), None without a run."""
        if self.progress is not None:
            return self.progress.world_size
        return self.run.world_size if self.run is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON of ``python -m svcqa train status --json``."""
        progress = self.progress
        return {
            "state": self.state,
            "step": self.step,
            "world_size": self.world_size,
            "job": self.job.to_dict() if self.job else None,
            "run": self.run.to_dict() if self.run else None,
            "progress": progress.to_dict() if progress else None,
            "checkpoints": [
                {**c.to_dict(), "available": c.available_path is not None} for c in self.checkpoints
            ],
            "disk": self.disk.to_dict(),
            "disk_warning": self.disk_warning,
            "diagnoses": [d.to_dict() for d in self.diagnoses],
        }


# -- paths and config -----------------------------------------------------------------------
def training_config_edits(train: TrainSettings) -> dict[str, dict[str, Any]]:
    """Return the config edits of a run svcqa starts, besides :func:`svcqa.engines.svc.config_edits`.

    The precision (``fp16_run``/``bf16_run``), and rotation back on: svcqa's training process
    archives every generator, so so-vits-svc-fork may keep only the newest
    ``keep_ckpts_when_archived`` pairs (at least one, which resume needs).
    """
    if train.precision not in PRECISION_FLAGS:
        raise TrainingError(f"Precision {train.precision!r} is not one of {', '.join(PRECISION_FLAGS)}.")
    fp16, bf16 = PRECISION_FLAGS[train.precision]
    return {
        "train": {"keep_ckpts": max(train.keep_ckpts_when_archived, 1), "fp16_run": fp16, "bf16_run": bf16}
    }


def check_settings(train: TrainSettings) -> None:
    """Raise :class:`TrainingError` when ``train`` cannot drive a run."""
    problems = [
        f"{name} must be at least 1"
        for name in ("target_steps", "batch_size", "log_interval", "eval_interval", "num_workers")
        if getattr(train, name) < 1
    ]
    if train.precision not in PRECISION_FLAGS:
        problems.append(f"precision must be one of {', '.join(PRECISION_FLAGS)}")
    if train.accelerator not in TRAIN_ACCELERATORS:
        problems.append(f"accelerator must be one of {', '.join(TRAIN_ACCELERATORS)}")
    if train.devices < 0:
        problems.append("devices must be 0 (automatic) or more")
    if problems:
        raise TrainingError("Training settings: " + "; ".join(problems) + ".")


def check_preprocessed(ws: Workspace) -> int:
    """Return the number of training clips, after checking preprocessing wrote all training needs.

    Raises :class:`DatasetError` naming what is missing.
    """
    fix = "Preprocess the dataset first (pre-resample, pre-config, pre-hubert)."
    if not ws.config_path.is_file():
        raise DatasetError(
            f"The dataset is not preprocessed: {ws.relative(ws.config_path)} is missing. {fix}"
        )
    listed = svc_training_files(ws)
    if not listed:
        raise DatasetError(
            f"The dataset is not preprocessed: the training file list is missing or empty. {fix}"
        )
    missing = [p for p in listed if not Path(str(ws.root / p) + ".data.pt").is_file()]
    if missing:
        raise DatasetError(
            f"The dataset is not preprocessed: {len(missing)} of {len(listed)} training clips have no "
            f"features (e.g. {missing[0]}.data.pt). {fix}"
        )
    return len(listed)


def svc_training_files(ws: Workspace) -> list[str]:
    """Return the clips of the config's training file list (relative to the workspace)."""
    config = checkpoints.read_run_config(ws.config_path)
    listed = config.get("data", {}).get("training_files")
    path = ws.root / listed if listed else ws.train_list_path
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def latest_pair(ws: Workspace) -> tuple[int | None, int | None]:
    """Return the numbers of the newest ``G_<n>.pth`` and ``D_<n>.pth`` in ``logs/44k`` (None: none)."""

    def newest(prefix: str) -> int | None:
        numbers = [
            int(p.stem.split("_", 1)[1])
            for p in ws.logs_44k.glob(f"{prefix}_*.pth")
            if p.stem.split("_", 1)[1].isdigit()
        ]
        numbers = [n for n in numbers if n != checkpoints.PRETRAINED_STEP]
        return max(numbers) if numbers else None

    return newest("G"), newest("D")


def set_aside_truncated(ws: Workspace) -> list[Path]:
    """Move the newest G/D pair out of ``logs/44k`` into ``logs/44k/incomplete`` while either file
    of it is truncated (a run killed while saving); return the moved files' new paths.

    so-vits-svc-fork would fail to load it; the pair before it is complete. The generator
    stays registered, and its archived copy is kept.
    """
    moved: list[Path] = []
    while True:
        generator, discriminator = latest_pair(ws)
        if generator is None or generator != discriminator:
            return moved
        pair = [ws.logs_44k / f"{prefix}_{generator}.pth" for prefix in ("G", "D")]
        if not any(is_truncated(path) for path in pair):
            return moved
        folder = ws.logs_44k / INCOMPLETE_DIR
        folder.mkdir(exist_ok=True)
        for path in pair:
            target = folder / path.name
            copies = 1
            while target.exists():  # set aside before: keep that one too
                target, copies = folder / f"{path.stem}.{copies}{path.suffix}", copies + 1
            moved.append(Path(shutil.move(path, target)))


def check_resumable(ws: Workspace) -> int | None:
    """Return the step a start resumes from (None: from scratch), or refuse a broken pair.

    so-vits-svc-fork loads the newest G and the newest D independently, and silently starts
    from scratch when there is no D: both are refused with :class:`TrainingError`. A newest
    pair whose write was cut off is set aside first (:func:`set_aside_truncated`).
    """
    set_aside_truncated(ws)
    generator, discriminator = latest_pair(ws)
    if generator is None:
        return None
    if discriminator != generator:
        found = f"D_{discriminator}.pth" if discriminator is not None else "no D_*.pth"
        raise TrainingError(
            f"logs/44k has G_{generator}.pth but {found}: so-vits-svc-fork would "
            + ("start from scratch" if discriminator is None else "pair checkpoints of different steps")
            + f". Put D_{generator}.pth back beside it, or move the G_*/D_*.pth files out of logs/44k "
            "to start a new run (the archive keeps every generator)."
        )
    return generator


def resolve_devices(train: TrainSettings, gpu_count: int) -> tuple[str, int]:
    """Return the accelerator (``cpu`` or ``gpu``) and the number of training processes of ``train``
    on a machine with ``gpu_count`` visible GPUs.

    "auto" is the GPU when there is one; 0 devices is every visible GPU, or one CPU process.
    Raises :class:`TrainingError` for more GPUs than there are.

    Example
    -------
    >>> resolve_devices(TrainSettings(devices=2), gpu_count=0)
    ('cpu', 2)
    >>> resolve_devices(TrainSettings(), gpu_count=4)
    ('gpu', 4)
    """
    accelerator = train.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if gpu_count else "cpu"
    if accelerator == "cpu":
        return accelerator, train.devices or 1
    if train.devices > gpu_count or not gpu_count:
        raise TrainingError(
            f"Training asks for {train.devices or 'every'} GPU(s), but {gpu_count} are visible here. "
            "Ask for fewer devices, or choose the CPU accelerator."
        )
    return accelerator, train.devices or gpu_count


# -- start / stop ---------------------------------------------------------------------------
def entry_argv(
    ws: Workspace,
    train: TrainSettings,
    reset_optimizer: bool = False,
    accelerator: str = "cpu",
    world_size: int = 1,
) -> list[str]:
    """Return the command of the training job (``python -m svcqa.train.entry ...``) on
    ``world_size`` processes of ``accelerator``."""
    argv = [
        sys.executable,
        "-m",
        "svcqa.train.entry",
        "--workspace",
        str(ws.root),
        "--control-dir",
        str(ws.train_control_dir),
        "--target-steps",
        str(train.target_steps),
        "--finish-epoch-s",
        str(train.stop_finish_epoch_s),
        "--progress-interval-s",
        str(train.progress_interval_s),
        "--settle-s",
        str(train.checkpoint_settle_s),
        "--accelerator",
        accelerator,
        "--devices",
        str(world_size),
        "--rank-watch-s",
        str(train.rank_watch_s),
    ]
    return [*argv, "--reset-optimizer"] if reset_optimizer else argv


def start(
    ws: Workspace,
    train: TrainSettings | None = None,
    *,
    env: Mapping[str, str] | None = None,
    reset_optimizer: bool = False,
) -> TrainRun:
    """Start (or resume) training as the workspace's background "train" job; return its record.

    ``train`` defaults to the workspace's saved settings; its batch size, intervals and
    precision are written into ``configs/44k/config.json`` first. ``env`` is added after the
    workspace's own so-vits-svc-fork variables (:func:`svcqa.engines.svc.workspace_env`). Raises
    :class:`DatasetError` when the dataset is not preprocessed, :class:`TrainingError` when the
    target is already reached or the newest checkpoints do not pair, :class:`JobError` when a
    run is already going.
    """
    train = train or ws.load_settings().train
    check_settings(train)
    running = jobs.running_job(ws, JOB_KIND)
    if running is not None:
        raise JobError(f"Training is already running (job {running.id}); stop it first.")
    check_preprocessed(ws)
    resumed_from = check_resumable(ws)
    if resumed_from is not None and resumed_from >= train.target_steps:
        raise TrainingError(
            f"The newest checkpoint is at step {resumed_from}, at or past the target of "
            f"{train.target_steps} steps: raise the target to train on."
        )
    run_env = {**svc.workspace_env(ws), **(env or {})}
    gpus = gpu.gpus_for({**os.environ, **run_env})
    accelerator, world_size = resolve_devices(train, len(gpus))
    svc.edit_config(ws.config_path, train, training_config_edits(train))
    folder = ws.train_control_dir
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (STOP_FILE, PROGRESS_FILE):
        (folder / stale).unlink(missing_ok=True)
    argv = entry_argv(ws, train, reset_optimizer, accelerator, world_size)
    job = jobs.start(ws, JOB_KIND, argv, env=svc.svc_env(run_env))
    run = TrainRun(
        job_id=job.id,
        config_sha256=file_sha256(ws.config_path),
        target_steps=train.target_steps,
        resumed_from_step=resumed_from,
        precision=train.precision,
        batch_size=train.batch_size,
        gpus=tuple(g.to_dict() for g in gpus[:world_size]) if accelerator == "gpu" else (),
        settings=train.to_dict(),
        accelerator=accelerator,
        world_size=world_size,
    )
    jobrunner.write_record(jobs.job_dir(ws, job.id) / RUN_FILE, run.to_dict())
    return run


def request_stop(ws: Workspace) -> jobs.Job | None:
    """Ask the running training to save and stop; return its job (None when none runs)."""
    job = jobs.running_job(ws, JOB_KIND)
    if job is None:
        return None
    folder = ws.train_control_dir
    folder.mkdir(parents=True, exist_ok=True)
    jobrunner.write_record(jobs.job_dir(ws, job.id) / jobrunner.STOP_FILE, {"requested_at": now_iso()})
    jobrunner.write_record(folder / STOP_FILE, {"requested_at": now_iso(), "job_id": job.id})
    return job


def stop_requested(ws: Workspace, job: jobs.Job) -> bool:
    """Return True when a stop of ``job`` was asked for (it may still be saving)."""
    return (jobs.job_dir(ws, job.id) / jobrunner.STOP_FILE).exists()


def stop(ws: Workspace, timeout_s: float | None = None) -> jobs.Job | None:
    """Return the training job after stopping it with a save (None when none was running).

    The training process finishes the epoch when that is quick, saves G and D at that step and
    exits. If it has not ended after ``timeout_s`` (default: the settings' stop timeout plus the
    epoch allowance) it is interrupted, terminated, then killed (:func:`svcqa.core.jobs.stop`).
    """
    job = request_stop(ws)
    if job is None:
        return None
    train = ws.load_settings().train
    patience_s = timeout_s if timeout_s is not None else train.stop_timeout_s + train.stop_finish_epoch_s
    deadline = time.monotonic() + patience_s
    extended = False
    while True:
        current = jobs.get(ws, job.id)
        if not current.running:
            return current
        if time.monotonic() > deadline:
            progress = read_progress(ws, job)
            if extended or progress is None or progress.state != "saving":
                break
            # Interrupting the D write would truncate it: a slow disk gets one more timeout.
            deadline, extended = time.monotonic() + train.stop_timeout_s, True
        time.sleep(_STOP_POLL_S)
    return jobs.stop(ws, job.id, timeout_s=train.stop_timeout_s)


# -- reading --------------------------------------------------------------------------------
def latest_job(ws: Workspace) -> jobs.Job | None:
    """Return the running training job, else the newest one, else None."""
    found = jobs.list_jobs(ws, JOB_KIND)
    return next((job for job in found if job.running), found[0] if found else None)


def read_run(ws: Workspace, job: jobs.Job) -> TrainRun | None:
    """Return what ``job`` was started with, or None for a job without a readable record."""
    try:
        return TrainRun.from_dict(jobrunner.read_record(jobs.job_dir(ws, job.id) / RUN_FILE))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def read_progress(ws: Workspace, job: jobs.Job | None = None) -> Progress | None:
    """Return the training process's latest progress; with ``job``, only if it is that run's."""
    try:
        progress = Progress.from_dict(jobrunner.read_record(ws.train_control_dir / PROGRESS_FILE))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if job is not None and iso_to_epoch_s(progress.run_started_at) < iso_to_epoch_s(job.started_at):
        return None
    return progress


def public_state(job: jobs.Job | None) -> str:
    """Return the state of :data:`STATES` for ``job`` (a run that reached its target: stopped)."""
    if job is None:
        return "none"
    return {"running": "running", "failed": "failed"}.get(job.state, "stopped")


def status(ws: Workspace, train: TrainSettings | None = None, log_lines: int = 400) -> TrainStatus:
    """Return where training stands: job state, step, checkpoints, disk, diagnoses."""
    settings = ws.load_settings()
    train = train or settings.train
    job = latest_job(ws)
    run = read_run(ws, job) if job else None
    progress = read_progress(ws, job) if job else None
    if job is None or not job.running:
        # A run that ended (stopped, or a rank killed mid-run) may leave checkpoints its rank 0
        # had no time to register; nothing writes them any more, so they count at once.
        checkpoints.register_new_checkpoints(ws, settle_s=0.0)
    registered = checkpoints.list_checkpoints(ws)
    step = progress.step if progress else (registered[-1].step if registered else None)
    disk = checkpoints.disk_usage(ws)
    newest_bytes = registered[-1].size_bytes if registered else 0
    target = run.target_steps if run else train.target_steps
    warning = disk_warning(disk, train, step or 0, target, newest_bytes)
    found: list[Diagnosis] = []
    if job is not None:
        found = diagnose(
            read_log(jobs.log_path(ws, job.id)),
            job,
            losses=progress.losses if progress else None,
            resumed_from_step=run.resumed_from_step if run else None,
            batch_size=run.batch_size if run else train.batch_size,
            count_long_clips=lambda: count_long_clips(ws, settings.audit.max_duration_s),
            max_clip_s=settings.audit.max_duration_s,
        )
    return TrainStatus(
        public_state(job), job, run, progress, step, tuple(registered), disk, warning, tuple(found)
    )


def log_tail(ws: Workspace, max_lines: int = 60) -> str:
    """Return the last lines of the newest training job's log ("" without one)."""
    job = latest_job(ws)
    return jobs.log_tail(ws, job.id, max_lines=max_lines) if job else ""


def count_long_clips(ws: Workspace, max_duration_s: float) -> int:
    """Return how many training clips are longer than ``max_duration_s``."""
    count = 0
    for relative in svc_training_files(ws):
        try:
            count += decode.probe(ws.root / relative).duration_s > max_duration_s
        except AudioError:
            continue
    return count


def disk_warning(
    disk: checkpoints.DiskUsage, train: TrainSettings, step: int, target_steps: int, generator_bytes: int
) -> str | None:
    """Return a warning when the disk is low, or will run out before the target step, else None.

    The archive keeps every generator (``generator_bytes`` each, one per ``eval_interval``
    steps); so-vits-svc-fork's rotation keeps the run folder's own files bounded.
    """
    gb = 1e9
    if disk.free_bytes < train.disk_warn_free_bytes:
        return (
            f"Only {disk.free_bytes / gb:.1f} GB free on the workspace's disk (warning under "
            f"{train.disk_warn_free_bytes / gb:.0f} GB). Each save writes a ~560 MB D_*.pth: delete "
            "archived checkpoints you will not use, or free space, before training stops for lack of it."
        )
    saves_left = math.ceil(max(target_steps - step, 0) / max(train.eval_interval, 1))
    needed = saves_left * generator_bytes
    if needed > disk.free_bytes - train.disk_warn_free_bytes:
        return (
            f"The archive will need about {needed / gb:.1f} GB more to reach step {target_steps} "
            f"({saves_left} more checkpoints), but only {disk.free_bytes / gb:.1f} GB are free. "
            "Raise the eval interval, lower the target, or free space."
        )
    return None
