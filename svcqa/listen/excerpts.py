"""Test songs and the excerpts of them that every checkpoint sings.

A test song is the dry vocal of a song, kept in ``<workspace>/songs/`` (an upload is saved
under a safe new name there, never over another file). An excerpt is a window of one song,
``(song, start_s, end_s)``; its id hashes the song's content with the window, so a render keyed
by it can never be confused with one of another take that happens to share a name.

The suggested windows (:func:`suggest_windows`) are the ones a listener wants to compare
checkpoints on: the 20-30 s around the song's highest sustained note, where an undertrained
model goes hoarse first, and one mid-range window where most of the singing sits. Both start
and end in a pause when one is near, so no word is cut.

Example
-------
>>> from svcqa.core.settings import RenderSettings
>>> from svcqa.demo.synth import sung_phrase
>>> low = np.concatenate([sung_phrase([57, 59, 60], 1.5, 16_000, seed=k) for k in range(8)])
>>> high = np.concatenate([sung_phrase([69, 72, 74], 1.5, 16_000, seed=k) for k in range(4)])
>>> song = np.concatenate([low, high, low])
>>> windows = suggest_windows(song, 16_000, RenderSettings())
>>> [w.label for w in windows]
['high', 'mid']
>>> windows[0].start_s < 36.0 + 18.0 / 2 < windows[0].end_s
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.audio import decode
from svcqa.core import uploads
from svcqa.core.errors import AudioError, SvcqaError
from svcqa.core.files import file_sha256, now_iso, text_sha256
from svcqa.core.records import Record, to_dict
from svcqa.core.settings import PitchSettings, RenderSettings, UploadSettings
from svcqa.core.store.excerpts import ExcerptRow
from svcqa.core.workspace import AUDIO_EXTENSIONS, Workspace
from svcqa.dataset.pitch import smooth_midi, track_f0, voiced_runs

SONGS_FOLDER = "songs"
_HELD_SPREAD_SEMITONES = 1.0
"""A sustained note stays within this pitch spread (vibrato averaged out) for ``sustain_min_s``."""
_SEARCH_STEP_S = 1.0
_TOP_RANGE_SEMITONES = 2.0
"""Sustained notes this close to the highest one count as the song's top."""
_KEEP_MARGIN_S = 0.5
_MIN_VOICED_SHARE = 0.3
"""A mid-range window should be sung at least this much of the time."""


class ExcerptError(SvcqaError):
    """A song or excerpt cannot be used: missing, changed, unreadable, or a bad window."""


@dataclass(frozen=True)
class Excerpt(Record):
    """A window of a test song that every checkpoint renders.

    ``song`` is the song's path relative to the workspace (POSIX), ``song_sha256`` the hash of
    its file when the excerpt was made; :attr:`id` hashes both with the window.

    Example
    -------
    >>> e = Excerpt("songs/verse.wav", 12.0, 37.5, "ab" * 32, "high")
    >>> e.duration_s, len(e.id)
    (25.5, 16)
    >>> Excerpt.from_dict(e.to_dict()) == e
    True
    """

    song: str
    start_s: float
    end_s: float
    song_sha256: str
    label: str = ""

    @property
    def id(self) -> str:
        """Return the content hash of the excerpt (16 hex digits): song content and window in ms."""
        key = f"{self.song_sha256}:{round(self.start_s * 1000)}:{round(self.end_s * 1000)}"
        return text_sha256(key)[:16]

    @property
    def duration_s(self) -> float:
        """Return the window's length in seconds."""
        return round(self.end_s - self.start_s, 3)

    @property
    def title(self) -> str:
        """Return a short human name, e.g. ``verse.wav 12.0-37.5 s (high)``."""
        name = Path(self.song).name
        suffix = f" ({self.label})" if self.label else ""
        return f"{name} {self.start_s:.1f}-{self.end_s:.1f} s{suffix}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the id and duration included (``from_dict`` recomputes them)."""
        return {**to_dict(self), "id": self.id, "duration_s": self.duration_s}


@dataclass(frozen=True)
class ExcerptWindow(Record):
    """A suggested window of a song: ``label`` (high, mid, whole, start) and why it was chosen."""

    label: str
    start_s: float
    end_s: float
    reason: str


# -- songs ----------------------------------------------------------------------------------
def list_songs(ws: Workspace) -> list[Path]:
    """Return the audio files in the workspace's ``songs/`` folder, by name."""
    if not ws.songs.is_dir():
        return []
    return sorted(
        p
        for p in ws.songs.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_EXTENSIONS
    )


