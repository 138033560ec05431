"""Dataset pitch coverage, the dataset's speech/singing verdict, and the test-song check.

Coverage answers "which notes can this model sing well?": voiced seconds per semitone from
C2 to C7 (MIDI 36-96), the singer's usable range (the 2nd to 98th percentile of voiced time),
that range cut into low/mid/high thirds with their share of time, and the notes inside the
range with too little material (under ``thin_note_s``, default 10 s).

The song check answers "can it sing this song?": the song's notes held for at least
``song_min_note_s`` where the dataset is thin, and the transposition (within
``max_transpose_semitones``) that leaves the least song time on thin notes.

Example
-------
>>> from svcqa.core.settings import PitchSettings
>>> cov = dataset_coverage([{57: 30.0, 60: 40.0, 64: 30.0}], PitchSettings())
>>> cov.range_low_midi, cov.range_high_midi, cov.thin_midi
(57, 64, (58, 59, 61, 62, 63))
>>> check = song_check({64: 5.0, 67: 3.0}, cov, PitchSettings())
>>> check.uncovered_midi, check.suggested_transpose
((67,), -7)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from svcqa.core.settings import PitchSettings
from svcqa.dataset.pitch import midi_to_note_name

THIRD_NAMES: tuple[str, ...] = ("low", "mid", "high")


@dataclass(frozen=True)
class RangeThird:
    """One third of the usable range: its notes (inclusive), voiced seconds and share of range time."""

    name: str
    low_midi: int
    high_midi: int
    seconds: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, note names included."""
        return {
            "name": self.name,
            "low_midi": self.low_midi,
            "high_midi": self.high_midi,
            "low_note": midi_to_note_name(self.low_midi),
            "high_note": midi_to_note_name(self.high_midi),
            "seconds": round(self.seconds, 2),
            "share": round(self.share, 4),
        }


