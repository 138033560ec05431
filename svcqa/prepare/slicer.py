"""Cut long recordings into clips at their silences, the way openvpi's Audio Slicer does.

The algorithm follows the Audio Slicer's description: frame-wise RMS on a 10 ms hop; a run of
frames below the threshold that lasts at least ``min_interval_ms`` becomes a cut once the
current clip is at least ``min_length_ms`` long; at most ``max_sil_kept_ms`` of silence is
kept on each side of a cut, which lands on the quietest frame it may. Two guarantees follow
on top: no piece is longer than ``max_piece_s`` (long voiced stretches are split at their
quietest point) and none is shorter than ``min_piece_s`` (merged into a neighbour or dropped).

Example
-------
>>> import numpy as np
>>> from svcqa.demo.synth import silence, sung_phrase
>>> sr = 16_000
>>> audio = np.concatenate([sung_phrase([60] * 6, 1.0, sr), silence(1.0, sr),
...                         sung_phrase([62] * 6, 1.0, sr)])
>>> plan = plan_slices(audio, sr)
>>> [round(p.duration_s, 1) for p in plan.pieces]
[6.0, 6.5]
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.audio import decode
from svcqa.audio.encode import wav_bytes
from svcqa.core.errors import AudioError, DatasetError, SvcqaError, WorkspaceError
from svcqa.core.files import atomic_write_bytes, remove_partials
from svcqa.core.records import Record, to_dict
from svcqa.core.settings import SLICER_PRESET_FIELDS, SLICER_PRESETS, LimitSettings, SlicerSettings
from svcqa.dataset.run import find_audio_files

PRESETS: dict[str, SlicerSettings] = SLICER_PRESETS
"""Slicer presets by name (:data:`svcqa.core.settings.SLICER_PRESETS`)."""

SHORT_PIECE_POLICIES = ("merge", "drop")
SLICE_LIMIT = "slicing (limits.slice_max_s in the settings)"
READ_CHUNK_S = 30.0
"""The slicer decodes its source in chunks this long (as :func:`svcqa.audio.decode.read` does):
memory stays flat whatever the recording's length."""
_RMS_WINDOW_HOPS = 4
"""The RMS window spans four hops (40 ms at the default hop), as the Audio Slicer's does."""


@dataclass(frozen=True)
class Piece(Record):
    """One span of the source kept as a clip, in seconds from the start of the file."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length of the piece in seconds."""
        return self.end_s - self.start_s

    def frames(self, sample_rate_hz: int) -> slice:
        """Return the sample-index slice of this piece at ``sample_rate_hz``."""
        return slice(round(self.start_s * sample_rate_hz), round(self.end_s * sample_rate_hz))

    def to_dict(self) -> dict[str, float]:
        """Return a JSON-ready dict with the duration included."""
        return {**to_dict(self), "duration_s": self.duration_s}