def save_song(ws: Workspace, name: str, data: bytes, limits: UploadSettings | None = None) -> Path:
    """Return the path of an uploaded song saved in ``songs/`` under a safe, unused name.

    Raises :class:`~svcqa.core.uploads.UploadError` when it is empty, over ``max_song_bytes`` of
    ``limits`` (default: the workspace's upload policy) or not audio.
    """
    return uploads.save_upload(ws, SONGS_FOLDER, name, data, limits)


def import_song(ws: Workspace, path: Path, limits: UploadSettings | None = None) -> Path:
    """Return the song ``path`` as a file inside ``songs/``: itself, an identical copy already
    there, or a new copy under a safe name."""
    path = Path(path).absolute()
    if not path.is_file():
        raise ExcerptError(f"Song {path} does not exist.")
    songs = ws.songs.resolve()
    if path.resolve().parent == songs:
        return path.resolve()
    limit = (limits or ws.load_settings().uploads).max_song_bytes
    size = path.stat().st_size
    if size > limit:
        raise ExcerptError(
            f"{path.name} is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB limit for songs."
        )
    digest = file_sha256(path)
    for existing in list_songs(ws):
        if existing.stat().st_size == size and file_sha256(existing) == digest:
            return existing
    return save_song(ws, path.name, path.read_bytes(), limits)


def song_duration_s(path: Path) -> float:
    """Return the length of a song in seconds; :class:`ExcerptError` when it cannot be read."""
    try:
        return decode.probe(path).duration_s
    except AudioError as exc:
        raise ExcerptError(f"Song {path.name} cannot be read: {exc}") from exc


# -- excerpts -------------------------------------------------------------------------------
def make_excerpt(
    ws: Workspace,
    song: Path,
    start_s: float,
    end_s: float,
    label: str = "",
    settings: RenderSettings | None = None,
) -> Excerpt:
    """Return the excerpt ``start_s``-``end_s`` (rounded to ms) of ``song``, a file in ``songs/``.

    Raises :class:`ExcerptError` when the window is outside the song, reversed, or shorter or
    longer than the settings allow.
    """
    settings = settings or RenderSettings()
    relative = ws.relative(Path(song))
    path = ws.resolve(relative)
    start_s, end_s = round(float(start_s), 3), round(float(end_s), 3)
    duration = song_duration_s(path)
    if not 0.0 <= start_s < end_s <= round(duration, 3) + 1e-3:
        raise ExcerptError(
            f"The excerpt {start_s:g}-{end_s:g} s is not inside {path.name} (0-{duration:.1f} s); "
            "the start must come before the end."
        )
    length = end_s - start_s
    if not settings.shortest_excerpt_s <= length <= settings.longest_excerpt_s:
        raise ExcerptError(
            f"The excerpt is {length:.1f} s long; choose between {settings.shortest_excerpt_s:g} and "
            f"{settings.longest_excerpt_s:g} s."
        )
    return Excerpt(relative, start_s, end_s, file_sha256(path), label)


def suggest_excerpts(ws: Workspace, song: Path, settings: RenderSettings | None = None) -> list[Excerpt]:
    """Return the excerpts :func:`suggest_windows` picks in ``song`` (a file in ``songs/``)."""
    settings = settings or RenderSettings()
    path = ws.resolve(ws.relative(Path(song)))
    try:
        mono, rate_hz = decode.read(path, mono=True)
    except AudioError as exc:
        raise ExcerptError(f"Song {path.name} cannot be read: {exc}") from exc
    digest = file_sha256(path)
    return [
        Excerpt(ws.relative(path), w.start_s, w.end_s, digest, w.label)
        for w in suggest_windows(mono, rate_hz, settings)
    ]


def read_excerpt(ws: Workspace, excerpt: Excerpt, sample_rate_hz: int) -> np.ndarray:
    """Return the excerpt's audio as mono float32 at ``sample_rate_hz``, as ``svc infer`` reads a file
    (the same samples as ``librosa.load(path, sr=sample_rate_hz, mono=True)``).

    Raises :class:`ExcerptError` when the song is gone or its content changed since the excerpt
    was made (its renders would not be of this excerpt).
    """
    path = ws.resolve(excerpt.song)
    if not path.is_file():
        raise ExcerptError(f"Song {excerpt.song} of excerpt {excerpt.title} is gone; upload it again.")
    if file_sha256(path) != excerpt.song_sha256:
        raise ExcerptError(
            f"Song {excerpt.song} changed since excerpt {excerpt.title} was chosen; choose the excerpt again."
        )
    try:
        samples, _ = decode.read(
            path,
            sample_rate_hz,
            mono=True,
            offset_s=excerpt.start_s,
            duration_s=excerpt.end_s - excerpt.start_s,
        )
    except AudioError as exc:
        raise ExcerptError(f"Song {excerpt.song} cannot be decoded: {exc}") from exc
    return samples.astype(np.float32)


