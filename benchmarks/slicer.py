"""Slicer speed (multiples of real time, target 500x) and peak memory (target under 400 MB).

Builds a long recording at 44.1 kHz (16-bit mono WAV: a 30-minute session is 160 MB) from
generated sung phrases and pauses of room noise, then times

* :func:`svcqa.prepare.slicer.plan_slices` on the array (the cut plan a preview needs), and
* ``python -m svcqa slice`` through the CLI, end to end: process start-up, decoding (twice, in
  chunks), planning and writing every piece; its peak resident memory is that child's maximum
  RSS as the kernel counts it (``os.wait4``).

``--minutes`` can be given twice or more (e.g. ``--minutes 30 --minutes 55``) to show that the
peak memory does not grow with the recording's length (``slice`` refuses recordings over
``limits.slice_max_s``, 1 h by default).

Usage::

    .venv/bin/python -m benchmarks.slicer [--minutes 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from svcqa.audio.encode import write_wav
from svcqa.demo.synth import silence, sung_phrase
from svcqa.prepare.slicer import plan_slices

SAMPLE_RATE_HZ = 44_100
TARGET_X_REAL_TIME = 500.0
TARGET_PEAK_MB = 400.0
ROOT = Path(__file__).resolve().parent.parent


def build_recording(minutes: float, seed: int = 0) -> np.ndarray:
    """Return ``minutes`` of mono audio: 4-12 s phrases between 0.2-2 s pauses of room noise."""
    rng = np.random.default_rng(seed)
    # Synthesising an hour note by note is slow; a handful of phrases reused in random order
    # gives the slicer the same work.
    phrases = [sung_phrase([67 + i % 5] * n, 1.0, SAMPLE_RATE_HZ, seed=i) for i, n in enumerate(range(4, 13))]
    chunks, total = [], 0
    while total < minutes * 60 * SAMPLE_RATE_HZ:
        phrase = phrases[int(rng.integers(len(phrases)))]
        pause = silence(float(rng.uniform(0.2, 2.0)), SAMPLE_RATE_HZ, noise_dbfs=-65.0, seed=total)
        chunks.extend([phrase, pause])
        total += phrase.size + pause.size
    return np.concatenate(chunks)


def best_time_s(action, repeats: int) -> float:
    """Return the shortest wall-clock time of ``repeats`` calls of ``action``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def write_and_plan(minutes: float, path: Path, repeats: int) -> tuple[float, float, int]:
    """Write a recording of ``minutes`` to ``path``; return its seconds, the best plan time and its piece count.

    Runs in a child process, so that the benchmark itself stays small: a child's peak memory
    as the kernel counts it includes its parent's at the moment it starts.
    """
    audio = build_recording(minutes)
    plan_s = best_time_s(lambda: plan_slices(audio, SAMPLE_RATE_HZ), repeats)
    pieces = len(plan_slices(audio, SAMPLE_RATE_HZ).pieces)
    write_wav(path, audio, SAMPLE_RATE_HZ, "PCM_16")
    return audio.size / SAMPLE_RATE_HZ, plan_s, pieces


def slice_cli(source: Path, out_dir: Path) -> tuple[float, float]:
    """Return the wall-clock seconds and the peak resident memory (MB) of one ``python -m svcqa slice`` run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "svcqa", "slice", str(source), str(out_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"svcqa slice failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    """Print plan and CLI slice speed as multiples of real time, and the CLI's peak memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, action="append", help="length of a test recording (default 30; repeatable)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts (default 3)")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    for minutes in args.minutes or [30.0]:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "in").mkdir()
            source = Path(tmp) / "in" / "take.wav"
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                duration_s, plan_s, pieces = pool.apply(write_and_plan, (minutes, source, args.repeats))
            size_mb = source.stat().st_size / 1e6
            runs = [slice_cli(source, Path(tmp) / f"out{i}") for i in range(args.repeats)]
        cli_s = min(seconds for seconds, _ in runs)
        peak_mb = max(peak for _, peak in runs)
        print(
            f"recording: {duration_s / 60:.1f} min at {SAMPLE_RATE_HZ} Hz ({size_mb:.0f} MB WAV), {pieces} pieces"
        )
        print(
            f"  plan_slices (array -> cut plan): {plan_s * 1000:.1f} ms = {duration_s / plan_s:.0f}x real time"
        )
        verdict = "meets" if duration_s / cli_s >= TARGET_X_REAL_TIME else "MISSES"
        print(
            f"  svcqa slice (CLI: start-up, decode, plan, write WAVs): {cli_s:.2f} s = "
            f"{duration_s / cli_s:.0f}x real time ({verdict} {TARGET_X_REAL_TIME:.0f}x)"
        )
        verdict = "meets" if peak_mb < TARGET_PEAK_MB else "MISSES"
        print(f"  peak memory of svcqa slice: {peak_mb:.0f} MB ({verdict} < {TARGET_PEAK_MB:.0f} MB)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
