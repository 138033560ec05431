"""Render speed: K checkpoints of one 20 s excerpt, svcqa's shared-feature renderer against one
``svc infer`` call per checkpoint (what users do today), measured in the same run.

Run: ``.venv/bin/python benchmarks/render.py [--model-size tiny|real] [--checkpoints 3]
[--device cpu|cuda] [--workdir DIR] [--json OUT]``.

Models, built once into ``--workdir`` (``<workdir>/<size>/``) and reused by the next run:

* ``tiny``: the stand-in ContentVec, a short real ``svc train``, then copies of its generator with
  slightly perturbed weights saved as checkpoints at steps 10000, 20000, ...;
* ``real``: random weights with the real shapes (:mod:`svcqa.demo.real_models`): ContentVec base
  (12 layers, 768 wide, projection to 256) and the so-vits-svc 4.x 44 kHz generator, one seed per
  checkpoint, saved as ``svc train`` saves them (about 550 MB each).

Both sides start cold, as separate processes, with the same slicing (the workspace's
:class:`~svcqa.core.settings.ConversionSettings`): svcqa is timed as one ``python -m svcqa render``
call (Python start, ContentVec, features, K decodes, loudness matching), the baseline as K
``svc infer`` calls. The checkpoints are registered before the clock starts, as svcqa's training
registers each one when it is written. ``--baseline-threads N`` runs ``svc infer`` with N torch
threads (default: torch's own choice, as users run it); svcqa uses its
``ConversionSettings.cpu_threads``.

The JSON holds ``speedup_vs_svc_infer`` (svc_infer_s / svcqa_s), ``svcqa_s``, ``svc_infer_s``,
``decode_s`` (time in the generators' forward passes, summed over the renders), ``decode_share``
(decode_s / svcqa_s: what is left is start-up, loading, features and loudness), the per-render
load and decode times and the load average before and after. With K > 1 it also holds what a warm
process does (the render worker while training adds checkpoints): ``warm_s`` for rendering
checkpoints 2..K again in one process after its first render, ``warm_decode_s`` and
``warm_decode_share``. ``--repeats N`` runs N rounds of both sides, each from nothing cached, and
reports the round of the median speedup (``speedup_each`` and ``decode_share_each`` hold every
round's).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.core import jobs
from svcqa.core.files import atomic_write_json
from svcqa.core.workspace import Workspace
from svcqa.demo.real_models import build_real_contentvec, build_real_model
from svcqa.demo.synth import sung_phrase
from svcqa.demo.tiny_models import build_tiny_contentvec, tiny_config_edits, tiny_env, tiny_train_settings
from svcqa.engines import svc
from svcqa.train.checkpoints import register_new_checkpoints

REPO = Path(__file__).resolve().parent.parent
SR = 44_100
EXCERPT_S = 20.0
FIRST_STEP = 10
STEP_SPACING = 10_000
TRAIN_TIMEOUT_S = 900.0
MODEL_SIZES = ("tiny", "real")


def build_tiny(workdir: Path, count: int) -> tuple[Path, list[Path], dict[str, str]]:
    """Return the tiny model's config, ``count`` checkpoints and environment (built once)."""
    hf_home = workdir / "hf_home"
    build_tiny_contentvec(hf_home)
    env = svc.svc_env(tiny_env(hf_home))
    ws = Workspace(workdir / "model").ensure_layout()
    trained = ws.logs_44k / f"G_{FIRST_STEP}.pth"
    if not trained.is_file():
        train_tiny(ws, env)
    return ws.logs_44k / "config.json", perturbed_copies(trained, workdir / "checkpoints", count), env