@dataclass(frozen=True)
class SlicePlan(Record):
    """Where one recording is cut, computed without writing anything (for previews).

    Example
    -------
    >>> plan = SlicePlan(16_000, 10.0, (Piece(0.0, 4.0), Piece(4.5, 10.0)), ())
    >>> plan.cut_points_s
    (4.0, 4.5)
    """

    sample_rate_hz: int
    duration_s: float
    pieces: tuple[Piece, ...]
    dropped: tuple[Piece, ...]
    """Pieces under the minimum length that could not be merged (or policy ``drop``)."""

    @property
    def cut_points_s(self) -> tuple[float, ...]:
        """Return every piece boundary strictly inside the recording, in seconds, ascending."""
        edges = {edge for p in self.pieces for edge in (p.start_s, p.end_s)}
        return tuple(sorted(t for t in edges if 0.0 < t < self.duration_s))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the cut points included."""
        return {**to_dict(self), "cut_points_s": list(self.cut_points_s)}


@dataclass(frozen=True)
class Problem(Record):
    """A file the run could not handle, and why."""

    path: str
    message: str


@dataclass(frozen=True)
class SliceResult(Record):
    """The files :func:`slice_file` wrote and the plan they came from."""

    source: Path
    outputs: tuple[Path, ...]
    plan: SlicePlan


@dataclass(frozen=True)
class SliceBatch(Record):
    """What :func:`slice_path` wrote for a file or a folder of files, and what it could not slice."""

    source: Path
    out_dir: Path
    settings: SlicerSettings
    results: tuple[SliceResult, ...]
    problems: tuple[Problem, ...]
    """Sources that could not be decoded (paths relative to the source folder); the rest went on."""


def preset(name: str, base: SlicerSettings | None = None) -> SlicerSettings:
    """Return ``base`` (default settings when None) with the slicing parameters of preset ``name``.

    Raises :class:`SvcqaError` for an unknown name.
    """
    if name not in PRESETS:
        raise SvcqaError(f"Unknown slicer preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    chosen = PRESETS[name]
    return dataclasses.replace(
        base or SlicerSettings(), **{f: getattr(chosen, f) for f in SLICER_PRESET_FIELDS}
    )


def matching_preset(settings: SlicerSettings) -> str | None:
    """Return the name of the preset whose slicing parameters ``settings`` has, None for custom values.

    >>> matching_preset(preset("tutorial"))
    'tutorial'
    """
    for name, chosen in PRESETS.items():
        if all(getattr(settings, f) == getattr(chosen, f) for f in SLICER_PRESET_FIELDS):
            return name
    return None


def check_settings(settings: SlicerSettings) -> None:
    """Raise :class:`SvcqaError` naming the first inconsistent slicer setting, else return None."""
    if not settings.min_length_ms >= settings.min_interval_ms >= settings.hop_size_ms > 0:
        raise SvcqaError(
            "Slicer settings need min_length_ms >= min_interval_ms >= hop_size_ms > 0 "
            f"(got {settings.min_length_ms}, {settings.min_interval_ms}, {settings.hop_size_ms})."
        )
    if settings.max_sil_kept_ms < settings.hop_size_ms:
        raise SvcqaError("Slicer setting max_sil_kept_ms must be at least hop_size_ms.")
    if not 0.0 <= 2 * settings.min_piece_s < settings.max_piece_s:
        raise SvcqaError(
            "Slicer settings need 0 <= 2 * min_piece_s < max_piece_s so a long stretch can be "
            f"split into valid pieces (got min {settings.min_piece_s} s, max {settings.max_piece_s} s)."
        )
    if settings.short_piece_policy not in SHORT_PIECE_POLICIES:
        raise SvcqaError(
            f"short_piece_policy must be one of {SHORT_PIECE_POLICIES}, not {settings.short_piece_policy!r}."
        )


def hop_energies(chunks: Iterable[np.ndarray], hop_samples: int) -> tuple[np.ndarray, int]:
    """Return the energy of each hop of a stream of audio chunks and the stream's length in samples.

    Parameters
    ----------
    chunks : iterable of np.ndarray [shape=(n,) or (n, channels)]
        Consecutive pieces of one recording; channels are averaged. Only one chunk and less
        than a hop of the last are held at a time, so a recording of any length fits.
    hop_samples : int > 0

    Returns
    -------
    energies : np.ndarray [shape=(ceil(n / hop_samples),)]
        Sum of squares per hop; the last entry covers a partial hop when ``n`` is not a multiple.
    n : int
    """
    parts: list[np.ndarray] = []
    leftover = np.zeros(0, dtype=np.float32)
    n = 0
    for chunk in chunks:
        mono = chunk if chunk.ndim == 1 else chunk.mean(axis=1, dtype=np.float32)
        n += mono.shape[0]
        if leftover.size:
            mono = np.concatenate([leftover, mono])
        full = mono.shape[0] // hop_samples
        blocks = np.ascontiguousarray(mono[: full * hop_samples], dtype=np.float32).reshape(full, hop_samples)
        # einsum sums squares block by block without a squared copy of a long recording.
        parts.append(np.einsum("ij,ij->i", blocks, blocks).astype(np.float64))
        leftover = mono[full * hop_samples :]
    if leftover.size:
        tail = leftover.astype(np.float64)
        parts.append(np.array([tail @ tail]))
    return (np.concatenate(parts) if parts else np.zeros(0)), n


def frame_rms(mono: np.ndarray, hop_samples: int, window_hops: int) -> np.ndarray:
    """Return the RMS of ``mono`` per hop (linear amplitude), frame ``t`` centred on sample ``t * hop``.

    Parameters
    ----------
    mono : np.ndarray [shape=(n,)]
        Audio samples.
    hop_samples : int > 0
        Samples between frame centres.
    window_hops : int > 0
        Window length in hops; the signal is zero-padded at both ends, as librosa's
        ``feature.rms(center=True, pad_mode="constant")`` does.

    Returns
    -------
    np.ndarray [shape=(n // hop_samples + 1,)]
    """
    energy, n = hop_energies([mono], hop_samples)
    return _rms_from_energies(energy, n, hop_samples, window_hops)


def _rms_from_energies(energy: np.ndarray, n: int, hop_samples: int, window_hops: int) -> np.ndarray:
    """Return the windowed RMS per frame (see :func:`frame_rms`) from per-hop energies."""
    cumulative = np.concatenate(([0.0], np.cumsum(energy)))
    centres = np.arange(n // hop_samples + 1)
    lo = np.clip(centres - window_hops // 2, 0, energy.size)
    hi = np.clip(centres + window_hops - window_hops // 2, 0, energy.size)
    power = np.maximum(cumulative[hi] - cumulative[lo], 0.0) / (window_hops * hop_samples)
    return np.sqrt(power)


def plan_slices(
    samples: np.ndarray, sample_rate_hz: int, settings: SlicerSettings | None = None
) -> SlicePlan:
    """Return where to cut ``samples`` into clips, without writing anything.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,) or (n, channels)]
        The recording; channels are averaged for the silence detection only.
    sample_rate_hz : int > 0
    settings : SlicerSettings or None
        Slicer parameters; the shipped defaults when None.

    Returns
    -------
    SlicePlan
        Pieces in time order, each between ``min_piece_s`` and ``max_piece_s`` long.
    """
    if samples.ndim not in (1, 2) or sample_rate_hz <= 0:
        raise ValueError("samples must be shaped (n,) or (n, channels) and sample_rate_hz positive")
    return plan_stream([samples], sample_rate_hz, settings)


def plan_stream(
    chunks: Iterable[np.ndarray], sample_rate_hz: int, settings: SlicerSettings | None = None
) -> SlicePlan:
    """Return where to cut a recording given as consecutive chunks (see :func:`plan_slices`).

    Only the per-hop energies are kept (8 bytes per 10 ms), so a recording of any length is
    planned in constant memory.
    """
    settings = settings or SlicerSettings()
    check_settings(settings)
    hop = max(round(sample_rate_hz * settings.hop_size_ms / 1000), 1)
    min_interval = round(settings.min_interval_ms / settings.hop_size_ms)
    energy, n = hop_energies(chunks, hop)
    rms = _rms_from_energies(energy, n, hop, min(min_interval, _RMS_WINDOW_HOPS))

    spans = _silence_spans(rms, settings)
    piece_frames = _keep_between(spans, rms.size)
    to_sample = [(min(a * hop, n), min(b * hop, n)) for a, b in piece_frames]
    long_ok = _split_long(
        [p for p in to_sample if p[1] > p[0]],
        rms,
        hop,
        round(settings.max_piece_s * sample_rate_hz),
        round(settings.min_piece_s * sample_rate_hz),
    )
    kept, dropped = _settle_short(
        long_ok,
        round(settings.min_piece_s * sample_rate_hz),
        round(settings.max_piece_s * sample_rate_hz),
        merge=settings.short_piece_policy == "merge",
    )
    return SlicePlan(
        sample_rate_hz=sample_rate_hz,
        duration_s=n / sample_rate_hz,
        pieces=tuple(Piece(a / sample_rate_hz, b / sample_rate_hz) for a, b in kept),
        dropped=tuple(Piece(a / sample_rate_hz, b / sample_rate_hz) for a, b in dropped),
    )


def _silence_spans(rms: np.ndarray, settings: SlicerSettings) -> list[tuple[int, int]]:
    """Return the frame ranges ``[a, b)`` to remove (``a == b`` is a cut that removes nothing)."""
    threshold = 10 ** (settings.threshold_db / 20)
    min_length = round(settings.min_length_ms / settings.hop_size_ms)
    min_interval = round(settings.min_interval_ms / settings.hop_size_ms)
    max_kept = round(settings.max_sil_kept_ms / settings.hop_size_ms)
    n_frames = rms.size

    silent = np.concatenate(([False], rms < threshold, [False]))
    edges = np.flatnonzero(np.diff(silent.astype(np.int8)))
    spans: list[tuple[int, int]] = []
    clip_start = 0
    for start, end in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
        length = end - start
        if end == n_frames:
            if length >= min_interval:
                spans.append((_quietest(rms, start, min(start + max_kept, end)), n_frames))
            break
        leading = start == 0 and length > max_kept
        if not leading and not (length >= min_interval and end - clip_start >= min_length):
            continue
        # Keep at most max_kept frames of silence on each side, cutting at the quietest frames.
        right_from = max(start, end - max_kept)
        left = _quietest(rms, start, min(start + max_kept, end))
        right = _quietest(rms, right_from, end)
        if start == 0:
            left = 0
        elif left > right:
            left = right = _quietest(rms, right_from, min(start + max_kept, end))
        spans.append((left, right))
        clip_start = right
    return spans


def _quietest(rms: np.ndarray, start: int, end: int) -> int:
    """Return the index of the lowest RMS in ``rms[start:end]`` (``start`` when the range is empty)."""
    return start + int(np.argmin(rms[start:end])) if end > start else start


def _keep_between(spans: list[tuple[int, int]], n_frames: int) -> list[tuple[int, int]]:
    """Return the frame ranges between removed spans."""
    kept = []
    position = 0
    for a, b in spans:
        kept.append((position, a))
        position = b
    kept.append((position, n_frames))
    return [(a, b) for a, b in kept if b > a]


def _split_long(
    pieces: list[tuple[int, int]], rms: np.ndarray, hop: int, max_samples: int, min_samples: int
) -> list[tuple[int, int]]:
    """Return ``pieces`` with every one over ``max_samples`` split at its quietest admissible frame.

    A split frame leaves at least ``min_samples`` on each side, so no split creates a short piece.
    """
    out: list[tuple[int, int]] = []
    todo = list(reversed(pieces))
    while todo:
        a, b = todo.pop()
        if b - a <= max_samples:
            out.append((a, b))
            continue
        first = -(-(a + min_samples) // hop)
        last = (b - min_samples) // hop
        cut = _quietest(rms, first, last + 1) * hop
        todo.extend([(cut, b), (a, cut)])
    return out


def _settle_short(
    pieces: list[tuple[int, int]], min_samples: int, max_samples: int, merge: bool
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Return (kept, dropped): short pieces merged into the neighbour giving the shorter result.

    A merge spans the gap between the two pieces too; a short piece whose merge would exceed
    ``max_samples`` either way (or any short piece when ``merge`` is False) is dropped.
    """
    kept = list(pieces)
    dropped: list[tuple[int, int]] = []
    while True:
        short = next((i for i, (a, b) in enumerate(kept) if b - a < min_samples), None)
        if short is None:
            return kept, dropped
        a, b = kept[short]
        options = []
        if merge and short > 0:
            options.append((b - kept[short - 1][0], short - 1))
        if merge and short + 1 < len(kept):
            options.append((kept[short + 1][1] - a, short + 1))
        fitting = [(length, j) for length, j in options if length <= max_samples]
        if not fitting:
            dropped.append(kept.pop(short))
            continue
        _, neighbour = min(fitting)
        lo, hi = sorted((short, neighbour))
        kept[lo : hi + 1] = [(kept[lo][0], kept[hi][1])]