def choose(ws: Workspace, excerpt: Excerpt) -> Excerpt:
    """Return ``excerpt`` after marking it chosen: the render worker renders it with every checkpoint."""
    row = ExcerptRow(
        excerpt.id, excerpt.song, excerpt.start_s, excerpt.end_s, excerpt.song_sha256, excerpt.label
    )
    ws.store().excerpts.choose(row, now_iso())
    return excerpt


def unchoose(ws: Workspace, excerpt_id: str) -> None:
    """Stop rendering excerpt ``excerpt_id`` (its renders stay)."""
    ws.store().excerpts.unchoose(excerpt_id)


def chosen_excerpts(ws: Workspace) -> list[Excerpt]:
    """Return the chosen excerpts, oldest choice first."""
    return [_excerpt(row) for row in ws.store().excerpts.chosen()]


def known_excerpts(ws: Workspace) -> dict[str, Excerpt]:
    """Return every excerpt ever chosen (also those no longer rendered), by id."""
    excerpts = (_excerpt(row) for row in ws.store().excerpts.known())
    return {e.id: e for e in excerpts}


def _excerpt(row: ExcerptRow) -> Excerpt:
    return Excerpt(row.song, row.start_s, row.end_s, row.song_sha256, row.label)


# -- suggestions ----------------------------------------------------------------------------
def suggest_windows(
    mono: np.ndarray, sample_rate_hz: int, settings: RenderSettings, pitch: PitchSettings | None = None
) -> list[ExcerptWindow]:
    """Return the suggested windows of a song: ``high`` and ``mid``, or one ``whole``/``start``.

    Parameters
    ----------
    mono : np.ndarray [shape=(n,)]
        The song, any sample rate.
    sample_rate_hz : int > 0
    settings : RenderSettings
        ``excerpt_s`` (length), ``excerpt_min_s``/``excerpt_max_s`` (how far the ends may move
        to land in a pause) and ``sustain_min_s``.
    pitch : PitchSettings, optional
        The Praat tracker's settings (the audit's defaults when omitted).

    ``high`` holds the highest sustained note (pitch within a semitone for ``sustain_min_s``,
    vibrato averaged out); ``mid`` is the window, overlapping ``high`` as little as the song
    allows, whose median pitch is nearest the song's median sustained pitch. A song no longer
    than ``excerpt_max_s`` gives one ``whole`` window; one without a sung note one ``start`` window.
    """
    pitch = pitch or PitchSettings(tracker="parselmouth")
    duration_s = mono.size / sample_rate_hz
    if duration_s <= settings.excerpt_max_s:
        return [
            ExcerptWindow("whole", 0.0, round(duration_s, 3), "The song is short enough to render whole.")
        ]
    length_s = settings.excerpt_s
    track = track_f0(mono, sample_rate_hz, pitch)
    step_s = track.time_step_s
    midi = smooth_midi(track.midi(), step_s, pitch.vibrato_smoothing_s)
    held = sustained(midi, step_s, settings.sustain_min_s)
    if not np.isfinite(held).any():
        held = midi
    if not np.isfinite(held).any():
        return [
            ExcerptWindow("start", 0.0, length_s, "No sung note was found; the song's start is suggested.")
        ]
    pauses = ~np.isfinite(midi)
    top_midi = float(np.nanmax(held))
    top = np.nan_to_num(held, nan=-np.inf) >= top_midi - _TOP_RANGE_SEMITONES
    counts = _window_sums(top, step_s, length_s, duration_s)
    start_s = float(np.argmax(counts)) * _SEARCH_STEP_S
    inside = (
        np.flatnonzero(top[int(start_s / step_s) : int((start_s + length_s) / step_s)]) * step_s + start_s
    )
    high = _placed(
        "high", start_s, (float(inside[0]), float(inside[-1])), duration_s, pauses, step_s, settings
    )
    high = ExcerptWindow(
        "high",
        high.start_s,
        high.end_s,
        f"Holds the most of the highest sustained notes (up to MIDI {top_midi:.0f}).",
    )
    mid = _mid_window(midi, held, high, duration_s, pauses, step_s, settings)
    return [high, mid] if (mid.start_s, mid.end_s) != (high.start_s, high.end_s) else [high]


