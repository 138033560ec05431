"""Training speed: steps/s of svcqa's training job (so-vits-svc-fork through Lightning) on one or
several devices, with the tiny stand-ins or the real 44 kHz config.

Run: ``.venv/bin/python benchmarks/train.py [--model-size tiny|real] [--devices N]
[--accelerator auto|cpu|gpu] [--batch-size 16] [--precision 16-mixed] [--steps 20]
[--workdir DIR] [--json OUT]``.

A synthetic sung dataset is preprocessed once into ``--workdir`` (``train-<size>``; ``real``
uses the real-size stand-in ContentVec of :mod:`svcqa.demo.real_models`, so the features are
768 wide as with ContentVec base). Each run copies it into a fresh workspace, starts training
as ``svcqa train start`` does (``--devices`` processes through DDP when more than one), skips
``--warmup-steps`` steps, then measures ``--steps`` steps from the run's own progress reports and
kills the job (no checkpoint is written: the save interval is beyond the run).

The JSON holds ``steps_per_s``, ``samples_per_s`` (steps/s x batch size x processes, each
process training its own batch), ``seconds_to_first_step``, the settings and the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.core import jobs
from svcqa.core.files import atomic_write_json
from svcqa.core.settings import TRAIN_ACCELERATORS, TRAIN_PRECISIONS, TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.demo.real_models import build_real_contentvec
from svcqa.demo.synth import sung_phrase
from svcqa.demo.tiny_models import build_tiny_contentvec, tiny_config_edits, tiny_env, tiny_train_settings
from svcqa.engines import svc
from svcqa.train import training

REPO = Path(__file__).resolve().parent.parent
SR = 44_100
POLL_S = 0.5
TIMEOUT_S = 900.0


def preprocessed(
    workdir: Path, model_size: str, clips: int, clip_s: float
) -> tuple[Workspace, dict[str, str]]:
    """Return a workspace preprocessed by so-vits-svc-fork's own commands (built once) and its env."""
    hf_home = workdir / "hf_home"
    (build_real_contentvec if model_size == "real" else build_tiny_contentvec)(hf_home)
    env = svc.svc_env(tiny_env(hf_home))
    ws = Workspace(workdir / f"prep-{clips}x{clip_s:g}s").ensure_layout()
    if ws.config_path.is_file():
        return ws, env
    speaker = ws.dataset_raw / "singer"
    speaker.mkdir(parents=True, exist_ok=True)
    for i in range(clips):
        notes = [55 + (i * 5) % 12, 59 + (i * 3) % 9, 62 + i % 5, 57 + i % 7]
        phrase = sung_phrase(notes, clip_s / len(notes), SR, seed=i)
        sf.write(speaker / f"phrase_{i:03d}.wav", phrase, SR, subtype="PCM_16")
    print(f"preprocessing {clips} clips for the {model_size} model (once)...", flush=True)
    edits = tiny_config_edits() if model_size == "tiny" else None
    svc.preprocess(ws, tiny_train_settings(), extra_edits=edits, env=env)
    return ws, env


def measure(ws: Workspace, job: jobs.Job, warmup_steps: int, steps: int) -> dict[str, float]:
    """Return the seconds to the first step and the steps/s over ``steps`` steps after the warm-up."""
    started = time.monotonic()
    first_s = None
    window: list[tuple[float, int]] = []
    deadline = started + TIMEOUT_S
    while time.monotonic() < deadline:
        if not jobs.get(ws, job.id).running:
            sys.exit(f"training ended early:\n{jobs.log_tail(ws, job.id, 60)}")
        progress = training.read_progress(ws, job)
        if progress is not None and progress.started_step is not None:
            done = progress.step - progress.started_step
            first_s = first_s if first_s is not None else time.monotonic() - started
            if done >= warmup_steps and (not window or window[-1][1] != progress.step):
                window.append((time.monotonic(), progress.step))
            if window and window[-1][1] - window[0][1] >= steps:
                (t0, s0), (t1, s1) = window[0], window[-1]
                return {"seconds_to_first_step": first_s, "steps_per_s": (s1 - s0) / (t1 - t0)}
        time.sleep(POLL_S)
    sys.exit(f"no {steps} measured steps after {TIMEOUT_S:.0f} s:\n{jobs.log_tail(ws, job.id, 60)}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Preprocess (once), train for the warm-up and the measured steps, and return the figures."""
    workdir = args.workdir.absolute() / f"train-{args.model_size}"
    prep, env = preprocessed(workdir, args.model_size, args.clips, args.clip_s)
    ws = Workspace(workdir / "run")
    shutil.rmtree(ws.root, ignore_errors=True)
    ws.ensure_layout()
    for relative in ("dataset", "filelists", "configs"):
        shutil.copytree(prep.root / relative, ws.root / relative, dirs_exist_ok=True)
    train = dataclasses.replace(
        tiny_train_settings(TrainSettings()),
        batch_size=args.batch_size,
        precision=args.precision,
        devices=args.devices,
        accelerator=args.accelerator,
        num_workers=args.num_workers,
        target_steps=10**6,
        eval_interval=10**6,
        log_interval=10**6,
        progress_interval_s=POLL_S,
    )
    load_before = os.getloadavg()
    run_record = training.start(ws, train, env=env)
    job = jobs.get(ws, run_record.job_id)
    try:
        figures = measure(ws, job, args.warmup_steps, args.steps)
    finally:
        # A benchmark needs no save: end every rank at once.
        os.killpg(job.pid, signal.SIGKILL)
        jobs.wait(ws, job.id, timeout_s=60)
    world = run_record.world_size
    return {
        "model_size": args.model_size,
        "accelerator": run_record.accelerator,
        "world_size": world,
        "gpus": [g["name"] for g in run_record.gpus],
        "batch_size": args.batch_size,
        "precision": args.precision,
        "measured_steps": args.steps,
        **figures,
        "samples_per_s": figures["steps_per_s"] * args.batch_size * world,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-size", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--devices", type=int, default=1, help="training processes (DDP when more than one)")
    parser.add_argument("--accelerator", choices=TRAIN_ACCELERATORS, default="auto")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--precision", choices=TRAIN_PRECISIONS, default="32")
    parser.add_argument("--num-workers", type=int, default=1, help="data loader workers per process")
    parser.add_argument("--clips", type=int, default=12, help="synthetic clips (4 go to validation and test)")
    parser.add_argument("--clip-s", type=float, default=3.0)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="steps measured after the warm-up")
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".bench", help="the dataset is built once into DIR"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON to OUT")
    args = parser.parse_args()
    figures = run(args)
    print(
        f"{args.model_size} model, {figures['world_size']} x {figures['accelerator']}, batch {args.batch_size}, "
        f"precision {args.precision}; load average {figures['load_average_before'][0]:.1f} before, "
        f"{figures['load_average_after'][0]:.1f} after"
    )
    print(
        f"first step after {figures['seconds_to_first_step']:.1f} s; {figures['steps_per_s']:.2f} steps/s, "
        f"{figures['samples_per_s']:.1f} clips/s"
    )
    if args.json:
        atomic_write_json(args.json, figures)


if __name__ == "__main__":
    main()
