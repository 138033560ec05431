"""The background render worker: renders every new checkpoint as training registers it.

Run as a job of kind ``render`` (:func:`start`; one at a time per workspace) with
``python -m svcqa.listen.render_worker WORKSPACE``. Each round it re-reads the workspace's
:class:`~svcqa.core.settings.RenderSettings` (so an edit on the page applies at the next round),
registers ``logs/44k/G_*.pth`` files nobody registered yet, and renders every checkpoint at or
past ``min_step`` with every chosen excerpt that has no render for the current settings. It
renders on the GPU when there is one and, with ``only_while_training_stopped``, waits while a
``train`` job runs (checked again before each checkpoint). It runs until stopped, or with
``--once`` until the queue is empty.

With ``RenderSettings.devices`` above one it spreads the checkpoints over that many processes,
one per device (the GPUs ``cuda:0`` to ``cuda:N-1``, or N CPU processes): it computes each
excerpt's features once itself, and every process loads them from the disk cache and decodes
its share of the checkpoints.

Example
-------
>>> job = start(Workspace(Path("workspace")))          # doctest: +SKIP
>>> jobs.log_tail(Workspace(Path("workspace")), job.id)  # doctest: +SKIP
'Step 12000, verse.wav 12.0-37.5 s (high): -23.0 LUFS, decoded in 0.8 s'
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from svcqa.core import jobs
from svcqa.core.errors import SvcqaError
from svcqa.core.settings import RenderSettings
from svcqa.core.store.renders import RenderRecord
from svcqa.core.workspace import Workspace
from svcqa.engines.svc import quiet_svc_logging
from svcqa.listen.excerpts import Excerpt, ExcerptError
from svcqa.listen.render import RenderContext, Renderer, RenderQueue, render_context, render_queue
from svcqa.train import checkpoints
from svcqa.train.checkpoints import Checkpoint

JOB_KIND = "render"
TRAIN_JOB_KIND = "train"
STOP_TIMEOUT_S = 15.0


def start(ws: Workspace, once: bool = False, env: Mapping[str, str] | None = None) -> jobs.Job:
    """Return the started render worker job; :class:`~svcqa.core.errors.JobError` if one already runs."""
    argv = [sys.executable, "-m", "svcqa.listen.render_worker", str(ws.root)]
    # The worker imports svcqa from this checkout, wherever the workspace is.
    return jobs.start(ws, JOB_KIND, [*argv, "--once"] if once else argv, env=env, cwd=jobs.PACKAGE_ROOT)


def stop(ws: Workspace) -> jobs.Job | None:
    """Return the render worker job after stopping it, or None when none was running."""
    job = jobs.running_job(ws, JOB_KIND)
    return None if job is None else jobs.stop(ws, job.id, timeout_s=STOP_TIMEOUT_S)


def running(ws: Workspace) -> jobs.Job | None:
    """Return the running render worker job, or None."""
    return jobs.running_job(ws, JOB_KIND)


def training_blocks(ws: Workspace) -> bool:
    """Return True when rendering must wait: only while training is stopped, and it runs."""
    settings = ws.load_settings().render
    return settings.only_while_training_stopped and jobs.running_job(ws, TRAIN_JOB_KIND) is not None


def run(
    ws: Workspace,
    once: bool = False,
    env: Mapping[str, str] | None = None,
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Render until stopped (or, with ``once``, until nothing is pending); return the renders made
    (failed ones not counted).

    ``env`` holds extra environment variables deciding which ContentVec is used (see
    :func:`svcqa.listen.render.render_context`).
    """
    renderer: Renderer | None = None
    made = 0
    last_wait = ""
    while True:
        settings = ws.load_settings().render
        work = next_work(ws, settings, env)
        if isinstance(work, str):
            if work != last_wait:
                log(work)
                last_wait = work
            if once:
                return made
            sleep(settings.poll_s)
            continue
        last_wait = ""
        context, queue = work
        if renderer is None or renderer.context != context:
            renderer = Renderer(ws, context, log=log)
            log(f"Rendering on {renderer.device}; settings {context.settings_hash}.")
        log(f"{len(queue.pending)} renders pending.")
        records = render_on_devices(ws, renderer, queue.pending, settings.devices, log)
        made += sum(1 for record in records if record.ok and not record.cached)
        if settings.measure_metrics:
            measure_new_metrics(ws, log)


def device_names(device: str, count: int) -> list[str]:
    """Return one torch device per render process: ``cuda:0`` to ``cuda:count-1`` (as many as
    there are) when ``device`` is a GPU, else ``count`` times ``cpu``."""
    if not device.startswith("cuda"):
        return ["cpu"] * max(count, 1)
    import torch

    return [f"cuda:{index}" for index in range(max(min(count, torch.cuda.device_count()), 1))]


