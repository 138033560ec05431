"""``python -m svcqa.train.entry``: so-vits-svc-fork's own training, with a stop that saves.

:func:`svcqa.train.training.start` runs this module as the "train" background job instead of
``svc train``. It calls so-vits-svc-fork's ``train()`` unchanged and adds one Lightning
callback through the model's ``configure_callbacks`` hook (so-vits-svc-fork defines none):

* **Stop that saves.** Plain SIGINT makes Lightning exit without a checkpoint. Here a stop
  request (the file ``stop_request.json`` in the control folder, or SIGINT/SIGTERM) only sets a
  flag; after the current batch the callback saves G and D through so-vits-svc-fork's own
  ``save_checkpoints`` and ends training. It first finishes the epoch when that is quick
  (:attr:`~svcqa.core.settings.TrainSettings.stop_finish_epoch_s`): so-vits-svc-fork resumes at
  the start of the epoch after the saved one, so a save at an epoch's end resumes at exactly
  the saved step.
* **Target steps.** Training ends the same way, saved, at the target step (the hard stop).
* **Progress.** ``progress.json`` in the control folder: step, epoch, steps/s, losses,
  devices. so-vits-svc-fork's progress bar prints nothing when its output goes to a file.
* **Archive.** A :class:`~svcqa.train.checkpoints.CheckpointWatcher` thread registers every new
  ``G_<n>.pth`` while training runs, so the run may rotate its own files again.

* **Devices.** ``--accelerator`` and ``--devices`` replace so-vits-svc-fork's own choice (every
  GPU it sees). With more than one device Lightning DDP starts this same command once more per
  extra device (ranks 1 to N-1, children of rank 0); on the CPU they talk through gloo. The stop
  decision is shared by all ranks and only rank 0 saves (so-vits-svc-fork's own guard lets every
  CPU rank save), writes progress and watches. A rank whose rank 0 has gone (killed) ends
  itself; Lightning kills every rank when one of the others dies.

Steps are so-vits-svc-fork's own batch counter (``total_batch_idx``): the ``n`` of ``G_<n>.pth``
and the step of its event files. A fresh run's first batch is step 2, a resumed run's first batch
the saved step + 1 (after a save at an epoch's end). Lightning's ``global_step`` is twice the
step (two optimisers).
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from svcqa.core.files import now_iso
from svcqa.core.jobrunner import write_record
from svcqa.core.settings import TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.train import checkpoints
from svcqa.train.ranks import end_with_parent, is_rank_zero
from svcqa.train.training import PROGRESS_FILE, STOP_FILE

_SPEED_WINDOW_S = 60.0


class StopTraining(Exception):
    """Raised by the callback after it saved, to end ``trainer.fit`` (Lightning re-raises it)."""

    def __init__(self, reason: str, step: int) -> None:
        super().__init__(f"{reason} at step {step}")
        self.reason = reason
        self.step = step


class StopFlag:
    """A stop request: set by a signal or found as a file in the control folder."""

    def __init__(self, control_dir: Path) -> None:
        self._file = control_dir / STOP_FILE
        self._event = threading.Event()
        self.reason = ""
        self.urgent = False
        """True after SIGTERM: Lightning ends the run after the current batch, so save at once."""
        self.saving = False
        """True while G and D are written: an interrupt then would truncate the ~560 MB D file."""

    def set(self, reason: str, urgent: bool = False) -> None:
        """Request a stop for ``reason`` (``urgent``: save after the current batch, whatever else)."""
        self.urgent = self.urgent or urgent
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        """Return True once a stop was requested (by signal, or by the stop file appearing)."""
        if not self._event.is_set() and self._file.exists():
            self.set("stop requested")
        return self._event.is_set()


def trainer_options(accelerator: str, devices: int) -> dict[str, Any]:
    """Return the ``pl.Trainer`` arguments that train on ``devices`` processes of ``accelerator``.

    More than one device is DDP with unused parameters allowed, as so-vits-svc-fork itself asks
    for on several GPUs (its two optimisers each step only part of the model); gloo on the CPU,
    NCCL on GPUs.

    Example
    -------
    >>> trainer_options("cpu", 1)
    {'accelerator': 'cpu', 'devices': 1, 'strategy': 'auto'}
    >>> type(trainer_options("cpu", 2)["strategy"]).__name__
    'DDPStrategy'
    """
    from lightning.pytorch.strategies import DDPStrategy

    strategy: Any = DDPStrategy(find_unused_parameters=True) if devices > 1 else "auto"
    return {"accelerator": accelerator, "devices": devices, "strategy": strategy}


def use_trainer_options(svc_train: Any, options: dict[str, Any]) -> None:
    """Make so-vits-svc-fork's ``train()`` build its ``pl.Trainer`` with ``options`` over its own.

    Only the ``pl`` name of its module changes: Lightning itself is left as it is.
    """
    lightning = types.ModuleType(pl.__name__)
    lightning.__dict__.update(vars(pl))
    lightning.Trainer = lambda **kwargs: pl.Trainer(**{**kwargs, **options})  # type: ignore[attr-defined]
    svc_train.pl = lightning


def save_on_rank_zero_only(model_class: Any) -> None:
    """Let only the global rank 0 write checkpoints: so-vits-svc-fork skips only GPUs other than
    ``cuda:0``, so every CPU rank would write the same files at once."""
    save = model_class.save_checkpoints

    def save_checkpoints(self: Any, adjust: int = 1) -> None:
        if self.trainer.is_global_zero:
            save(self, adjust)

    model_class.save_checkpoints = save_checkpoints


def should_stop_now(
    stop_requested: bool, batches_left: int, steps_per_s: float | None, finish_epoch_s: float
) -> bool:
    """Return whether a requested stop saves after this batch rather than at the epoch's end.

    ``batches_left`` are the batches of the current epoch still to run; the epoch is finished
    first when that takes at most ``finish_epoch_s`` at ``steps_per_s`` (unknown speed: one
    more batch measures it).

    Example
    -------
    >>> should_stop_now(True, batches_left=3, steps_per_s=1.0, finish_epoch_s=20.0)
    False
    >>> should_stop_now(True, batches_left=300, steps_per_s=1.0, finish_epoch_s=20.0)
    True
    """
    if not stop_requested:
        return False
    if batches_left <= 0 or finish_epoch_s <= 0:
        return True
    if not steps_per_s:
        return False
    return batches_left / steps_per_s > finish_epoch_s


class ControlCallback(pl.Callback):
    """Saves and ends training on a stop request or at the target step; reports progress."""

    def __init__(
        self,
        control_dir: Path,
        flag: StopFlag,
        target_steps: int,
        finish_epoch_s: float,
        progress_interval_s: float,
    ) -> None:
        self.control_dir = control_dir
        self.flag = flag
        self.target_steps = target_steps
        self.finish_epoch_s = finish_epoch_s
        self.progress_interval_s = progress_interval_s
        self.started_step: int | None = None
        self.samples: collections.deque[tuple[float, int]] = collections.deque()
        self.last_write = 0.0
        self.state = "starting"
        self.run_started_at = now_iso()
        self.rank_processes: list[subprocess.Popen[bytes]] = []
        """Ranks 1 to N-1 as Lightning started them (rank 0 only)."""

    # -- hooks ---------------------------------------------------------------------
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # so-vits-svc-fork sets its resumed step in its own on_train_start, which runs
        # after the callbacks': the first batch tells the real start.
        self.state = "training"
        self.rank_processes = list(getattr(trainer.strategy.launcher, "procs", None) or [])

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if getattr(pl_module, "tuning", False):
            return
        step = int(pl_module.total_batch_idx)
        if self.started_step is None:
            self.started_step = step - 1
        now = time.monotonic()
        self.samples.append((now, step))
        while len(self.samples) > 2 and now - self.samples[0][0] > _SPEED_WINDOW_S:
            self.samples.popleft()
        requested = self.flag.is_set()
        reached = step >= self.target_steps
        batches_left = int(trainer.num_training_batches) - (batch_idx + 1)
        decision = reached or should_stop_now(
            requested,
            0 if trainer.is_last_batch or self.flag.urgent else batches_left,
            self.steps_per_s(),
            self.finish_epoch_s,
        )
        # With DDP every rank must stop at the same batch: any rank's "stop" counts for all.
        stopping_now = trainer.strategy.reduce_boolean_decision(decision, all=False)
        if requested and not stopping_now:
            self.state = "stopping"
        if stopping_now or now - self.last_write >= self.progress_interval_s:
            self.write_progress(trainer, pl_module, step)
        if not stopping_now:
            return
        reason = "target reached" if reached else (self.flag.reason or "stop requested")
        self.state = "saving"
        self.write_progress(trainer, pl_module, step, reason=reason)
        if trainer.is_global_zero:
            self.flag.saving = True
            try:
                self.save(pl_module, step)
            finally:
                self.flag.saving = False
        trainer.strategy.barrier("svcqa-save")
        self.state = "finished" if reached else "stopped"
        self.write_progress(trainer, pl_module, step, reason=reason, saved_step=step)
        raise StopTraining(reason, step)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        # so-vits-svc-fork writes G/D in place right after this hook; a name that exists
        # already is unlinked first, so an archived hard link keeps its own content.
        if trainer.sanity_checking or getattr(pl_module, "tuning", False) or not trainer.is_global_zero:
            return
        for path in checkpoint_paths(pl_module, adjust=1):
            path.unlink(missing_ok=True)

    # -- helpers -------------------------------------------------------------------
    def steps_per_s(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, s0), (t1, s1) = self.samples[0], self.samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    def save(self, pl_module: Any, step: int) -> None:
        # Validation (and its save) for this step would come after this hook, so a G/D
        # of this step is left over from another run: unlinked, its archive stays intact.
        for path in checkpoint_paths(pl_module, adjust=1):
            path.unlink(missing_ok=True)
        print(f"svcqa: saving checkpoints at step {step}", flush=True)
        pl_module.save_checkpoints(adjust=1)

    def write_progress(
        self,
        trainer: Any,
        pl_module: Any,
        step: int,
        reason: str | None = None,
        saved_step: int | None = None,
    ) -> None:
        if not trainer.is_global_zero:
            return
        self.last_write = time.monotonic()
        record = {
            "state": self.state,
            "step": step,
            "started_step": self.started_step,
            "epoch": int(pl_module.current_epoch),
            "steps_per_epoch": int(trainer.num_training_batches),
            "steps_per_s": self.steps_per_s(),
            "target_steps": self.target_steps,
            "losses": metrics(trainer.callback_metrics),
            "precision": str(trainer.precision),
            "devices": devices(trainer),
            "world_size": int(trainer.world_size),
            "pid": os.getpid(),
            "updated_at": now_iso(),
        }
        if reason is not None:
            record["reason"] = reason
        if saved_step is not None:
            record["saved_step"] = saved_step
        record["run_started_at"] = self.run_started_at
        write_record(self.control_dir / PROGRESS_FILE, record)


def checkpoint_paths(pl_module: Any, adjust: int) -> list[Path]:
    """Return the G and D paths so-vits-svc-fork's ``save_checkpoints(adjust)`` would write now."""
    by_step = pl_module.hparams.train.get("ckpt_name_by_step", False)
    number = pl_module.total_batch_idx - 1 + adjust if by_step else pl_module.current_epoch + adjust
    folder = Path(pl_module.hparams.model_dir)
    return [folder / f"G_{number}.pth", folder / f"D_{number}.pth"]