def sustained(midi: np.ndarray, time_step_s: float, min_s: float) -> np.ndarray:
    """Return ``midi`` where a note is held at least ``min_s`` within a semitone, NaN elsewhere."""
    width = max(2, round(min_s / time_step_s))
    held = np.zeros(midi.size, dtype=bool)
    for start, stop in voiced_runs(np.isfinite(midi)).tolist():
        if stop - start < width:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(midi[start:stop], width)
        steady = (windows.max(axis=1) - windows.min(axis=1)) < _HELD_SPREAD_SEMITONES
        held[start:stop] = np.convolve(steady.astype(float), np.ones(width))[: stop - start] > 0
    return np.where(held, midi, np.nan)


def _window_sums(mask: np.ndarray, step_s: float, length_s: float, duration_s: float) -> np.ndarray:
    """Return the count of ``mask`` frames in each window of ``length_s`` starting every ``_SEARCH_STEP_S``."""
    cumulative = np.concatenate(([0], np.cumsum(mask)))
    starts = np.arange(0.0, max(duration_s - length_s, 0.0) + 1e-9, _SEARCH_STEP_S)
    lo = np.minimum((starts / step_s).astype(int), mask.size)
    hi = np.minimum(((starts + length_s) / step_s).astype(int), mask.size)
    return cumulative[hi] - cumulative[lo]


def _mid_window(
    midi: np.ndarray,
    held: np.ndarray,
    high: ExcerptWindow,
    duration_s: float,
    pauses: np.ndarray,
    step_s: float,
    settings: RenderSettings,
) -> ExcerptWindow:
    target = float(np.nanmedian(held))
    length_s = settings.excerpt_s
    best: tuple[float, float] | None = None
    for start_s in np.arange(0.0, max(duration_s - length_s, 0.0) + 1e-9, _SEARCH_STEP_S):
        frames = midi[int(start_s / step_s) : int((start_s + length_s) / step_s)]
        voiced = frames[np.isfinite(frames)]
        if voiced.size == 0:
            continue
        overlap_s = max(0.0, min(start_s + length_s, high.end_s) - max(start_s, high.start_s))
        score = abs(float(np.median(voiced)) - target) + 24.0 * overlap_s / length_s
        if voiced.size < _MIN_VOICED_SHARE * frames.size:
            score += 12.0
        if best is None or score < best[0]:
            best = (score, float(start_s))
    start_s = best[1] if best else 0.0
    centre_s = start_s + length_s / 2
    window = _placed("mid", start_s, (centre_s, centre_s), duration_s, pauses, step_s, settings)
    return ExcerptWindow(
        "mid",
        window.start_s,
        window.end_s,
        f"Sits around the song's median sustained pitch (MIDI {target:.0f}).",
    )


def _placed(
    label: str,
    start_s: float,
    keep_s: tuple[float, float],
    duration_s: float,
    pauses: np.ndarray,
    step_s: float,
    settings: RenderSettings,
) -> ExcerptWindow:
    """Return the window of ``excerpt_s`` from ``start_s``, its ends moved into nearby pauses.

    The start may move ``(excerpt_max_s - excerpt_min_s) / 2`` either way and the end anywhere
    that keeps the length within ``excerpt_min_s``-``excerpt_max_s``; neither passes ``keep_s``.
    """
    length_s = min(settings.excerpt_s, duration_s)
    slack_s = (settings.excerpt_max_s - settings.excerpt_min_s) / 2
    pause_s = np.flatnonzero(pauses) * step_s
    early = pause_s[
        (pause_s >= start_s - slack_s) & (pause_s <= min(start_s + slack_s, keep_s[0] - _KEEP_MARGIN_S))
    ]
    if early.size and start_s > 0.0:
        start_s = max(float(early[np.argmin(np.abs(early - start_s))]), 0.0)
    end_s = min(start_s + length_s, duration_s)
    lo = max(start_s + settings.excerpt_min_s, keep_s[1] + _KEEP_MARGIN_S)
    hi = min(start_s + settings.excerpt_max_s, duration_s)
    late = pause_s[(pause_s >= lo) & (pause_s <= hi)]
    if late.size and end_s < duration_s:
        end_s = float(late[np.argmin(np.abs(late - end_s))])
    return ExcerptWindow(label, round(start_s, 3), round(end_s, 3), "")
