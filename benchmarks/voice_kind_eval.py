"""Speech-vs-singing classifier on the labelled set: accuracy, precision, recall and speed.

Run: ``.venv/bin/python benchmarks/voice_kind_eval.py [--seed 4] [--singing 30 --speech 30 --mixed 8]``.
The set is the one ``tests/test_voice_kind.py`` builds (``tests/voice_corpus.py``; needs
espeak-ng). Mixed clips (spoken intro plus singing) count as ``speech``: a singing dataset must
drop them. Speed is CPU time of ``analyse_voice`` per second of audio, input resampled to
44.1 kHz as most datasets are, best of three passes on one core.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.audio.resample import resample
from svcqa.core.settings import PitchSettings
from svcqa.dataset.voice_kind import analyse_voice
from tests import voice_corpus

HIGH_CONFIDENCE = 0.8
SPEED_RATE_HZ = 44_100


def _row(name: str, n: int, correct: int, probs: list[float]) -> str:
    spread = f"{min(probs):.2f} / {float(np.median(probs)):.2f} / {max(probs):.2f}" if probs else "-"
    return f"| {name:<15} | {n:>5} | {correct:>7} | {correct / max(n, 1):>8.1%} | {spread:>24} |"


def _precision_recall(pairs: list[tuple[str, str]], kind: str) -> tuple[float, float]:
    true_pos = sum(1 for expected, got in pairs if expected == kind and got == kind)
    predicted = sum(1 for _, got in pairs if got == kind)
    actual = sum(1 for expected, _ in pairs if expected == kind)
    return true_pos / max(predicted, 1), true_pos / max(actual, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--singing", type=int, default=30)
    parser.add_argument("--speech", type=int, default=30)
    parser.add_argument("--mixed", type=int, default=8)
    args = parser.parse_args()
    if not voice_corpus.espeak_available():
        sys.exit("espeak-ng is not installed: the labelled set needs it for speech clips.")
    settings = PitchSettings()
    with tempfile.TemporaryDirectory() as tmp:
        clips = voice_corpus.build_corpus(Path(tmp), args.singing, args.speech, args.mixed, args.seed)
        audio = {clip.name: voice_corpus.load(clip) for clip in clips}
    results = {clip.name: analyse_voice(*audio[clip.name], settings) for clip in clips}

    print(
        f"labelled set: seed {args.seed}, {len(clips)} clips, "
        f"{sum(a.size / r for a, r in audio.values()) / 60:.1f} min\n"
    )
    print("| group           | clips | correct | accuracy | singing_prob min/med/max |")
    print("|-----------------|-------|---------|----------|--------------------------|")
    for group in sorted({clip.group for clip in clips}):
        members = [clip for clip in clips if clip.group == group]
        correct = sum(results[c.name].kind == c.expected_kind for c in members)
        probs = [p for c in members if (p := results[c.name].singing_prob) is not None]
        print(_row(group, len(members), correct, probs))
    pairs = [(clip.expected_kind, results[clip.name].kind) for clip in clips]
    correct = sum(expected == got for expected, got in pairs)
    print(_row("all", len(clips), correct, []))

    print("\n| class   | precision | recall |")
    print("|---------|-----------|--------|")
    for kind in ("singing", "speech"):
        precision, recall = _precision_recall(pairs, kind)
        print(f"| {kind:<7} | {precision:>9.1%} | {recall:>6.1%} |")

    speech_probs = [results[c.name].singing_prob or 0.0 for c in clips if c.label == "speech"]
    confident = [
        c.name
        for c in clips
        if c.label == "speech" and (results[c.name].singing_prob or 0.0) > HIGH_CONFIDENCE
    ]
    print(
        f"\nhighest singing_prob on a 100 % speech clip: {max(speech_probs):.2f} "
        f"(clips above {HIGH_CONFIDENCE}: {confident or 'none'})"
    )
    wrong = [
        (c.name, results[c.name].kind, results[c.name].singing_prob)
        for c in clips
        if results[c.name].kind != c.expected_kind
    ]
    print(f"misclassified: {wrong or 'none'}")

    resampled = [resample(a, rate, SPEED_RATE_HZ) for a, rate in audio.values()]
    total_s = sum(a.size for a in resampled) / SPEED_RATE_HZ
    best_s = float("inf")
    for _ in range(3):
        start = time.process_time()
        for samples in resampled:
            analyse_voice(samples, SPEED_RATE_HZ, settings)
        best_s = min(best_s, time.process_time() - start)
    print(
        f"\nspeed: {best_s / total_s * 1000:.2f} ms CPU per second of audio "
        f"({total_s / best_s:.0f}x real time on one core, {SPEED_RATE_HZ} Hz input, tracker {settings.tracker})"
    )


if __name__ == "__main__":
    main()
