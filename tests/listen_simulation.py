"""Simulated blind tests with a known truth: listeners whose preference follows a quality curve.

Each checkpoint's render is a short tone at its own pitch, so a simulated listener hears which
checkpoint plays from the audio alone (as blind as a person) and answers from the true quality
curve (log-odds scale) with logistic noise and some "no difference" answers when the gap is small.
The whole test runs as the page runs it: :func:`~svcqa.listen.pairs.next_pair` schedules, votes go
through :func:`~svcqa.listen.pairs.vote`, then :func:`~svcqa.listen.ranking.reveal` and
:func:`~svcqa.listen.recommend.recommend`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import special

from svcqa.core.settings import ListenSettings
from svcqa.core.store import Store
from svcqa.listen.pairs import Pair, next_pair, vote
from svcqa.listen.ranking import reveal
from svcqa.listen.recommend import Advice, recommend
from svcqa.listen.stimuli import Stimulus

SR = 16_000
TONE_S = 0.5
BASE_HZ = 300.0
SPACING_HZ = 100.0
CLEAR_GAP = 1.0
"""A checkpoint is truly "clearly worse" than the peak when its quality is this much lower
(log-odds: the peak wins 73 % of their comparisons)."""
SAME_SHARE = 0.2
"""Chance of a "no difference" answer between equal renders (it fades as the gap grows)."""


@dataclass(frozen=True)
class Truth:
    """The true peak and the first step after it that is clearly worse (None when none is)."""

    peak_step: int
    overtraining_step: int | None


def truth(steps: Sequence[int], quality: Sequence[float]) -> Truth:
    """Return the true peak and the first later step at least :data:`CLEAR_GAP` below it."""
    peak = int(np.argmax(quality))
    worse = next(
        (steps[k] for k in range(peak + 1, len(steps)) if quality[peak] - quality[k] >= CLEAR_GAP), None
    )
    return Truth(steps[peak], worse)


def tone_stimuli(folder: Path, steps: Sequence[int]) -> list[Stimulus]:
    """Write one tone per checkpoint (one excerpt) and return the stimuli."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(TONE_S * SR)) / SR
    stimuli = []
    for k, step in enumerate(steps):
        path = folder / f"tone_{k}.wav"
        sf.write(path, 0.2 * np.sin(2 * np.pi * (BASE_HZ + SPACING_HZ * k) * t), SR, subtype="PCM_16")
        stimuli.append(Stimulus(f"render-{step}", "verse", step, f"{step:064x}", path))
    return stimuli


def heard(wav: bytes) -> int:
    """Return the index of the checkpoint whose tone ``wav`` carries."""
    samples, rate_hz = sf.read(io.BytesIO(wav))
    peak_hz = np.argmax(np.abs(np.fft.rfft(samples))) * rate_hz / len(samples)
    return round((peak_hz - BASE_HZ) / SPACING_HZ)


def answer(pair: Pair, quality: Sequence[float], rng: np.random.Generator) -> str:
    """Answer like a listener whose preference follows ``quality`` with logistic noise."""
    gap = quality[heard(pair.audio_a)] - quality[heard(pair.audio_b)]
    if rng.random() < SAME_SHARE * math.exp(-abs(gap)):
        return "same"
    return "A" if rng.random() < special.expit(gap) else "B"


def run_test(
    folder: Path,
    steps: Sequence[int],
    quality: Sequence[float],
    votes: int,
    seed: int,
    listeners: int = 4,
    settings: ListenSettings | None = None,
) -> Advice:
    """Run a whole blind test of ``votes`` votes and return the recommendation after reveal."""
    settings = settings or ListenSettings()
    stimuli = tone_stimuli(folder / "renders", steps)
    store = Store(folder / "state.sqlite")
    rng = np.random.default_rng(seed)
    for n in range(votes):
        listener = f"listener {n % listeners}"
        pair = next_pair(store, stimuli, listener, settings=settings, rng=rng)
        vote(store, pair.id, listener, answer(pair, quality, rng))
    return recommend(reveal(store, stimuli, settings=settings), [], {}, settings)


def peaked_curve(count: int, rng: np.random.Generator) -> np.ndarray:
    """Return a quality curve that rises to a peak before the last checkpoint, then falls."""
    peak = int(rng.integers(1, count - 1))
    rises = rng.uniform(0.5, 1.2, size=peak)
    falls = rng.uniform(0.4, 1.2, size=count - 1 - peak)
    return np.concatenate(
        [np.cumsum(np.concatenate([[0.0], rises])), np.cumsum(rises).max() - np.cumsum(falls)]
    )


def monotone_curve(count: int, rng: np.random.Generator) -> np.ndarray:
    """Return a quality curve that rises at every checkpoint, by less and less."""
    gains = np.sort(rng.uniform(0.3, 1.2, size=count - 1))[::-1]
    return np.concatenate([[0.0], np.cumsum(gains)])
