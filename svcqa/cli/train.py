"""``svcqa train``: start, stop, inspect and watch so-vits-svc-fork training."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from svcqa.cli.common import existing_workspace, json_flag, workspace_argument, write_json
from svcqa.core.settings import TRAIN_ACCELERATORS, TRAIN_PRECISIONS


@click.group("train")
def train() -> None:
    """Start, stop, inspect and watch so-vits-svc-fork training in a workspace."""


def _status_lines(current: Any) -> list[str]:
    """Return ``train status`` as text lines."""
    progress = current.progress
    target = current.run.target_steps if current.run else None
    lines = [
        f"state: {current.state}" + (f" ({current.job.state}, job {current.job.id})" if current.job else "")
    ]
    if current.step is not None:
        lines.append(f"step: {current.step}" + (f" of {target}" if target else ""))
    if progress is not None:
        speed = f"{progress.steps_per_s:.2f} steps/s" if progress.steps_per_s else "speed not measured yet"
        eta = f", about {progress.eta_s / 60:.0f} min to the target" if progress.eta_s is not None else ""
        ranks = f" ({progress.world_size} processes)" if progress.world_size > 1 else ""
        lines.append(f"epoch: {progress.epoch}, {speed}{eta}; devices: {', '.join(progress.devices)}{ranks}")
    lines.append(f"checkpoints: {len(current.checkpoints)} registered")
    for checkpoint in current.checkpoints[-5:]:
        where = "run folder" if checkpoint.path.exists() else "archive only"
        derived = " (derived)" if checkpoint.step_derived else ""
        lines.append(
            f"  step {checkpoint.step}{derived}: {checkpoint.path.name}, {checkpoint.sha256[:12]}, {where}"
        )
    disk = current.disk
    lines.append(f"archive: {disk.archive_bytes / 1e9:.2f} GB; free disk: {disk.free_bytes / 1e9:.1f} GB")
    if current.disk_warning:
        lines.append(f"warning: {current.disk_warning}")
    for found in current.diagnoses:
        lines.append(f"{found.severity}: {found.title}. {found.explanation} Fix: {found.fix}")
    return lines


@train.command("start")
@workspace_argument
@click.option(
    "--target-steps",
    type=click.IntRange(min=1),
    default=None,
    help="Hard stop at this step (default: the workspace's setting, 60000; 20000 is usually usable).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Clips per batch (default: the setting)."
)
@click.option("--precision", type=click.Choice(TRAIN_PRECISIONS), default=None, help="Lightning precision.")
@click.option("--log-interval", type=click.IntRange(min=1), default=None, help="Steps between loss logs.")
@click.option(
    "--eval-interval",
    type=click.IntRange(min=1),
    default=None,
    help="Steps between checkpoints (and evaluations).",
)
@click.option(
    "--devices",
    type=click.IntRange(min=0),
    default=None,
    help="Training processes, one per device, trained together with Lightning DDP when more than one "
    "(0: every visible GPU, else one CPU process; default: the setting).",
)
@click.option(
    "--accelerator",
    type=click.Choice(TRAIN_ACCELERATORS),
    default=None,
    help="Where the processes run (auto: the GPU when there is one; default: the setting).",
)
@click.option("--reset-optimizer", is_flag=True, help="Resume the weights but start the optimizer afresh.")
@json_flag
def train_start(
    workspace_dir: Path,
    target_steps: int | None,
    batch_size: int | None,
    precision: str | None,
    log_interval: int | None,
    eval_interval: int | None,
    devices: int | None,
    accelerator: str | None,
    reset_optimizer: bool,
    as_json: bool,
) -> None:
    """Start training WORKSPACE in the background, or resume it from its newest checkpoint.

    Options given are saved as the workspace's training settings. The run goes on without this
    command (and without a browser); `train stop` ends it with a save.
    """
    from svcqa.train import training

    ws = existing_workspace(workspace_dir)
    settings = ws.load_settings()
    changes = {
        key: value
        for key, value in {
            "target_steps": target_steps,
            "batch_size": batch_size,
            "precision": precision,
            "log_interval": log_interval,
            "eval_interval": eval_interval,
            "devices": devices,
            "accelerator": accelerator,
        }.items()
        if value is not None
    }
    if changes:
        settings = settings.with_section("train", **changes)
        ws.save_settings(settings)
    run = training.start(ws, settings.train, reset_optimizer=reset_optimizer)
    if as_json:
        write_json(run.to_dict(), "-")
        return
    resumed = f"resuming from step {run.resumed_from_step}" if run.resumed_from_step else "from scratch"
    where = ", ".join(g["name"] for g in run.gpus) or "CPU"
    processes = f" in {run.world_size} processes (DDP)" if run.world_size > 1 else ""
    click.echo(
        f"Training started {resumed} to step {run.target_steps} on {where}{processes} (job {run.job_id})."
    )


@train.command("stop")
@workspace_argument
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds to wait for the save before terminating (default: the settings' stop timeout).",
)
@json_flag
def train_stop(workspace_dir: Path, timeout_s: float | None, as_json: bool) -> None:
    """Stop WORKSPACE's training after it saves G and D at the current step."""
    from svcqa.train import training

    ws = existing_workspace(workspace_dir)
    job = training.stop(ws, timeout_s)
    current = training.status(ws)
    if as_json:
        write_json(current.to_dict(), "-")
        return
    if job is None:
        click.echo("No training is running.")
        return
    saved = current.progress.saved_step if current.progress else None
    click.echo(f"Training {current.state}" + (f", saved at step {saved}." if saved is not None else "."))


