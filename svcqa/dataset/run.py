"""Audit a dataset folder: find audio files, measure them in parallel (cached), flag, summarise.

The dataset folder is only ever read. The cache lives in the workspace database (or, for a
folder outside any workspace, in the user's cache folder) keyed by absolute path, size,
modification time and the measuring settings, so a re-audit of an unchanged dataset only
stats the files.

Example
-------
>>> report = audit_dataset(Path("workspace/recordings"))          # doctest: +SKIP
>>> report.summary["flag_counts"]                                  # doctest: +SKIP
{'too_short': 1, ...}
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.core.errors import DatasetError, WorkspaceError
from svcqa.core.files import json_hash
from svcqa.core.records import Record
from svcqa.core.settings import AuditSettings, PitchSettings, Settings, VoiceSettings
from svcqa.core.store import Store
from svcqa.core.store.audit_cache import CachedMeasurement
from svcqa.core.workspace import AUDIO_EXTENSIONS, Workspace
from svcqa.dataset.checks import MEASURE_VERSION, Flag, Measurement, derive_flags, measure_file
from svcqa.dataset.dataset_voice import identity_flags, kind_flag, voice_summary
from svcqa.dataset.flags import flag_info

ProgressCallback = Callable[[float, str], None]

_CRASH_PREFIX = "analysis crashed"
"""Error prefix of files whose analysis raised; such rows are never cached."""

_IN_PROCESS_MAX_FILES = 4
"""Below this many files to measure, a worker pool costs more than it saves."""


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
class AuditReport(Record):
    """The result of one audit: the folder, dataset-level summary, and one row per file."""

    dataset: str
    summary: dict[str, Any]
    clips: tuple[ClipReport, ...]


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


def default_cache_path(dataset_dir: Path) -> Path:
    """Return the database to cache in: the enclosing workspace's, else the user cache folder."""
    for parent in (dataset_dir, *dataset_dir.parents):
        if Workspace(parent).is_initialised:
            return Workspace(parent).db_path
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "svcqa" / "audit-cache.sqlite"


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


def _measure_job(
    args: tuple[str, str, AuditSettings, PitchSettings | None, VoiceSettings | None],
) -> dict[str, Any]:
    """Measure one file; an unexpected exception becomes an uncached ``unreadable`` row."""
    path, relative, audit_settings, pitch, voice_settings = args
    try:
        return measure_file(Path(path), relative, audit_settings, pitch, voice_settings).to_dict()
    except Exception as exc:  # a crash on one file must not end the audit
        return _crashed(Path(path), relative, exc).to_dict()


