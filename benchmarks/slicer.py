"""Measure the slicer's speed as a multiple of real time (target: at least 500x).

Builds a long recording at 44.1 kHz from generated sung phrases and pauses, then times
:func:`svcqa.prepare.slicer.plan_slices` on the array (the cut plan a preview needs) and
:func:`svcqa.prepare.slicer.slice_file` end to end (decode, plan, write every piece).

Usage::

    .venv/bin/python -m benchmarks.slicer [--minutes 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from svcqa.audio.encode import write_wav
from svcqa.demo.synth import silence, sung_phrase
from svcqa.prepare.slicer import plan_slices, slice_file

SAMPLE_RATE_HZ = 44_100
TARGET_X_REAL_TIME = 500.0


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


def main() -> None:
    """Print the speed of planning and of slicing a file, as multiples of real time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="length of the test recording (default 10)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts (default 3)")
    args = parser.parse_args()

    audio = build_recording(args.minutes)
    duration_s = audio.size / SAMPLE_RATE_HZ
    plan_s = best_time_s(lambda: plan_slices(audio, SAMPLE_RATE_HZ), args.repeats)
    pieces = len(plan_slices(audio, SAMPLE_RATE_HZ).pieces)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "take.wav"
        write_wav(source, audio, SAMPLE_RATE_HZ, "PCM_16")
        file_s = best_time_s(lambda: slice_file(source, Path(tmp) / "out"), args.repeats)

    plan_x = duration_s / plan_s
    print(f"recording: {duration_s / 60:.1f} min at {SAMPLE_RATE_HZ} Hz, {pieces} pieces")
    print(f"plan_slices (array -> cut plan): {plan_s * 1000:.1f} ms = {plan_x:.0f}x real time")
    print(
        f"slice_file (decode, plan, write WAVs): {file_s * 1000:.1f} ms = {duration_s / file_s:.0f}x real time"
    )
    verdict = "meets" if plan_x >= TARGET_X_REAL_TIME else "MISSES"
    print(f"target {TARGET_X_REAL_TIME:.0f}x real time: plan_slices {verdict} it")


if __name__ == "__main__":
    main()