@dataclass(frozen=True)
class Coverage:
    """Dataset pitch coverage.

    Attributes
    ----------
    note_seconds : dict[int, float]
        Voiced seconds for every MIDI note from ``coverage_low_midi`` to ``coverage_high_midi``
        (zeros included, ascending).
    voiced_s : float
        Voiced seconds inside that span.
    range_low_midi, range_high_midi : int or None
        Usable range (percentiles ``range_low_percentile``/``range_high_percentile`` of voiced
        time); None when the dataset has no voiced time.
    thirds : tuple[RangeThird, ...]
        Low, mid and high thirds of the usable range (empty without a range).
    thin_midi : tuple[int, ...]
        Notes inside the usable range with less than ``thin_note_s`` seconds.
    thin_note_s : float
        The threshold used.
    """

    note_seconds: dict[int, float]
    voiced_s: float
    range_low_midi: int | None
    range_high_midi: int | None
    thirds: tuple[RangeThird, ...]
    thin_midi: tuple[int, ...]
    thin_note_s: float

    def seconds_at(self, midi: int) -> float:
        """Return the dataset's voiced seconds on ``midi`` (0 outside the covered span)."""
        return self.note_seconds.get(midi, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (note keys stay ints; ``json`` writes them as strings)."""
        return {
            "note_seconds": {midi: round(s, 3) for midi, s in self.note_seconds.items()},
            "voiced_s": round(self.voiced_s, 2),
            "range_low_midi": self.range_low_midi,
            "range_high_midi": self.range_high_midi,
            "range_low_note": _name_or_none(self.range_low_midi),
            "range_high_note": _name_or_none(self.range_high_midi),
            "thirds": [third.to_dict() for third in self.thirds],
            "thin_midi": list(self.thin_midi),
            "thin_notes": [midi_to_note_name(m) for m in self.thin_midi],
            "thin_note_s": self.thin_note_s,
        }


@dataclass(frozen=True)
class SongCheck:
    """What a test song needs that the dataset lacks, and the transposition that helps most.

    Attributes
    ----------
    song_pitch_s : dict[int, float]
        The song's voiced seconds per MIDI note (ascending).
    uncovered_midi : tuple[int, ...]
        Song notes held at least ``song_min_note_s`` where the dataset has under ``thin_note_s``.
    uncovered_s : float
        Song seconds on those notes.
    suggested_transpose : int
        Semitones to shift the song by (negative = down) that minimise uncovered time; 0 when
        nothing helps.
    transposed_uncovered_midi : tuple[int, ...]
        Uncovered notes (after shifting) with the suggested transpose applied.
    transposed_uncovered_s : float
        Song seconds still uncovered after the suggested transpose.
    """

    song_pitch_s: dict[int, float]
    uncovered_midi: tuple[int, ...]
    uncovered_s: float
    suggested_transpose: int
    transposed_uncovered_midi: tuple[int, ...]
    transposed_uncovered_s: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, note names included."""
        return {
            "song_pitch_s": {midi: round(s, 3) for midi, s in self.song_pitch_s.items()},
            "uncovered_midi": list(self.uncovered_midi),
            "uncovered_notes": [midi_to_note_name(m) for m in self.uncovered_midi],
            "uncovered_s": round(self.uncovered_s, 2),
            "suggested_transpose": self.suggested_transpose,
            "transposed_uncovered_midi": list(self.transposed_uncovered_midi),
            "transposed_uncovered_s": round(self.transposed_uncovered_s, 2),
        }


def _name_or_none(midi: int | None) -> str | None:
    return None if midi is None else midi_to_note_name(midi)


def _int_keys(note_seconds: Mapping[Any, float]) -> dict[int, float]:
    """Return ``note_seconds`` with int keys (a dict read back from JSON has string keys)."""
    return {int(midi): float(s) for midi, s in note_seconds.items()}


def sum_note_seconds(note_seconds_per_clip: Iterable[Mapping[Any, float]]) -> dict[int, float]:
    """Return the per-note sum of several ``{midi: seconds}`` dicts, ascending by note."""
    total: dict[int, float] = {}
    for clip in note_seconds_per_clip:
        for midi, seconds in _int_keys(clip).items():
            total[midi] = total.get(midi, 0.0) + seconds
    return dict(sorted(total.items()))


def weighted_percentile_midi(note_seconds: Mapping[int, float], percentile: float) -> int:
    """Return the lowest note at which the cumulative voiced time reaches ``percentile`` %.

    Raises
    ------
    ValueError
        ``note_seconds`` holds no time.
    """
    notes = sorted(m for m, s in note_seconds.items() if s > 0)
    if not notes:
        raise ValueError("No voiced time to take a percentile of.")
    seconds = np.array([note_seconds[m] for m in notes])
    cumulative = np.cumsum(seconds) / seconds.sum()
    index = int(np.searchsorted(cumulative, percentile / 100.0 - 1e-9))
    return notes[min(index, len(notes) - 1)]


def _thirds(note_seconds: Mapping[int, float], low_midi: int, high_midi: int) -> tuple[RangeThird, ...]:
    notes = np.arange(low_midi, high_midi + 1)
    in_range_s = sum(note_seconds.get(int(m), 0.0) for m in notes)
    thirds = []
    for name, part in zip(THIRD_NAMES, np.array_split(notes, 3), strict=True):
        if part.size == 0:
            continue
        seconds = sum(note_seconds.get(int(m), 0.0) for m in part)
        thirds.append(RangeThird(name, int(part[0]), int(part[-1]), seconds, seconds / in_range_s))
    return tuple(thirds)


def dataset_coverage(note_seconds_per_clip: list[dict[int, float]], settings: PitchSettings) -> Coverage:
    """Return the dataset's pitch coverage from each clip's voiced seconds per MIDI note.

    Parameters
    ----------
    note_seconds_per_clip : list of dict[int, float]
        One ``{midi: seconds}`` per clip (``VoiceAnalysis.pitch.note_seconds``); string keys
        (from JSON) are accepted.
    settings : PitchSettings
        Span (``coverage_low_midi``..``coverage_high_midi``), range percentiles, thin threshold.
    """
    total = sum_note_seconds(note_seconds_per_clip)
    span = range(settings.coverage_low_midi, settings.coverage_high_midi + 1)
    note_seconds = {midi: total.get(midi, 0.0) for midi in span}
    voiced_s = float(sum(note_seconds.values()))
    if voiced_s <= 0:
        return Coverage(note_seconds, 0.0, None, None, (), (), settings.thin_note_s)
    low = weighted_percentile_midi(note_seconds, settings.range_low_percentile)
    high = weighted_percentile_midi(note_seconds, settings.range_high_percentile)
    thin = tuple(m for m in range(low, high + 1) if note_seconds[m] < settings.thin_note_s)
    return Coverage(
        note_seconds, voiced_s, low, high, _thirds(note_seconds, low, high), thin, settings.thin_note_s
    )


def dataset_verdict(kinds_and_durations: list[tuple[str, float]], settings: PitchSettings) -> str:
    """Return ``"singing"``, ``"speech"`` or ``"mixed"`` for a dataset from its clips' kinds.

    Parameters
    ----------
    kinds_and_durations : list of (kind, duration_s)
        Each clip's ``VoiceAnalysis.kind`` and length in seconds; ``silence`` and ``unknown``
        clips do not count.
    settings : PitchSettings
        ``mixed_min_clips`` and ``mixed_min_share``: the minority kind makes the dataset
        ``mixed`` when it has at least that many clips and that share of the judged duration.

    Returns ``"unknown"`` when no clip was judged singing or speech. Otherwise the majority
    kind by duration, unless the minority kind reaches both thresholds.
    """
    clips = {"singing": 0, "speech": 0}
    seconds = {"singing": 0.0, "speech": 0.0}
    for kind, duration_s in kinds_and_durations:
        if kind in clips:
            clips[kind] += 1
            seconds[kind] += max(float(duration_s), 0.0)
    judged_s = seconds["singing"] + seconds["speech"]
    if clips["singing"] + clips["speech"] == 0:
        return "unknown"
    majority = "singing" if seconds["singing"] >= seconds["speech"] else "speech"
    minority = "speech" if majority == "singing" else "singing"
    share = seconds[minority] / judged_s if judged_s > 0 else 0.0
    if clips[minority] >= settings.mixed_min_clips and share >= settings.mixed_min_share:
        return "mixed"
    return majority


def _uncovered(
    song: Mapping[int, float], coverage: Coverage, shift: int, settings: PitchSettings
) -> list[int]:
    """Return the song's notes (after ``shift``) held long enough that land on thin dataset notes."""
    return sorted(
        midi + shift
        for midi, seconds in song.items()
        if seconds >= settings.song_min_note_s and coverage.seconds_at(midi + shift) < settings.thin_note_s
    )


def song_check(song_note_seconds: dict[int, float], coverage: Coverage, settings: PitchSettings) -> SongCheck:
    """Return the notes a song needs that the dataset lacks, and the best transposition.

    Parameters
    ----------
    song_note_seconds : dict[int, float]
        The song's voiced seconds per MIDI note (e.g. from ``analyse_song_file``).
    coverage : Coverage
        The dataset's coverage.
    settings : PitchSettings
        ``song_min_note_s``, ``thin_note_s`` and ``max_transpose_semitones``.

    The suggested transpose minimises uncovered song time over every shift within
    ``max_transpose_semitones``; ties go to the smaller shift, then to the downward one.
    """
    song = dict(sorted(_int_keys(song_note_seconds).items()))
    limit = settings.max_transpose_semitones

    def uncovered_s(shift: int) -> float:
        return sum(song[midi - shift] for midi in _uncovered(song, coverage, shift, settings))

    best = min(range(-limit, limit + 1), key=lambda shift: (round(uncovered_s(shift), 6), abs(shift), shift))
    uncovered = tuple(_uncovered(song, coverage, 0, settings))
    return SongCheck(
        song_pitch_s=song,
        uncovered_midi=uncovered,
        uncovered_s=uncovered_s(0),
        suggested_transpose=best,
        transposed_uncovered_midi=tuple(_uncovered(song, coverage, best, settings)),
        transposed_uncovered_s=uncovered_s(best),
    )
