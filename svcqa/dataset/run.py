"""Audit a dataset folder: find audio files, measure them in parallel (cached), flag, summarise.

The dataset folder is only ever read. The cache lives in the workspace database whenever the
folder is inside a workspace (so the CLI and the pages share it), else in the user's cache
folder; rows are keyed by absolute path, size, modification time and the measuring settings,
so a re-audit of an unchanged dataset only stats the files. Each file's result is stored as
soon as it is measured: an audit stopped half-way keeps what it measured.

Example
-------
>>> report = audit_dataset(Path("workspace/recordings"))          # doctest: +SKIP
>>> report.summary["flag_counts"]                                  # doctest: +SKIP
{'too_short': 1, ...}
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.core.errors import DatasetError, WorkspaceError
from svcqa.core.files import json_hash
from svcqa.core.records import Record
from svcqa.core.settings import AuditSettings, Settings
from svcqa.core.store import Store
from svcqa.core.store.audit_cache import CachedMeasurement
from svcqa.core.workspace import AUDIO_EXTENSIONS, Workspace, default_root
from svcqa.dataset.checks import MEASURE_VERSION, Flag, Measurement, derive_flags
from svcqa.dataset.dataset_voice import identity_flags, kind_flag, voice_summary
from svcqa.dataset.flags import flag_info
from svcqa.dataset.measure_pool import CRASH_PREFIX, measure_files

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class ClipReport:
    """One audited file: its measurements and the flags they raise."""

    measurement: Measurement
    flags: tuple[Flag, ...]
    duplicate_of: str | None = None
    voice_similarity: float | None = None
    voice_unjudged_reason: str | None = None
    """Why the clip got no ``other_voice`` verdict (noisy, too short, mostly silent), if so."""

    @property
    def codes(self) -> list[str]:
        """Return the flag codes."""
        return [f.code for f in self.flags]

    def to_dict(self) -> dict[str, Any]:
        """Return the ``clips[]`` row of ``audit --json``."""
        m = self.measurement.to_dict()
        voice = m.pop("voice") or {}
        voice.pop("note_seconds", None)
        identity = m.pop("identity") or {}
        identity.pop("vector", None)
        return {
            **m,
            **voice,
            **identity,
            "voice_similarity": self.voice_similarity,
            "voice_unjudged_reason": self.voice_unjudged_reason,
            "flags": self.codes,
            "messages": [f.to_dict() for f in self.flags],
            "duplicate_of": self.duplicate_of,
        }


@dataclass(frozen=True)
class CacheUse(Record):
    """Which cache an audit used (None: none) and how many files it measured or reused."""

    path: str | None
    measured: int
    reused: int


@dataclass(frozen=True)
class AuditReport(Record):
    """The result of one audit: the folder, dataset-level summary, and one row per file."""

    dataset: str
    summary: dict[str, Any]
    clips: tuple[ClipReport, ...]
    cache: CacheUse | None = None


@dataclass(frozen=True)
class AuditProgress(Record):
    """How far an audit is: files found, files with a result, and the measuring pace so far."""

    total: int
    done: int
    measured: int
    to_measure: int
    measuring_s: float
    current: str = ""

    @property
    def fraction(self) -> float:
        """Return the share of files with a result (1.0 for an empty folder)."""
        return self.done / self.total if self.total else 1.0

    @property
    def time_left_s(self) -> float | None:
        """Return the seconds left at the pace so far, None before the first file is measured."""
        if not self.measured:
            return None
        return (self.to_measure - self.measured) * self.measuring_s / self.measured

    def describe(self) -> str:
        """Return one line such as ``120 of 1,500 files (about 2 min left)``."""
        left = self.time_left_s
        tail = "" if left is None else f" (about {format_duration(left)} left)"
        return f"{self.done:,} of {self.total:,} files{tail}"


@dataclass(frozen=True)
class AuditScan:
    """The audio files under a dataset folder and what the cache already holds for them."""

    dataset_dir: Path
    files: tuple[Path, ...]
    ignored_files: int
    known: dict[str, Measurement]
    """Results by absolute path: cached rows, and rows of files that cannot even be looked at."""
    todo: tuple[Path, ...]
    """Files to measure, in the order found."""
    changed_ns: dict[str, int] = field(default_factory=dict)
    """When each file that could be looked at last changed (written, copied in or renamed:
    the later of its modification and status-change times), by absolute path, in ns since the epoch."""
    cache_path: Path | None = None
    measure_key: str = ""


def format_duration(seconds: float) -> str:
    """Return a rough human duration: ``45 s``, ``3 min``, ``1.2 h``.

    >>> format_duration(44.6), format_duration(200), format_duration(5400)
    ('45 s', '3 min', '1.5 h')
    """
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def find_audio_files(dataset_dir: Path) -> tuple[list[Path], int]:
    """Return the audio files under ``dataset_dir`` (recursive, sorted) and the count of others."""
    audio_files: list[Path] = []
    others = 0
    for dirpath, dirnames, filenames in os.walk(dataset_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                audio_files.append(Path(dirpath) / name)
            else:
                others += 1
    return audio_files, others


def enclosing_workspace(dataset_dir: Path, hint: Path | None = None) -> Workspace | None:
    """Return the workspace ``dataset_dir`` lies in, or None.

    That is ``hint`` (the ``--workspace`` given) or the default workspace (``$SVCQA_WORKSPACE``
    or ``./workspace``) when the folder is inside it, else the nearest enclosing folder that
    was opened as a workspace before.
    """
    folder = Path(dataset_dir).expanduser().absolute()
    for root in (hint, default_root()):
        if root is not None:
            candidate = Workspace(root)
            if candidate.root == folder or candidate.root in folder.parents:
                return candidate
    for parent in (folder, *folder.parents):
        if Workspace(parent).is_initialised:
            return Workspace(parent)
    return None


def user_cache_path() -> Path:
    """Return the cache of folders outside any workspace, in the user's cache folder."""
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "svcqa" / "audit-cache.sqlite"