@train.command("status")
@workspace_argument
@json_flag
def train_status(workspace_dir: Path, as_json: bool) -> None:
    """Show WORKSPACE's training: state, step, speed, checkpoints, disk and diagnoses."""
    from svcqa.train import training

    current = training.status(existing_workspace(workspace_dir))
    if as_json:
        write_json(current.to_dict(), "-")
        return
    for line in _status_lines(current):
        click.echo(line)


@train.command("watch")
@workspace_argument
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder to watch (default: WORKSPACE/logs/44k), e.g. an original so-vits-svc logs/44k.",
)
@click.option(
    "--steps-per-epoch",
    type=click.IntRange(min=1),
    default=None,
    help="For checkpoints named by epoch, when the folder's config.json cannot tell.",
)
@click.option("--once", is_flag=True, help="Register what the folder holds now, then exit.")
@click.option("--poll", is_flag=True, help="Poll the folder instead of file events (network file systems).")
@json_flag
def train_watch(
    workspace_dir: Path,
    folder: Path | None,
    steps_per_epoch: int | None,
    once: bool,
    poll: bool,
    as_json: bool,
) -> None:
    """Register and archive every generator checkpoint that appears in a run folder, until Ctrl-C.

    Works for runs svcqa did not start. With --json each registered checkpoint is one JSON line.
    """
    from svcqa.train import checkpoints

    ws = existing_workspace(workspace_dir).ensure_layout()
    watched = (folder or ws.logs_44k).absolute()
    if folder is not None and not watched.is_dir():
        raise click.UsageError(f"Folder {watched} does not exist.")
    naming = checkpoints.naming_for(watched, steps_per_epoch)
    settle_s = ws.load_settings().train.checkpoint_settle_s

    def report(checkpoint: Any) -> None:
        if as_json:
            click.echo(json.dumps(checkpoint.to_dict()))
        else:
            derived = " (derived)" if checkpoint.step_derived else ""
            click.echo(
                f"registered {checkpoint.path.name}: step {checkpoint.step}{derived} -> {checkpoint.archived_path}"
            )

    watcher = checkpoints.CheckpointWatcher(
        ws,
        watched,
        naming=naming,
        settle_s=settle_s,
        on_register=report,
        on_error=lambda path, exc: click.echo(f"could not register {path.name}: {exc}", err=True),
        poll=poll,
    )
    how = "by step" if naming.by_step else f"by epoch, {naming.steps_per_epoch} steps per epoch"
    click.echo(f"Watching {watched} (checkpoints named {how}); Ctrl-C ends.", err=True)
    watcher.start()
    try:
        while not once:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop(drain=True)