def train_tiny(ws: Workspace, env: dict[str, str]) -> None:
    """Train the tiny model until ``logs/44k/G_10.pth`` is written, then delete the discriminators."""
    speaker = ws.dataset_raw / "singer"
    speaker.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        notes = [55 + (i * 5) % 12, 59 + (i * 3) % 9, 62 + i % 5]
        sf.write(speaker / f"phrase_{i:02d}.wav", sung_phrase(notes, 1.0, SR, seed=i), SR, subtype="PCM_16")
    train = dataclasses.replace(tiny_train_settings(), eval_interval=FIRST_STEP, log_interval=5)
    print("building the tiny model: preprocessing and a short training...", flush=True)
    svc.preprocess(ws, train, extra_edits=tiny_config_edits(), env=env)
    job = jobs.start(ws, "train", svc.train_argv(), env=env)
    generator = ws.logs_44k / f"G_{FIRST_STEP}.pth"
    discriminator = ws.logs_44k / f"D_{FIRST_STEP}.pth"
    deadline, last_size = time.monotonic() + TRAIN_TIMEOUT_S, -1
    while True:
        size = discriminator.stat().st_size if discriminator.exists() else -1
        if generator.exists() and size > 0 and size == last_size:
            break
        if not jobs.get(ws, job.id).running or time.monotonic() > deadline:
            sys.exit(f"training produced no {generator.name}:\n{jobs.log_tail(ws, job.id, 40)}")
        last_size = size
        time.sleep(1.0)
    jobs.stop(ws, job.id, timeout_s=60)
    for path in ws.logs_44k.glob("D_*.pth"):
        path.unlink()


def perturbed_copies(trained: Path, folder: Path, count: int) -> list[Path]:
    """Return ``count`` checkpoints in ``folder``: ``trained``'s weights slightly perturbed."""
    import torch

    state = torch.load(trained, map_location="cpu", weights_only=True)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(1, count + 1):
        path = folder / f"G_{STEP_SPACING * k}.pth"
        paths.append(path)
        if path.is_file():
            continue
        generator = torch.Generator().manual_seed(k)
        weights = {
            name: value + 1e-3 * value.std().nan_to_num() * torch.randn(value.shape, generator=generator)
            if value.is_floating_point() and value.numel() > 1
            else value
            for name, value in state["model"].items()
        }
        torch.save({**state, "model": weights, "iteration": STEP_SPACING * k}, path)
    return paths


def build_real(workdir: Path, count: int) -> tuple[Path, list[Path], dict[str, str]]:
    """Return the real-size model's config, ``count`` checkpoints and environment (built once)."""
    hf_home = workdir / "hf_home"
    print("building the real-size stand-ins (once)...", flush=True)
    build_real_contentvec(hf_home)
    folder = workdir / "checkpoints"
    paths = build_real_model(folder, tuple(STEP_SPACING * k for k in range(1, count + 1)))
    return folder / "config.json", paths, svc.svc_env(tiny_env(hf_home))


def write_excerpt(path: Path) -> None:
    """Write a 20 s sung excerpt: phrases with short pauses, as a verse has."""
    pause = np.zeros(int(0.4 * SR), dtype=np.float32)
    phrases = []
    for k in range(4):
        phrases += [sung_phrase([60 + k, 64 + k, 67 + k, 72 - k], 1.1, SR, seed=k), pause]
    audio = np.concatenate(phrases)
    audio = np.pad(audio, (0, max(int(EXCERPT_S * SR) - audio.size, 0)))[: int(EXCERPT_S * SR)]
    sf.write(path, audio, SR, subtype="PCM_16")


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy(source, target)


def time_svc_infer(
    ws: Workspace, song: Path, checkpoints: list[Path], env: dict[str, str], device: str, threads: int | None
) -> float:
    """Return the seconds K ``svc infer`` calls take, one per checkpoint, slicing as svcqa does."""
    full_env = svc.subprocess_env(env)
    if threads:
        full_env["OMP_NUM_THREADS"] = str(threads)
    out_dir = ws.root / "baseline"
    out_dir.mkdir(exist_ok=True)
    conversion = ws.load_settings().conversion
    started = time.perf_counter()
    for checkpoint in checkpoints:
        argv = svc.infer_argv(
            song,
            out_dir / f"{checkpoint.stem}.wav",
            checkpoint,
            ws.logs_44k / "config.json",
            "parselmouth",
            speaker="singer",
            device=device,
            conversion=conversion,
        )
        subprocess.run(argv, cwd=ws.root, env=full_env, check=True, capture_output=True)
    return time.perf_counter() - started