def default_cache_path(dataset_dir: Path) -> Path:
    """Return the database to cache in: that of the workspace the folder is in, else the user cache."""
    workspace = enclosing_workspace(dataset_dir)
    return workspace.db_path if workspace is not None else user_cache_path()


def measure_key(settings: Settings, with_voice: bool) -> str:
    """Return the hash of everything that changes a measurement (not the flag thresholds)."""
    a = settings.audit
    relevant: dict[str, Any] = {
        "version": MEASURE_VERSION,
        "silence_dbfs": a.silence_dbfs,
        "silence_frame_s": a.silence_frame_s,
        "clip_level": a.clip_level,
        "clip_min_run_samples": a.clip_min_run_samples,
        "loudness_chunk_s": a.loudness_chunk_s,
        "max_file_bytes": a.max_file_bytes,
        "voice": [settings.section_hash("pitch"), settings.section_hash("voice")] if with_voice else None,
    }
    return json_hash(relevant, chars=16)


def failed(data: dict[str, Any]) -> bool:
    """Return True for a stored row whose analysis crashed (it may succeed when measured again)."""
    return (data.get("error") or "").startswith(CRASH_PREFIX) or "voice_error" in (data.get("voice") or {})


def _check_folder(dataset_dir: Path) -> None:
    if not dataset_dir.exists():
        raise DatasetError(f"Dataset folder {dataset_dir} does not exist.")
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir} is a file, not a folder: give the folder that holds the clips.")
    if not os.access(dataset_dir, os.R_OK | os.X_OK):
        raise DatasetError(f"Dataset folder {dataset_dir} cannot be read (permission denied).")


def _open_store(path: Path) -> Store | None:
    """Return the store at ``path``; None when it cannot be used (the audit never depends on it)."""
    try:
        return Store(path)
    except (OSError, WorkspaceError):
        return None


def scan_dataset(
    dataset_dir: Path,
    settings: Settings | None = None,
    *,
    with_voice: bool = False,
    cache_path: Path | None = None,
    use_cache: bool = True,
    retry_failed: bool = True,
) -> AuditScan:
    """Return the audio files under ``dataset_dir`` split into known results and files to measure.

    Looks in the cache (``cache_path``, default :func:`default_cache_path`); when that is a
    workspace database, rows the user cache holds for the same files (a CLI audit made before
    the workspace existed) count too and are copied into it. ``retry_failed`` puts files whose
    analysis crashed back on the list to measure.
    """
    settings = settings or Settings()
    dataset_dir = Path(dataset_dir).expanduser().absolute()
    _check_folder(dataset_dir)
    files, ignored = find_audio_files(dataset_dir)
    key = measure_key(settings, with_voice)
    known: dict[str, Measurement] = {}
    stats: dict[str, os.stat_result] = {}
    for path in files:
        try:
            str(path).encode("utf-8")
            stats[str(path)] = path.stat()
        except (UnicodeEncodeError, OSError) as exc:
            known[str(path)] = _unusable(path, dataset_dir, exc)
    primary = cache_path or default_cache_path(dataset_dir)
    cached = _cached_rows(primary, list(stats), key) if use_cache else {}
    todo: list[Path] = []
    for path in files:
        if str(path) in known:
            continue
        st = stats[str(path)]
        hit = cached.get(str(path))
        fresh = hit is not None and hit.size_bytes == st.st_size and hit.mtime_ns == st.st_mtime_ns
        if fresh and not (retry_failed and failed(hit.data)):
            relative = path.relative_to(dataset_dir).as_posix()
            known[str(path)] = Measurement.from_dict({**hit.data, "path": relative})
        else:
            todo.append(path)
    return AuditScan(
        dataset_dir=dataset_dir,
        files=tuple(files),
        ignored_files=ignored,
        known=known,
        todo=tuple(todo),
        changed_ns={p: max(st.st_mtime_ns, st.st_ctime_ns) for p, st in stats.items()},
        cache_path=primary if use_cache else None,
        measure_key=key,
    )