def metrics(callback_metrics: Any) -> dict[str, float | None]:
    """Return Lightning's latest logged values as plain floats (None for NaN/inf, kept as a sign)."""
    out: dict[str, float | None] = {}
    for key, value in dict(callback_metrics).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        out[str(key)] = number if math.isfinite(number) else None
    return out


def devices(trainer: Any) -> list[str]:
    """Return the devices of the run, with GPU names: ``["cuda:0 NVIDIA H100 80GB HBM3"]`` or ``["cpu"]``."""
    strategy = trainer.strategy
    found = list(getattr(strategy, "parallel_devices", None) or [strategy.root_device])
    names = []
    for device in found:
        label = str(device)
        if device.type == "cuda":
            import torch

            label = f"{label} {torch.cuda.get_device_name(device)}"
        names.append(label)
    return names


def _install_signal_handlers(flag: StopFlag) -> None:
    def request(signum: int, _frame: Any) -> None:
        if flag.saving:
            return
        if flag.is_set() and signum == signal.SIGINT:
            # A second Ctrl-C means "now": Lightning's own interrupt handling, without a save.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        flag.set(f"{signal.Signals(signum).name} received", urgent=signum == signal.SIGTERM)

    signal.signal(signal.SIGINT, request)
    signal.signal(signal.SIGTERM, request)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m svcqa.train.entry", description=__doc__.split("\n")[0])
    defaults = TrainSettings()
    parser.add_argument("--workspace", type=Path, default=Path.cwd())
    parser.add_argument("--config", type=Path, help="Default: the workspace's configs/44k/config.json.")
    parser.add_argument("--model-dir", type=Path, help="Default: the workspace's logs/44k.")
    parser.add_argument("--control-dir", type=Path, required=True)
    parser.add_argument("--target-steps", type=int, required=True)
    parser.add_argument("--finish-epoch-s", type=float, default=defaults.stop_finish_epoch_s)
    parser.add_argument("--progress-interval-s", type=float, default=defaults.progress_interval_s)
    parser.add_argument("--settle-s", type=float, default=defaults.checkpoint_settle_s)
    parser.add_argument(
        "--accelerator", choices=("cpu", "gpu"), default=None, help="Default: so-vits-svc-fork's choice."
    )
    parser.add_argument("--devices", type=int, default=1, help="Training processes, one per device.")
    parser.add_argument("--rank-watch-s", type=float, default=defaults.rank_watch_s)
    parser.add_argument("--reset-optimizer", action="store_true")
    parser.add_argument("--no-watch", action="store_true", help="Do not register checkpoints in the archive.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run training until the target step or a stop; return the exit code (0: saved and ended)."""
    args = _parse(argv)
    ws = Workspace(args.workspace)
    config = args.config or ws.config_path
    model_dir = args.model_dir or ws.logs_44k
    control_dir = args.control_dir.absolute()
    control_dir.mkdir(parents=True, exist_ok=True)
    flag = StopFlag(control_dir)
    _install_signal_handlers(flag)
    if not is_rank_zero():
        end_with_parent(args.rank_watch_s)
    watcher = None
    if is_rank_zero() and not args.no_watch:
        watcher = checkpoints.CheckpointWatcher(
            ws,
            model_dir if model_dir.is_absolute() else ws.root / model_dir,
            settle_s=args.settle_s,
            on_register=lambda c: print(f"svcqa: archived {c.path.name} (step {c.step})", flush=True),
            on_error=lambda p, e: print(f"svcqa: could not archive {p.name}: {e}", flush=True),
        ).start()

    from so_vits_svc_fork import train as svc_train

    callback = ControlCallback(
        control_dir, flag, args.target_steps, args.finish_epoch_s, args.progress_interval_s
    )
    svc_train.VitsLightning.configure_callbacks = lambda _self: [callback]
    save_on_rank_zero_only(svc_train.VitsLightning)
    if args.accelerator is not None:
        use_trainer_options(svc_train, trainer_options(args.accelerator, args.devices))
    try:
        svc_train.train(config, model_dir, reset_optimizer=args.reset_optimizer)
    except StopTraining as stop:
        print(f"svcqa: training ended, {stop}", flush=True)
        for rank in callback.rank_processes:
            # The job ends when rank 0 does: the other ranks, stopping at the same batch, end first.
            rank.wait()
    finally:
        if watcher is not None:
            watcher.stop(drain=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