def render_on_devices(
    ws: Workspace,
    renderer: Renderer,
    pairs: Iterable[tuple[Checkpoint, Excerpt]],
    devices: int,
    log: Callable[[str], None] = print,
) -> list[RenderRecord]:
    """Return the renders of ``pairs``, made by ``renderer`` or, with several ``devices``, by one
    process per device, each rendering every excerpt with its share of the checkpoints.

    The features are computed here first, so the processes only load them. Rendering stops
    before the next checkpoint while training blocks it (:func:`training_blocks`).
    """
    pairs = list(pairs)
    names = device_names(renderer.device, devices)
    steps = sorted({checkpoint.step for checkpoint, _ in pairs})
    if len(names) < 2 or len(steps) < 2:
        return renderer.render(pairs, keep_going=lambda: not training_blocks(ws))
    for excerpt in {excerpt.id: excerpt for _, excerpt in pairs}.values():
        with contextlib.suppress(ExcerptError):  # each process records the failure for its checkpoints
            renderer.features(excerpt)
    shares: list[list[tuple[Checkpoint, Excerpt]]] = [[] for _ in names]
    for checkpoint, excerpt in pairs:
        shares[steps.index(checkpoint.step) % len(names)].append((checkpoint, excerpt))
    log(f"Spreading {len(steps)} checkpoints over {len(names)} processes ({', '.join(names)}).")
    records: list[RenderRecord] = []
    with ProcessPoolExecutor(len(names), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(render_share, ws.root, on_device(renderer.context, name), share)
            for name, share in zip(names, shares, strict=True)
        ]
        for name, future in zip(names, futures, strict=True):
            pid, made = future.result()
            log(
                f"Process {pid} on {name}: {len(made)} renders of {len({r.checkpoint_step for r in made})} checkpoints."
            )
            records.extend(made)
    return records


def on_device(context: RenderContext, device: str) -> RenderContext:
    """Return ``context`` rendering on ``device`` (the device is no part of a render's identity)."""
    settings = dataclasses.replace(context.conversion.settings, device=device)
    return dataclasses.replace(context, conversion=dataclasses.replace(context.conversion, settings=settings))


def render_share(
    root: Path, context: RenderContext, pairs: list[tuple[Checkpoint, Excerpt]]
) -> tuple[int, list[RenderRecord]]:
    """Render ``pairs`` in this process (one of :func:`render_on_devices`'); return its pid and
    the renders. Progress lines go to this process's standard output (the job's log)."""
    quiet_svc_logging()
    ws = Workspace(root)
    renderer = Renderer(ws, context, log=lambda line: print(line, flush=True))
    return os.getpid(), renderer.render(pairs, keep_going=lambda: not training_blocks(ws))


def measure_new_metrics(ws: Workspace, log: Callable[[str], None] = print) -> None:
    """Compute and cache the objective metrics of renders not measured yet (never raises)."""
    from svcqa.listen.checkpoint_metrics import dataset_reference, measure_renders
    from svcqa.listen.stimuli import stimuli_from_renders

    try:
        full = ws.load_settings()
        stimuli = stimuli_from_renders(ws, use_shortlist=False)
        if stimuli:
            measure_renders(ws, stimuli, dataset_reference(ws, full), full, progress=lambda _f, m: None)
            log(f"Metrics up to date for {len(stimuli)} renders.")
    except Exception as exc:  # metrics are a screen: a failure must not stop rendering
        log(f"Could not compute render metrics: {type(exc).__name__}: {exc}")


def next_work(
    ws: Workspace, settings: RenderSettings, env: Mapping[str, str] | None = None
) -> tuple[RenderContext, RenderQueue] | str:
    """Return the context and queue of what to render now, or why there is nothing to do."""
    if training_blocks(ws):
        return "Training is running; rendering waits until it stops."
    try:
        checkpoints.register_new_checkpoints(ws)
        context = render_context(ws, settings, env)
    except SvcqaError as exc:
        return str(exc)
    queue = render_queue(ws, context, settings.min_step)
    if not queue.pending:
        return f"Nothing to render: {len(queue.done)} done, {len(queue.failed)} failed."
    return context, queue


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m svcqa.listen.render_worker WORKSPACE [--once]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--once", action="store_true", help="stop when nothing is pending")
    args = parser.parse_args(argv)
    ws = Workspace(args.workspace)
    if not ws.root.is_dir():
        parser.error(f"workspace {ws.root} does not exist")
    quiet_svc_logging()
    try:
        made = run(ws.ensure_layout(), once=args.once, log=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
        return 0
    print(f"Done: {made} renders made.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