def _cached_rows(primary: Path, keys: list[str], key: str) -> dict[str, CachedMeasurement]:
    """Return the cached rows of ``keys``: the primary cache's, then the user cache's for the rest."""
    store = _open_store(primary)
    if store is None:
        return {}
    try:
        cached = store.audit_cache.get_many(keys, key)
    except WorkspaceError:
        return {}
    fallback = user_cache_path()
    missing = [k for k in keys if k not in cached]
    if missing and primary != fallback and fallback.is_file():
        other = _open_store(fallback)
        borrowed = other.audit_cache.get_many(missing, key) if other else {}
        if borrowed:
            with contextlib.suppress(WorkspaceError):
                store.audit_cache.put_many(borrowed.values())
            cached.update(borrowed)
    return cached


class _Recorder:
    """Stores each measured file at once and reports progress (at most every ``every_s`` seconds)."""

    def __init__(
        self,
        scan: AuditScan,
        progress: ProgressCallback,
        on_progress: Callable[[AuditProgress], None] | None,
        every_s: float,
    ) -> None:
        self.scan = scan
        self.store = _open_store(scan.cache_path) if scan.cache_path else None
        self.fresh: dict[str, Measurement] = {}
        self._progress = progress
        self._on_progress = on_progress
        self._every_s = every_s
        self._started = time.monotonic()
        self._last_report = -float("inf")

    def state(self, current: str = "") -> AuditProgress:
        """Return the progress now."""
        return AuditProgress(
            total=len(self.scan.files),
            done=len(self.scan.known) + len(self.fresh),
            measured=len(self.fresh),
            to_measure=len(self.scan.todo),
            measuring_s=round(time.monotonic() - self._started, 3),
            current=current,
        )

    def report(self, force: bool = False, current: str = "") -> None:
        """Hand the progress to ``on_progress`` (throttled unless ``force``)."""
        now = time.monotonic()
        if self._on_progress is not None and (force or now - self._last_report >= self._every_s):
            self._last_report = now
            self._on_progress(self.state(current))

    def __call__(self, path: str, m: Measurement, keep: bool) -> None:
        self.fresh[path] = m
        if keep and self.store is not None:
            try:
                self.store.audit_cache.put_many(
                    [CachedMeasurement(path, m.size_bytes, m.mtime_ns, self.scan.measure_key, m.to_dict())]
                )
            except WorkspaceError:  # a full disk: keep measuring, stop trying to store
                self.store = None
        state = self.state(m.path)
        self._progress(state.fraction, f"Measured {m.path}: {state.describe()}")
        self.report(current=m.path)


def audit_dataset(
    dataset_dir: Path,
    settings: Settings | None = None,
    *,
    workers: int | None = None,
    cache_path: Path | None = None,
    use_cache: bool = True,
    with_voice: bool = False,
    retry_failed: bool = True,
    progress: ProgressCallback | None = None,
    on_progress: Callable[[AuditProgress], None] | None = None,
) -> AuditReport:
    """Return the audit of every audio file under ``dataset_dir`` (which is never written).

    ``progress`` gets (fraction, message) after each file; ``on_progress`` gets an
    :class:`AuditProgress` at most every ``audit.progress_every_s`` seconds, and at the end.
    """
    settings = settings or Settings()
    scan = scan_dataset(
        dataset_dir,
        settings,
        with_voice=with_voice,
        cache_path=cache_path,
        use_cache=use_cache,
        retry_failed=retry_failed,
    )
    report = progress or (lambda _f, _m: None)
    report(0.0, f"Found {len(scan.files)} audio files")
    recorder = _Recorder(scan, report, on_progress, settings.audit.progress_every_s)
    recorder.report(force=True)
    measure_files(scan.todo, scan.dataset_dir, settings, with_voice, workers, recorder)
    recorder.report(force=True)
    result = finish_audit(scan, settings, recorder.fresh)
    report(
        1.0,
        f"Audited {len(scan.files)} files ({len(scan.todo)} measured, {len(scan.files) - len(scan.todo)} cached)",
    )
    return result


