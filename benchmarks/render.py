"""Render speed: K checkpoints of one 20 s excerpt, svcqa's shared-feature renderer against one
``svc infer`` call per checkpoint (what users do today), measured in the same run.

Run: ``.venv/bin/python benchmarks/render.py [--checkpoints 5] [--device cpu|cuda] [--workdir DIR]``.

It builds its own tiny model (stand-in ContentVec, a short real ``svc train``, then copies of the
generator with slightly perturbed weights saved as checkpoints at steps 10000, 20000, ...), kept
in ``--workdir`` for the next run. Both sides start cold, as separate processes: svcqa is timed
as one ``python -m svcqa render`` call (Python start, ContentVec, features, K decodes, loudness
matching), the baseline as K ``svc infer`` calls. ``--baseline-threads N`` runs ``svc infer``
with N torch threads (default: torch's own choice, as users run it); svcqa uses its
``ConversionSettings.cpu_threads`` (half the cores) on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.core import jobs
from svcqa.core.workspace import Workspace
from svcqa.demo.synth import sung_phrase
from svcqa.demo.tiny_models import build_tiny_contentvec, tiny_config_edits, tiny_env, tiny_train_settings
from svcqa.engines import svc

REPO = Path(__file__).resolve().parent.parent
SR = 44_100
EXCERPT_S = 20.0
FIRST_STEP = 10
TRAIN_TIMEOUT_S = 900.0


def build_model(workdir: Path) -> tuple[Workspace, dict[str, str]]:
    """Return a workspace with a tiny trained ``logs/44k/G_10.pth`` (built once) and its environment."""
    hf_home = workdir / "hf_home"
    build_tiny_contentvec(hf_home)
    env = svc.svc_env(tiny_env(hf_home))
    ws = Workspace(workdir / "model").ensure_layout()
    generator = ws.logs_44k / f"G_{FIRST_STEP}.pth"
    if generator.is_file():
        return ws, env
    speaker = ws.dataset_raw / "singer"
    speaker.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        notes = [55 + (i * 5) % 12, 59 + (i * 3) % 9, 62 + i % 5]
        sf.write(speaker / f"phrase_{i:02d}.wav", sung_phrase(notes, 1.0, SR, seed=i), SR, subtype="PCM_16")
    train = dataclasses.replace(tiny_train_settings(), eval_interval=FIRST_STEP, log_interval=5)
    print("building the tiny model: preprocessing and a short training...", flush=True)
    svc.preprocess(ws, train, extra_edits=tiny_config_edits(), env=env)
    job = jobs.start(ws, "train", svc.train_argv(), env=env)
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
    return ws, env


def make_checkpoints(model: Workspace, target: Workspace, count: int) -> list[Path]:
    """Return ``count`` generator checkpoints in ``target``: the trained one's weights slightly perturbed."""
    import torch

    trained = torch.load(model.logs_44k / f"G_{FIRST_STEP}.pth", map_location="cpu", weights_only=True)
    paths = []
    for k in range(1, count + 1):
        generator = torch.Generator().manual_seed(k)
        weights = {
            name: value + 1e-3 * value.std().nan_to_num() * torch.randn(value.shape, generator=generator)
            if value.is_floating_point() and value.numel() > 1
            else value
            for name, value in trained["model"].items()
        }
        path = target.logs_44k / f"G_{10_000 * k}.pth"
        torch.save(
            {"model": weights, "iteration": 10_000 * k, "optimizer": None, "learning_rate": 1e-4}, path
        )
        paths.append(path)
    return paths


def write_excerpt(path: Path) -> None:
    """Write a 20 s sung excerpt: phrases with short pauses, as a verse has."""
    pause = np.zeros(int(0.4 * SR), dtype=np.float32)
    phrases = []
    for k in range(4):
        phrases += [sung_phrase([60 + k, 64 + k, 67 + k, 72 - k], 1.1, SR, seed=k), pause]
    audio = np.concatenate(phrases)
    audio = np.pad(audio, (0, max(int(EXCERPT_S * SR) - audio.size, 0)))[: int(EXCERPT_S * SR)]
    sf.write(path, audio, SR, subtype="PCM_16")


def time_svc_infer(
    ws: Workspace, song: Path, checkpoints: list[Path], env: dict[str, str], device: str, threads: int | None
) -> float:
    """Return the seconds K ``svc infer`` calls take, one per checkpoint."""
    full_env = svc.subprocess_env(env)
    if threads:
        full_env["OMP_NUM_THREADS"] = str(threads)
    out_dir = ws.root / "baseline"
    out_dir.mkdir(exist_ok=True)
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
        )
        subprocess.run(argv, cwd=ws.root, env=full_env, check=True, capture_output=True)
    return time.perf_counter() - started


def time_svcqa(ws: Workspace, song: Path, env: dict[str, str], device: str, count: int) -> tuple[float, dict]:
    """Return the seconds one ``python -m svcqa render`` call takes, and its JSON."""
    settings = ws.load_settings()
    ws.save_settings(settings.with_section("conversion", device=device))
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
        "10000",
        "--f0-method",
        "parselmouth",
        "--json",
        str(out),
    ]
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, env=svc.subprocess_env(env), check=True, capture_output=True)
    seconds = time.perf_counter() - started
    result = json.loads(out.read_text(encoding="utf-8"))
    assert len(result["renders"]) == count and not any(r["error"] for r in result["renders"]), result
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", type=int, default=5, help="K, the number of checkpoints")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the tiny model here between runs")
    parser.add_argument("--baseline-threads", type=int, default=None, help="torch threads of svc infer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        model, env = build_model(workdir)
        run_dir = Path(tmp) / "run"
        ws = Workspace(run_dir).ensure_layout()
        shutil.copy(model.logs_44k / "config.json", ws.logs_44k / "config.json")
        checkpoints = make_checkpoints(model, ws, args.checkpoints)
        song = run_dir / "excerpt.wav"
        write_excerpt(song)
        baseline_s = time_svc_infer(ws, song, checkpoints, env, args.device, args.baseline_threads)
        svcqa_s, result = time_svcqa(ws, song, env, args.device, args.checkpoints)
        lufs = [r["lufs"] for r in result["renders"]]
    k = args.checkpoints
    threads = args.baseline_threads or "torch default"
    print(
        f"device {args.device}, {os.cpu_count()} CPU cores; K = {k} checkpoints of one {EXCERPT_S:g} s excerpt"
    )
    print(
        f"svc infer, one call per checkpoint ({threads} threads): {baseline_s:7.1f} s  ({baseline_s / k:.1f} s each)"
    )
    print(f"svcqa render, one call:                        {svcqa_s:7.1f} s  ({svcqa_s / k:.1f} s each)")
    print(f"renders' loudness: {min(lufs):.2f} to {max(lufs):.2f} LUFS")
    print(f"ratio: {baseline_s / svcqa_s:.1f}x faster")


if __name__ == "__main__":
    main()