def audit_dataset(
    dataset_dir: Path,
    settings: Settings | None = None,
    *,
    workers: int | None = None,
    cache_path: Path | None = None,
    use_cache: bool = True,
    with_voice: bool = False,
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Return the audit of every audio file under ``dataset_dir`` (which is never written)."""
    settings = settings or Settings()
    dataset_dir = Path(dataset_dir).expanduser().absolute()
    if not dataset_dir.exists():
        raise DatasetError(f"Dataset folder {dataset_dir} does not exist.")
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir} is a file, not a folder: give the folder that holds the clips.")
    if not os.access(dataset_dir, os.R_OK | os.X_OK):
        raise DatasetError(f"Dataset folder {dataset_dir} cannot be read (permission denied).")
    files, ignored = find_audio_files(dataset_dir)
    report = progress or (lambda _f, _m: None)
    report(0.0, f"Found {len(files)} audio files")

    key = measure_key(settings, with_voice)
    measurements: dict[str, Measurement] = {}
    stats: dict[str, os.stat_result] = {}
    for path in files:
        try:
            str(path).encode("utf-8")
            stats[str(path)] = path.stat()
        except (UnicodeEncodeError, OSError) as exc:
            measurements[str(path)] = _unusable(path, dataset_dir, exc)
    store: Store | None = None
    cached: dict[str, CachedMeasurement] = {}
    if use_cache:
        # The audit never depends on its cache: on a full disk or a read-only folder it measures afresh.
        try:
            store = Store(cache_path or default_cache_path(dataset_dir))
            cached = store.audit_cache.get_many(list(stats), key)
        except (OSError, WorkspaceError):
            store = None
    todo: list[Path] = []
    for path in files:
        if str(path) in measurements:
            continue
        st = stats[str(path)]
        hit = cached.get(str(path))
        relative = path.relative_to(dataset_dir).as_posix()
        if hit and hit.size_bytes == st.st_size and hit.mtime_ns == st.st_mtime_ns:
            measurements[str(path)] = Measurement.from_dict({**hit.data, "path": relative})
        else:
            todo.append(path)

    fresh = _measure_all(todo, dataset_dir, settings, with_voice, workers, report, len(files))
    measurements.update(fresh)
    if store and fresh:
        with contextlib.suppress(WorkspaceError):
            store.audit_cache.put_many(
                CachedMeasurement(p, m.size_bytes, m.mtime_ns, key, m.to_dict())
                for p, m in fresh.items()
                if not (m.error or "").startswith(_CRASH_PREFIX) and "voice_error" not in (m.voice or {})
            )
    clips, identity_summary = _flag_clips([measurements[str(p)] for p in files], settings)
    report(1.0, f"Audited {len(files)} files ({len(todo)} measured, {len(files) - len(todo)} cached)")
    summary = summarise(clips, settings.audit, ignored_files=ignored)
    summary.update(voice_summary([(c.measurement, c.codes) for c in clips], settings.pitch))
    summary.update(identity_summary)
    return AuditReport(dataset=str(dataset_dir), summary=summary, clips=tuple(clips))


def _measure_all(
    todo: list[Path],
    dataset_dir: Path,
    settings: Settings,
    with_voice: bool,
    workers: int | None,
    report: ProgressCallback,
    total: int,
) -> dict[str, Measurement]:
    """Measure ``todo`` files, in worker processes when there are enough of them."""
    pitch = settings.pitch if with_voice else None
    voice = settings.voice if with_voice else None
    jobs = [(str(p), p.relative_to(dataset_dir).as_posix(), settings.audit, pitch, voice) for p in todo]
    n_workers = workers or settings.audit.workers or os.cpu_count() or 1
    done_before = total - len(todo)
    results: dict[str, Measurement] = {}
    if len(jobs) <= _IN_PROCESS_MAX_FILES or n_workers == 1:
        for i, job in enumerate(jobs, start=1):
            results[job[0]] = Measurement.from_dict(_measure_job(job))
            report((done_before + i) / max(total, 1), f"Measured {job[1]}")
        return results
    # forkserver: safe from a threaded parent (the Streamlit server), cheaper than spawn.
    context = multiprocessing.get_context("forkserver")
    with cf.ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        futures = {pool.submit(_measure_job, job): job for job in jobs}
        for i, future in enumerate(cf.as_completed(futures), start=1):
            job = futures[future]
            try:
                results[job[0]] = Measurement.from_dict(future.result())
            except cf.process.BrokenProcessPool as exc:  # a worker killed (e.g. out of memory)
                results[job[0]] = _crashed(Path(job[0]), job[1], exc)
            report((done_before + i) / max(total, 1), f"Measured {job[1]}")
    return results


def _unusable(path: Path, dataset_dir: Path, exc: Exception) -> Measurement:
    """Return the ``unreadable`` row of a file whose name is not UTF-8 (it could be neither
    stored nor shown) or that cannot be looked at (a broken symlink)."""
    relative = os.fsencode(path.relative_to(dataset_dir)).decode("utf-8", "backslashreplace")
    if isinstance(exc, UnicodeEncodeError):
        error = "the file name is not valid UTF-8 (from a zip made on another system?): rename the file"
    else:
        error = f"the file cannot be opened: {getattr(exc, 'strerror', None) or exc}"
    return Measurement(path=relative, size_bytes=0, mtime_ns=0, readable=False, error=error)


def _crashed(path: Path, relative: str, exc: BaseException) -> Measurement:
    st = path.stat()
    return Measurement(
        path=relative,
        size_bytes=st.st_size,
        mtime_ns=st.st_mtime_ns,
        readable=False,
        error=f"{_CRASH_PREFIX}: {type(exc).__name__}: {exc}",
    )


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
                flags.append(
                    Flag("duplicate", f"Same audio as {original}.", flag_info("duplicate").fix)
                )
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
