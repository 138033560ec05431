"""Audit speed: 1 hour of 15 s clips, cold (measured) and warm (cached), as multiples of real time.

Run: ``.venv/bin/python benchmarks/audit.py [--minutes 60] [--workers N] [--checks LEVEL ...]``.
Levels: ``basic`` (lengths, formats, names, loudness), ``pitch`` (+ pitch and speech/singing),
``embed`` (+ voice embeddings), ``full`` (+ DNSMOS). The reference is the audio's own
duration, so the figures are ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.audio.encode import write_wav
from svcqa.core.settings import Settings
from svcqa.dataset.run import audit_dataset
from svcqa.demo.synth import sung_phrase

LEVELS = {
    "basic": (False, False, False),
    "pitch": (True, False, False),
    "embed": (True, True, False),
    "full": (True, True, True),
}

CLIP_S = 15.0
SR = 44_100


def build_dataset(folder: Path, minutes: float) -> float:
    """Write ``minutes`` of 15 s sung clips (a few distinct takes, varied gain) and return seconds."""
    takes = [sung_phrase([55 + i, 57 + i, 60 + i, 62 + i, 64 + i], CLIP_S / 5, SR, seed=i) for i in range(8)]
    n_clips = int(minutes * 60 / CLIP_S)
    for i in range(n_clips):
        gain = 0.5 + 0.5 * (i % 7) / 7
        noise = np.random.default_rng(i).normal(0, 1e-3, takes[0].size).astype(np.float32)
        write_wav(folder / f"clip_{i:04d}.wav", takes[i % len(takes)] * gain + noise, SR, "PCM_16")
    return n_clips * CLIP_S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--checks", nargs="+", choices=list(LEVELS), default=list(LEVELS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dataset"
        folder.mkdir()
        audio_s = build_dataset(folder, args.minutes)
        clips = int(args.minutes * 60 / CLIP_S)
        print(f"audio: {audio_s / 60:.0f} min in {clips} clips of {CLIP_S:g} s")
        for level in args.checks:
            with_voice, embed, quality = LEVELS[level]
            settings = Settings().with_section("voice", embed_voices=embed, score_quality=quality)
            cache = Path(tmp) / f"cache-{level}.sqlite"
            timings = {}
            for label in ("cold", "warm"):
                start = time.perf_counter()
                report = audit_dataset(
                    folder, settings, workers=args.workers, cache_path=cache, with_voice=with_voice
                )
                timings[label] = time.perf_counter() - start
            assert report.summary["clip_count"] == clips
            print(
                f"{level:>6}: cold {audio_s / timings['cold']:8.0f}x real time, "
                f"warm {audio_s / timings['warm']:9.0f}x ({timings['warm'] * 1e6 / clips:.0f} ms per 1000 clips)"
            )


if __name__ == "__main__":
    main()