def time_svcqa(ws: Workspace, song: Path, env: dict[str, str], count: int) -> tuple[float, dict[str, Any]]:
    """Return the seconds one ``python -m svcqa render`` call takes, and its JSON."""
    out = ws.root / "svcqa.json"
    argv = [
        sys.executable,
        "-m",
        "svcqa",
        "render",
        str(ws.root),
        "--song",
        str(song),
        "--excerpt",
        f"0:{EXCERPT_S:g}",
        "--min-step",
        str(STEP_SPACING),
        "--f0-method",
        "parselmouth",
        "--json",
        str(out),
    ]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=svc.subprocess_env(env), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"svcqa render failed:\n{done.stderr[-4000:]}")
    result = json.loads(out.read_text(encoding="utf-8"))
    assert len(result["renders"]) == count and not any(r["error"] for r in result["renders"]), result
    return seconds, result


def warm_child(run_dir: Path) -> None:
    """Print, as JSON, how one process renders the registered checkpoints after its first render:
    what the render worker does while training adds checkpoints (imports, ContentVec and the
    excerpt's features already in memory)."""
    from svcqa.engines.svc import quiet_svc_logging
    from svcqa.listen.excerpts import chosen_excerpts
    from svcqa.listen.render import Renderer, render_context
    from svcqa.train.checkpoints import list_checkpoints

    quiet_svc_logging()
    ws = Workspace(run_dir)
    settings = dataclasses.replace(ws.load_settings().render, f0_method="parselmouth", min_step=STEP_SPACING)
    renderer = Renderer(ws, render_context(ws, settings))
    excerpt = chosen_excerpts(ws)[0]
    first, *rest = list_checkpoints(ws, min_step=STEP_SPACING)
    renderer.render([(first, excerpt)], force=True)  # the process's cold part
    started = time.perf_counter()
    records = renderer.render([(checkpoint, excerpt) for checkpoint in rest], force=True)
    seconds = time.perf_counter() - started
    decode_s = sum(record.decode_s or 0.0 for record in records)
    print(json.dumps({"warm_s": seconds, "warm_decode_s": decode_s, "warm_renders": len(records)}))


