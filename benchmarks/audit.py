"""Audit speed: 1 hour of 15 s clips, cold (measured) and warm (cached), as multiples of real time.

Run: ``.venv/bin/python benchmarks/audit.py [--minutes 60] [--workers N] [--voice]``.
The reference is the audio's own duration, so the figures are ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.audit.run import audit_dataset  # noqa: E402
from svcqa.synth import sung_phrase  # noqa: E402

CLIP_S = 15.0
SR = 44_100


def build_dataset(folder: Path, minutes: float) -> float:
    """Write ``minutes`` of 15 s sung clips (a few distinct takes, varied gain) and return seconds."""
    takes = [sung_phrase([55 + i, 57 + i, 60 + i, 62 + i, 64 + i], CLIP_S / 5, SR, seed=i) for i in range(8)]
    n_clips = int(minutes * 60 / CLIP_S)
    for i in range(n_clips):
        gain = 0.5 + 0.5 * (i % 7) / 7
        noise = np.random.default_rng(i).normal(0, 1e-3, takes[0].size).astype(np.float32)
        sf.write(folder / f"clip_{i:04d}.wav", takes[i % len(takes)] * gain + noise, SR, subtype="PCM_16")
    return n_clips * CLIP_S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--voice", action="store_true", help="include pitch and speech/singing analysis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dataset"
        folder.mkdir()
        audio_s = build_dataset(folder, args.minutes)
        cache = Path(tmp) / "cache.sqlite"
        timings = {}
        for label in ("cold", "warm"):
            start = time.perf_counter()
            report = audit_dataset(folder, workers=args.workers, cache_path=cache, with_voice=args.voice)
            timings[label] = time.perf_counter() - start
        assert report.summary["clip_count"] == int(args.minutes * 60 / CLIP_S)
    clips = report.summary["clip_count"]
    print(f"audio: {audio_s / 60:.0f} min in {clips} clips of {CLIP_S:g} s (voice analysis: {args.voice})")
    for label, seconds in timings.items():
        print(f"{label:>5}: {audio_s / seconds:10.0f}x real time   ({seconds * 1000 / clips * 1000:.0f} ms per 1000 clips)")


if __name__ == "__main__":
    main()
