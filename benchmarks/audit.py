"""Audit speed through the CLI with every default check on, cold (measured) and warm (cached).

Writes ``--minutes`` of ``--clip-s`` second sung clips (44.1 kHz, 16-bit; a few generated takes
at varied gain with their own noise, so no two clips are duplicates), then times
``python -m svcqa audit DIR`` end to end, process start-up included: once with an empty cache
(cold: every clip decoded and measured: loudness, pitch, speech/singing, noise floor, voice
embedding) and once more (warm: every clip cached). The reference is the audio's own duration,
so the figures are multiples of real time; the load average is printed with them, because
other work on the machine slows every figure.

Targets (2 cores): cold >= 200x on 15 s clips, >= 150x on 5 s clips; warm >= 5,000x.

Run: ``.venv/bin/python benchmarks/audit.py [--minutes 60] [--clip-s 15] [--workers N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.audio.encode import write_wav
from svcqa.demo.synth import sung_phrase

SR = 44_100
ROOT = Path(__file__).resolve().parent.parent
TARGETS_X = {"cold 15 s": 200.0, "cold 5 s": 150.0, "warm": 5000.0}


def build_dataset(folder: Path, minutes: float, clip_s: float) -> float:
    """Write ``minutes`` of ``clip_s`` second sung clips into ``folder`` and return their seconds."""
    n_notes = max(2, round(clip_s / 3))
    takes = [
        sung_phrase([55 + i + 2 * k % 9 for k in range(n_notes)], clip_s / n_notes, SR, seed=i)
        for i in range(8)
    ]
    n_clips = round(minutes * 60 / clip_s)
    for i in range(n_clips):
        gain = 0.5 + 0.5 * (i % 7) / 7
        noise = np.random.default_rng(i).normal(0, 1e-3, takes[0].size).astype(np.float32)
        write_wav(folder / f"clip_{i:04d}.wav", takes[i % len(takes)] * gain + noise, SR, "PCM_16")
    return n_clips * clip_s


def timed_audit(folder: Path, cache_home: Path, workers: int | None) -> tuple[float, float]:
    """Return the wall-clock and CPU seconds (user + system, the command and the children it
    waited for) of one ``python -m svcqa audit`` run, its output discarded."""
    command = [sys.executable, "-m", "svcqa", "audit", str(folder)]
    if workers:
        command += ["--workers", str(workers)]
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cache_home, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"svcqa audit failed with exit code {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_utime + usage.ru_stime


def main() -> None:
    """Print cold and warm audit speed as multiples of real time, with the load average."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="audio to audit (default 60)")
    parser.add_argument("--clip-s", type=float, default=15.0, help="length of each clip (default 15)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--warm-runs", type=int, default=3, help="warm runs; the best counts (default 3)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also measure the cold audit's CPU time on one worker (load-independent)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache_home = Path(tmp) / "dataset", Path(tmp) / "cache"
        folder.mkdir()
        cache_home.mkdir()
        audio_s = build_dataset(folder, args.minutes, args.clip_s)
        print(f"audio: {audio_s / 60:.0f} min in {round(audio_s / args.clip_s)} clips of {args.clip_s:g} s")
        print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
        cold_s, _ = timed_audit(folder, cache_home, args.workers)
        warm_s = min(timed_audit(folder, cache_home, args.workers)[0] for _ in range(args.warm_runs))
        if args.cpu:
            (cache_home / "one").mkdir()
            _, cpu_s = timed_audit(folder, cache_home / "one", 1)
    cold_target = TARGETS_X["cold 5 s" if args.clip_s <= 5 else "cold 15 s"]
    for label, seconds, target in (("cold", cold_s, cold_target), ("warm", warm_s, TARGETS_X["warm"])):
        ratio = audio_s / seconds
        verdict = "meets" if ratio >= target else "MISSES"
        print(f"{label}: {seconds:6.2f} s = {ratio:7.0f}x real time ({verdict} {target:.0f}x)")
    if args.cpu:
        print(
            f"cold on one worker: {cpu_s:.1f} s of CPU = {audio_s / cpu_s:.0f}x real time per core "
            f"(two idle cores: about {2 * audio_s / cpu_s:.0f}x)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