def piece_name(stem: str, index: int, count: int) -> str:
    """Return the file name of piece ``index`` (0-based) of ``count``: ``stem_001.wav`` etc."""
    width = max(3, len(str(count)))
    return f"{stem}_{index + 1:0{width}d}.wav"


def slice_file(
    source: Path,
    out_dir: Path,
    settings: SlicerSettings | None = None,
    progress: Callable[[float, str], None] | None = None,
    stem: str | None = None,
    max_input_s: float | None = None,
    chunk_s: float = READ_CHUNK_S,
) -> SliceResult:
    """Return the pieces of ``source`` written as WAV files ``<stem>_001.wav``... in ``out_dir``.

    ``stem`` defaults to the source's own stem. A source longer than ``max_input_s`` (default
    ``LimitSettings().slice_max_s``) is refused before decoding.

    The source is only read, twice and in chunks of ``chunk_s``: once to plan the cuts
    (per-hop energies only), once to write each piece as soon as its last sample has been
    decoded. Memory therefore stays at a chunk plus a piece whatever the recording's length.
    Each piece keeps the source's sample rate and channels and is written under a temporary
    name, then renamed, so a killed run leaves no partial clip.

    Raises :class:`AudioError` when the source cannot be decoded or is too long and
    :class:`WorkspaceError` when ``out_dir`` cannot be written.
    """
    settings = settings or SlicerSettings()
    check_settings(settings)
    limit_s = LimitSettings().slice_max_s if max_input_s is None else max_input_s
    try:
        info = decode.probe(source)
        chunks = decode.iter_chunks(source, info, chunk_s, max_duration_s=limit_s, work=SLICE_LIMIT)
        plan = plan_stream(chunks, info.sample_rate, settings)
    except AudioError as exc:
        raise AudioError(f"Cannot slice {source}: {exc}") from exc
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"Cannot create {out_dir}: {exc}. Choose a writable folder.") from exc
    remove_partials(out_dir)
    targets = [
        out_dir / piece_name(stem or source.stem, i, len(plan.pieces)) for i in range(len(plan.pieces))
    ]
    spans = [piece.frames(info.sample_rate) for piece in plan.pieces]
    outputs: list[Path] = []
    parts: list[np.ndarray] = []
    position = 0
    try:
        for chunk in decode.iter_chunks(source, info, chunk_s):
            end = position + chunk.shape[0]
            while len(outputs) < len(spans):
                span = spans[len(outputs)]
                if span.start < end and span.stop > position:
                    parts.append(chunk[max(span.start - position, 0) : span.stop - position])
                if span.stop > end:
                    break
                target = targets[len(outputs)]
                piece = np.concatenate(parts) if parts else chunk[:0]
                atomic_write_bytes(target, wav_bytes(piece, info.sample_rate, settings.output_subtype))
                outputs.append(target)
                parts = []
                if progress is not None:
                    progress(len(outputs) / len(spans), f"Wrote {target.name}")
            position = end
    except AudioError as exc:
        raise AudioError(f"Cannot slice {source}: {exc}") from exc
    return SliceResult(source=source, outputs=tuple(outputs), plan=plan)