def time_warm(run_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Return :func:`warm_child`'s figures, run in a process of its own."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--warm-child", str(run_dir)]
    done = subprocess.run(argv, cwd=REPO, env=svc.subprocess_env(env), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the warm render failed:\n{done.stderr[-4000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["warm_decode_share"] = figures["warm_decode_s"] / figures["warm_s"] if figures["warm_s"] else None
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the models, time both sides, and return the figures."""
    workdir = args.workdir.absolute() / args.model_size
    build = build_real if args.model_size == "real" else build_tiny
    config_path, checkpoints, env = build(workdir, args.checkpoints)
    run_dir = workdir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    ws = Workspace(run_dir).ensure_layout()
    shutil.copy(config_path, ws.logs_44k / "config.json")
    for checkpoint in checkpoints:
        link_or_copy(checkpoint, ws.logs_44k / checkpoint.name)
    settings = ws.load_settings()
    # Both sides on the same torch threads (svcqa's own default is half the cores, leaving the
    # rest to the dashboard; svc infer takes them all).
    threads = args.threads or os.cpu_count() or 1
    ws.save_settings(settings.with_section("conversion", device=args.device, cpu_threads=threads))
    register_new_checkpoints(ws)
    song = run_dir / "excerpt.wav"
    write_excerpt(song)
    load_before = os.getloadavg()
    rounds = []
    for _ in range(args.repeats):
        # Each round starts from nothing cached: no renders, no features on disk.
        shutil.rmtree(ws.root / "renders", ignore_errors=True)
        baseline_s = time_svc_infer(ws, song, checkpoints, env, args.device, args.baseline_threads or threads)
        svcqa_s, result = time_svcqa(ws, song, env, args.checkpoints)
        rounds.append((baseline_s, svcqa_s, result))
    warm = time_warm(run_dir, env) if args.checkpoints > 1 else {}
    load_after = os.getloadavg()
    # The round of the median speedup gives every figure (one round: that round).
    rounds.sort(key=lambda item: item[0] / item[1])
    baseline_s, svcqa_s, result = rounds[len(rounds) // 2]
    renders = result["renders"]
    decode_s = sum(r["decode_s"] for r in renders)
    return {
        "model_size": args.model_size,
        "device": args.device,
        "checkpoints": args.checkpoints,
        "excerpt_s": EXCERPT_S,
        "cpu_count": os.cpu_count(),
        "baseline_threads": args.baseline_threads or threads,
        "threads": threads,
        "repeats": args.repeats,
        "speedup_vs_svc_infer": baseline_s / svcqa_s,
        "svcqa_s": svcqa_s,
        "svc_infer_s": baseline_s,
        "decode_s": decode_s,
        "decode_share": decode_s / svcqa_s,
        "speedup_each": [b / q for b, q, _ in rounds],
        "decode_share_each": [sum(r["decode_s"] for r in res["renders"]) / q for _, q, res in rounds],
        "load_s": [r["load_s"] for r in renders],
        "decode_s_each": [r["decode_s"] for r in renders],
        "lufs": [r["lufs"] for r in renders],
        **warm,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-size", choices=MODEL_SIZES, default="tiny")
    parser.add_argument("--checkpoints", type=int, default=3, help="K, the number of checkpoints")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".bench", help="models are built once into DIR/<size>"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of both sides on the CPU (default: every core)",
    )
    parser.add_argument(
        "--baseline-threads", type=int, default=None, help="torch threads of svc infer (default: --threads)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="rounds of both sides; the round of the median speedup is reported",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON to OUT")
    parser.add_argument("--warm-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_child:
        warm_child(args.warm_child)
        return
    figures = run(args)
    k = args.checkpoints
    print(
        f"{args.model_size} models on {args.device}, {os.cpu_count()} CPU cores; K = {k} checkpoints "
        f"of one {EXCERPT_S:g} s excerpt; load average {figures['load_average_before'][0]:.1f} before, "
        f"{figures['load_average_after'][0]:.1f} after"
    )
    print(
        f"svc infer, one call per checkpoint: {figures['svc_infer_s']:7.1f} s  ({figures['svc_infer_s'] / k:.1f} s each)"
    )
    print(
        f"svcqa render, one call:             {figures['svcqa_s']:7.1f} s  ({figures['svcqa_s'] / k:.1f} s each)"
    )
    print(
        f"decoding (generator forward): {figures['decode_s']:.1f} s, {figures['decode_share']:.0%} of svcqa's time"
    )
    if "warm_s" in figures:
        print(
            f"in a warm process (the render worker during training), {figures['warm_renders']} more render(s): "
            f"{figures['warm_s']:.1f} s, decoding {figures['warm_decode_share']:.0%} of it"
        )
    print(f"renders' loudness: {min(figures['lufs']):.2f} to {max(figures['lufs']):.2f} LUFS")
    print(f"ratio: {figures['speedup_vs_svc_infer']:.2f}x faster")
    if args.repeats > 1:
        each = ", ".join(f"{x:.2f}x" for x in figures["speedup_each"])
        shares = ", ".join(f"{x:.0%}" for x in figures["decode_share_each"])
        print(f"{args.repeats} rounds, the median reported: {each}; decoding {shares}")
    if args.json:
        atomic_write_json(args.json, figures)


if __name__ == "__main__":
    main()