def finish_audit(
    scan: AuditScan, settings: Settings, fresh: dict[str, Measurement] | None = None
) -> AuditReport:
    """Return the report of ``scan`` once every file has a result (known, or in ``fresh``).

    Raises :class:`DatasetError` when a file has none (it still needs measuring).
    """
    results = {**scan.known, **(fresh or {})}
    missing = [p for p in scan.files if str(p) not in results]
    if missing:
        raise DatasetError(f"{len(missing)} files of {scan.dataset_dir} are not measured yet.")
    clips, identity_summary = _flag_clips([results[str(p)] for p in scan.files], settings)
    summary = summarise(clips, settings.audit, ignored_files=scan.ignored_files)
    summary.update(voice_summary([(c.measurement, c.codes) for c in clips], settings.pitch))
    summary.update(identity_summary)
    cache = CacheUse(
        path=None if scan.cache_path is None else str(scan.cache_path),
        measured=len(fresh or {}),
        reused=sum(1 for p in scan.known if p in scan.changed_ns),
    )
    return AuditReport(dataset=str(scan.dataset_dir), summary=summary, clips=tuple(clips), cache=cache)


def _unusable(path: Path, dataset_dir: Path, exc: Exception) -> Measurement:
    """Return the ``unreadable`` row of a file whose name is not UTF-8 (it could be neither
    stored nor shown) or that cannot be looked at (a broken symlink)."""
    relative = os.fsencode(path.relative_to(dataset_dir)).decode("utf-8", "backslashreplace")
    if isinstance(exc, UnicodeEncodeError):
        error = "the file name is not valid UTF-8 (from a zip made on another system?): rename the file"
    else:
        error = f"the file cannot be opened: {getattr(exc, 'strerror', None) or exc}"
    return Measurement(path=relative, size_bytes=0, mtime_ns=0, readable=False, error=error)


def _flag_clips(
    measurements: list[Measurement], settings: Settings
) -> tuple[list[ClipReport], dict[str, Any]]:
    """Return clip reports (per-clip flags, ``duplicate`` on later copies, voice flags) and
    the dataset-level voice summary fields."""
    first_with_hash: dict[str, str] = {}
    by_path, similarity, identity_summary, unjudged = identity_flags(
        measurements, settings.voice, settings.audit
    )
    clips = []
    for m in measurements:
        flags = derive_flags(m, settings.audit)
        voice = kind_flag(m, settings.pitch)
        if voice:
            flags.append(voice)
        flags.extend(by_path.get(m.path, []))
        duplicate_of = None
        if m.content_hash and m.frames:
            original = first_with_hash.setdefault(m.content_hash, m.path)
            if original != m.path:
                duplicate_of = original
                flags.append(Flag("duplicate", f"Same audio as {original}.", flag_info("duplicate").fix))
        clips.append(
            ClipReport(
                measurement=m,
                flags=tuple(flags),
                duplicate_of=duplicate_of,
                voice_similarity=similarity.get(m.path),
                voice_unjudged_reason=unjudged.get(m.path),
            )
        )
    return clips, identity_summary


def summarise(clips: list[ClipReport], settings: AuditSettings, ignored_files: int = 0) -> dict[str, Any]:
    """Return the dataset summary: counts, total length, sweet-spot share, flags, loudness."""
    readable = [c.measurement for c in clips if c.measurement.readable and c.measurement.frames]
    durations = np.array([m.duration_s or 0.0 for m in readable])
    total_s = float(durations.sum()) if durations.size else 0.0
    in_sweet = (durations >= settings.sweet_spot_min_s) & (durations <= settings.sweet_spot_max_s)
    lufs = np.array([m.lufs for m in readable if m.lufs is not None])
    flag_counts = Counter(code for c in clips for code in c.codes)
    return {
        "clip_count": len(clips),
        "readable_count": len(readable),
        "ignored_files": ignored_files,
        "total_duration_s": round(total_s, 2),
        "recommended_total_s": settings.recommended_total_s,
        "share_of_recommended": round(total_s / settings.recommended_total_s, 4),
        "sweet_spot_share": round(float(in_sweet.mean()), 4) if durations.size else 0.0,
        "duration_s": _spread(durations),
        "flag_counts": dict(sorted(flag_counts.items())),
        "flagged_clip_count": sum(1 for c in clips if c.flags),
        "lufs": _spread(lufs),
        "sample_rates": dict(sorted(Counter(str(m.sample_rate) for m in readable).items())),
    }


def _spread(values: np.ndarray) -> dict[str, float | None]:
    """Return min, p10, median, p90, max and the p90-p10 spread of ``values`` (None when empty)."""
    if values.size == 0:
        return {k: None for k in ("min", "p10", "median", "p90", "max", "spread")}
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {
        "min": round(float(values.min()), 2),
        "p10": round(float(p10), 2),
        "median": round(float(median), 2),
        "p90": round(float(p90), 2),
        "max": round(float(values.max()), 2),
        "spread": round(float(p90 - p10), 2),
    }