def slice_path(
    source: Path,
    out_dir: Path,
    settings: SlicerSettings | None = None,
    progress: Callable[[float, str], None] | None = None,
    max_input_s: float | None = None,
) -> SliceBatch:
    """Return what slicing the file ``source``, or every audio file under the folder ``source``, wrote.

    Pieces of ``source/a/b.wav`` go to ``out_dir/a/b_001.wav``...; two sources that differ only
    in their extension (``b.wav``, ``b.flac``) keep it in their stem (``b_wav_001.wav``). A file
    that cannot be decoded or is longer than ``max_input_s`` (default
    ``LimitSettings().slice_max_s``) becomes a :class:`Problem` and the others are still sliced.

    Raises
    ------
    DatasetError
        ``source`` does not exist, holds no audio file, or ``out_dir`` lies inside the source
        folder (slicing never writes next to the originals).
    WorkspaceError
        ``out_dir`` cannot be written.
    """
    settings = settings or SlicerSettings()
    check_settings(settings)
    source = Path(source).expanduser().absolute()
    out_dir = Path(out_dir).expanduser().absolute()
    if not source.exists():
        raise DatasetError(f"{source} does not exist: give an audio file or a folder of them.")
    folder = source if source.is_dir() else source.parent
    if out_dir.resolve() == folder.resolve() or folder.resolve() in out_dir.resolve().parents:
        raise DatasetError(
            f"Output folder {out_dir} lies inside {folder}: choose one outside it, so the "
            "originals are never written."
        )
    files = find_audio_files(source)[0] if source.is_dir() else [source]
    if not files:
        raise DatasetError(f"No audio files under {source}.")
    relatives = [f.relative_to(folder) for f in files]
    stems = Counter((r.parent, r.stem.casefold()) for r in relatives)
    results, problems = [], []
    for index, relative in enumerate(relatives):
        if progress is not None:
            progress(index / len(files), f"Slicing {relative.as_posix()}")
        clash = stems[(relative.parent, relative.stem.casefold())] > 1
        stem = f"{relative.stem}_{relative.suffix.lstrip('.')}" if clash else relative.stem
        try:
            target_dir = out_dir / relative.parent
            results.append(
                slice_file(folder / relative, target_dir, settings, stem=stem, max_input_s=max_input_s)
            )
        except AudioError as exc:
            problems.append(Problem(relative.as_posix(), str(exc)))
    if progress is not None:
        progress(1.0, f"Sliced {len(results)} of {len(files)} files")
    return SliceBatch(source, out_dir, settings, tuple(results), tuple(problems))
