"""The clean-up plan for an audited dataset, and its execution into ``dataset_raw/<speaker>/``.

A plan says, per source file, whether it is used (flags exclude it unless the user overrides
the clip), which actions apply (``slice``, ``mono``, ``resample``, ``normalise``, ``rename``)
and which files come out. Executing it reads the sources (never writes them), writes each
clip under a temporary name and renames it when complete, and keeps a JSON-lines manifest
(source, source hash, actions, output, output hash, length, loudness) plus a CSV mapping
old name -> new name. A re-run skips every output whose source and recipe are unchanged.

Example
-------
>>> import tempfile
>>> src = Path(tempfile.mkdtemp())
>>> rows = [{"path": "歌声 01.wav", "flags": ["non_ascii_name"], "duration_s": 8.0,
...          "sample_rate": 48_000, "channels": 2}]
>>> plan = build_plan(src, rows, "alice")
>>> plan.entries[0].actions
('mono', 'resample', 'normalise', 'rename')
>>> plan.entries[0].outputs[0].name
'Ge_Sheng_01.wav'
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from unidecode import unidecode

from svcqa.audio.decode import read
from svcqa.audio.encode import wav_bytes
from svcqa.audio.loudness import dbfs, integrated_lufs
from svcqa.audio.resample import resample
from svcqa.core.errors import AudioError, DatasetError, WorkspaceError
from svcqa.core.files import atomic_write_bytes, remove_partials
from svcqa.core.settings import PrepareSettings, Settings, SlicerSettings
from svcqa.core.workspace import Workspace
from svcqa.prepare.slicer import Piece, Problem, piece_name, plan_slices

ProgressCallback = Callable[[float, str], None]

NO_PIECES = "no_pieces"
"""Exclusion reason of a long clip in which slicing found no piece of usable length."""

_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM_CHARS = 80
_SAFE_SPEAKER = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{_MAX_STEM_CHARS - 1}}}")
_HASH_CHUNK_BYTES = 1 << 20
_RECIPE_VERSION = 1
"""Bump when the audio processing changes, so a re-run rewrites every output."""
_PCM16_STEP = 1.0 / 32768.0
"""Rounding to 16-bit moves a sample by at most half a step; one step of headroom keeps
every written sample under the peak ceiling."""


@dataclass(frozen=True)
class PlannedOutput:
    """One file the plan writes: its name in the speaker folder and the span of the source."""

    name: str
    start_s: float | None = None
    """Start of the span in the source in seconds; None (with ``end_s``) means the whole file."""
    end_s: float | None = None

    @property
    def piece(self) -> Piece | None:
        """Return the source span as a :class:`Piece`, None for the whole file."""
        if self.start_s is None or self.end_s is None:
            return None
        return Piece(self.start_s, self.end_s)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PlanEntry:
    """What happens to one source file."""

    source: str
    """POSIX path relative to the source folder."""
    include: bool
    reasons: tuple[str, ...]
    """Flag codes that exclude the file by default (kept for display when overridden)."""
    overridden: bool
    """True when the user's per-clip choice replaced the flag-based decision."""
    actions: tuple[str, ...]
    outputs: tuple[PlannedOutput, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "source": self.source,
            "include": self.include,
            "reasons": list(self.reasons),
            "overridden": self.overridden,
            "actions": list(self.actions),
            "outputs": [o.to_dict() for o in self.outputs],
            "note": self.note,
        }


@dataclass(frozen=True)
class PreparePlan:
    """The whole clean-up, shown to the user before anything is written.

    Example
    -------
    >>> plan = PreparePlan(Path("/data"), "alice", PrepareSettings(), SlicerSettings(), ())
    >>> plan.to_dict()["speaker"]
    'alice'
    """

    source_dir: Path
    speaker: str
    settings: PrepareSettings
    slicer: SlicerSettings
    entries: tuple[PlanEntry, ...]

    @property
    def included(self) -> tuple[PlanEntry, ...]:
        """Return the entries that produce output."""
        return tuple(e for e in self.entries if e.include)

    def renames(self) -> list[tuple[str, str]]:
        """Return (source path, output name) for every planned output."""
        return [(e.source, o.name) for e in self.included for o in e.outputs]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "source_dir": str(self.source_dir),
            "speaker": self.speaker,
            "settings": dataclasses.asdict(self.settings),
            "slicer": dataclasses.asdict(self.slicer),
            "entries": [e.to_dict() for e in self.entries],
        }


@dataclass(frozen=True)
class ManifestRecord:
    """One prepared clip traced back to its source (a line of ``manifest.jsonl``)."""

    output: str
    output_sha256: str
    source: str
    source_sha256: str
    start_s: float | None
    end_s: float | None
    actions: tuple[str, ...]
    recipe_sha256: str
    """Hash of everything besides the source that shapes the output (span and settings)."""
    duration_s: float
    sample_rate_hz: int
    channels: int
    lufs: float | None
    """Integrated loudness of the output; None when it is too short or silent to measure."""
    peak_dbfs: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**dataclasses.asdict(self), "actions": list(self.actions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManifestRecord:
        """Rebuild a record from :meth:`to_dict` output."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{**values, "actions": tuple(values.get("actions", ()))})


@dataclass(frozen=True)
class PrepareResult:
    """What one execution of a plan did."""

    out_dir: Path
    written: tuple[ManifestRecord, ...]
    unchanged: tuple[str, ...]
    """Outputs already up to date (same source hash and recipe), left untouched."""
    removed: tuple[str, ...]
    """Earlier outputs of svcqa that the plan no longer produces, deleted."""
    skipped: tuple[Problem, ...]
    """Sources not prepared because they cannot be read."""
    conflicts: tuple[Problem, ...]
    """Files in the speaker folder that svcqa did not write (or the user edited): left alone."""
    manifest_path: Path
    renames_path: Path

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "out_dir": str(self.out_dir),
            "written": [r.to_dict() for r in self.written],
            "unchanged": list(self.unchanged),
            "removed": list(self.removed),
            "skipped": [p.to_dict() for p in self.skipped],
            "conflicts": [p.to_dict() for p in self.conflicts],
            "manifest_path": str(self.manifest_path),
            "renames_path": str(self.renames_path),
        }


def safe_stem(relative: str) -> str:
    """Return an ASCII file stem made of ``A-Z a-z 0-9 . _ -`` for a source path.

    Folders and the name are joined with ``_``; non-ASCII text is transliterated
    (``"歌声 01.wav"`` -> ``"Ge_Sheng_01"``); a name with nothing left (emoji only) becomes
    a stable slug ``clip_<hash>`` of the path.
    """
    joined = "_".join(PurePosixPath(relative).with_suffix("").parts)
    cleaned = _UNSAFE_RUN.sub("_", unidecode(joined).replace("_", " ")).strip("._-")[:_MAX_STEM_CHARS].strip("._-")
    return cleaned or f"clip_{_text_hash(relative)[:8]}"


def safe_speaker_name(name: str) -> str:
    """Return a speaker folder name made of ``A-Z a-z 0-9 . _ -`` for ``name`` (``"speaker"`` if none is left).

    Non-ASCII text is transliterated: ``"歌手 A"`` -> ``"Ge_Shou_A"``.
    """
    cleaned = _UNSAFE_RUN.sub("_", unidecode(name)).strip("._-")[:_MAX_STEM_CHARS].strip("._-")
    return cleaned or "speaker"


def check_speaker_name(speaker: str) -> None:
    """Raise :class:`WorkspaceError` unless ``speaker`` is a safe folder name, else return None."""
    if not _SAFE_SPEAKER.fullmatch(speaker):
        shown = speaker if len(speaker) <= _MAX_STEM_CHARS else f"{speaker[:_MAX_STEM_CHARS]}..."
        raise WorkspaceError(
            f"Speaker name {shown!r} is not a safe folder name: use letters, digits, '_' and '-' "
            f"(up to {_MAX_STEM_CHARS} characters)."
        )


def exclusion_reasons(row: Mapping[str, Any], settings: Settings) -> tuple[str, ...]:
    """Return the flag codes of the audit ``row`` that exclude its clip by default.

    ``too_long`` does not exclude a clip that will be sliced (``prepare.slice_long``).
    """
    flags = set(row.get("flags") or ())
    sliced = _will_slice(row, settings)
    return tuple(
        code
        for code in settings.prepare.exclude_flags
        if code in flags and not (code == "too_long" and sliced)
    )


def _will_slice(row: Mapping[str, Any], settings: Settings) -> bool:
    """Return True when the clip of ``row`` is long enough to be sliced and slicing is on."""
    duration_s = row.get("duration_s")
    return settings.prepare.slice_long and (
        "too_long" in (row.get("flags") or ())
        or (duration_s is not None and duration_s > settings.slicer.max_piece_s)
    )


def source_folders(workspace: Workspace) -> list[str]:
    """Return the speaker folders under ``recordings/`` that hold audio, sorted by name."""
    return [
        name
        for name in workspace.speakers(workspace.recordings)
        if workspace.has_audio(workspace.recordings / name)
    ]


def manifest_path(workspace: Workspace, speaker: str) -> Path:
    """Return where the manifest of ``speaker``'s prepared clips lives."""
    return workspace.state_dir / "prepare" / speaker / "manifest.jsonl"


def renames_path(workspace: Workspace, speaker: str) -> Path:
    """Return where the old name -> new name CSV of ``speaker``'s prepared clips lives."""
    return workspace.state_dir / "prepare" / speaker / "renames.csv"


def build_plan(
    source_dir: Path,
    rows: Sequence[Mapping[str, Any]],
    speaker: str,
    settings: Settings | None = None,
    overrides: Mapping[str, bool] | None = None,
    progress: ProgressCallback | None = None,
) -> PreparePlan:
    """Return the clean-up plan for the audited clips ``rows`` of ``source_dir``.

    Parameters
    ----------
    source_dir : Path
        The user's recordings; only clips longer than the slicer's ``max_piece_s`` are read
        (to find their cuts).
    rows : sequence of mapping
        Audit rows with ``path`` (relative to ``source_dir``), ``flags`` (codes),
        ``duration_s``, ``sample_rate`` (Hz) and ``channels``.
    speaker : str
        Name of the output folder ``dataset_raw/<speaker>/``.
    settings : Settings or None
        Uses the ``prepare`` and ``slicer`` sections; the defaults when None.
    overrides : mapping of str to bool, optional
        Per-clip choice by path: True includes a flagged clip, False excludes a clean one.
    progress : callable (fraction, message), optional

    Raises
    ------
    DatasetError
        ``source_dir`` is not a folder.
    WorkspaceError
        ``speaker`` is not a safe folder name.
    """
    if not source_dir.is_dir():
        raise DatasetError(f"Source folder {source_dir} does not exist or is not a folder.")
    check_speaker_name(speaker)
    settings = settings or Settings()
    overrides = overrides or {}
    ordered = sorted(rows, key=lambda row: str(row["path"]))
    drafts = []
    for index, row in enumerate(ordered):
        if progress is not None:
            progress(index / max(len(ordered), 1), f"Planning {row['path']}")
        drafts.append(_draft_entry(source_dir, row, settings, overrides.get(str(row["path"]))))
    entries = _name_outputs(drafts, settings.prepare.rename_safe)
    if progress is not None:
        progress(1.0, f"Planned {sum(len(e.outputs) for e in entries)} clips")
    return PreparePlan(source_dir, speaker, settings.prepare, settings.slicer, entries)


@dataclass(frozen=True)
class _Draft:
    """A plan entry before output names are assigned: the pieces it will produce."""

    entry: PlanEntry
    pieces: tuple[Piece, ...] | None
    """None: the whole file is one output."""


def _draft_entry(
    source_dir: Path, row: Mapping[str, Any], settings: Settings, override: bool | None
) -> _Draft:
    """Return the include decision, actions and pieces of one audit row."""
    prep = settings.prepare
    relative = str(row["path"])
    to_slice = _will_slice(row, settings)
    reasons = exclusion_reasons(row, settings)
    include = (not reasons) if override is None else override
    excluded = PlanEntry(relative, False, reasons, override is not None, (), ())
    if not include:
        return _Draft(excluded, None)
    pieces = None
    if to_slice:
        try:
            samples, sample_rate_hz = read(source_dir / relative)
        except AudioError as exc:
            return _Draft(
                dataclasses.replace(excluded, reasons=(*reasons, "unreadable"), note=str(exc)), None
            )
        pieces = plan_slices(samples, sample_rate_hz, settings.slicer).pieces
        if not pieces:
            note = "Slicing left no piece of usable length (the file is mostly silence)."
            return _Draft(dataclasses.replace(excluded, reasons=(*reasons, NO_PIECES), note=note), None)
    actions = ["slice"] if pieces is not None else []
    if prep.to_mono and (row.get("channels") or 1) > 1:
        actions.append("mono")
    if prep.resample and row.get("sample_rate") and row["sample_rate"] != prep.target_sample_rate_hz:
        actions.append("resample")
    if prep.normalise:
        actions.append("normalise")
    return _Draft(PlanEntry(relative, True, reasons, override is not None, tuple(actions), ()), pieces)


def _name_outputs(drafts: list[_Draft], rename_safe: bool) -> tuple[PlanEntry, ...]:
    """Return the entries (in draft order) with distinct output names, compared case-insensitively.

    Sources whose name is already safe choose first, then the others in path order; a source
    whose name is taken adds a short hash of its path, so names stay stable across runs.
    """
    stems = {}
    for draft in drafts:
        if draft.entry.include:
            relative = PurePosixPath(draft.entry.source)
            stems[draft.entry.source] = (
                safe_stem(draft.entry.source) if rename_safe else "_".join(relative.with_suffix("").parts)
            )
    choosing = sorted(
        (d for d in drafts if d.entry.include),
        key=lambda d: (stems[d.entry.source] != PurePosixPath(d.entry.source).stem, d.entry.source),
    )
    taken: set[str] = set()
    named: dict[str, PlanEntry] = {}
    for draft in choosing:
        entry = draft.entry
        spans = draft.pieces or (None,)
        stem, names = _free_names(stems[entry.source], _text_hash(entry.source), len(spans), taken)
        taken.update(n.casefold() for n in names)
        outputs = tuple(
            PlannedOutput(name) if span is None else PlannedOutput(name, span.start_s, span.end_s)
            for name, span in zip(names, spans, strict=True)
        )
        renamed = stem != PurePosixPath(entry.source).stem
        named[entry.source] = dataclasses.replace(
            entry, outputs=outputs, actions=(*entry.actions, "rename") if renamed else entry.actions
        )
    return tuple(named.get(d.entry.source, d.entry) for d in drafts)


def _free_names(stem: str, source_hash: str, count: int, taken: set[str]) -> tuple[str, list[str]]:
    """Return a stem and its ``count`` file names, none in ``taken`` (casefolded names)."""
    candidates = [stem] + [f"{stem}_{source_hash[:length]}" for length in range(6, len(source_hash) + 1, 2)]
    for candidate in candidates:
        if count == 1:
            names = [f"{candidate}.wav"]
        else:
            names = [piece_name(candidate, i, count) for i in range(count)]
        if not any(n.casefold() in taken for n in names):
            return candidate, names
    raise WorkspaceError(f"No free output name for {stem!r}; rename the source file.")


def execute_plan(
    plan: PreparePlan, workspace: Workspace, progress: ProgressCallback | None = None
) -> PrepareResult:
    """Return what writing ``plan`` into ``dataset_raw/<speaker>/`` of ``workspace`` did.

    Sources are only read. Each clip is written under a temporary name and renamed when
    complete, then recorded in the manifest at once, so a killed run loses at most the clip
    in progress. Outputs whose source hash and recipe are unchanged are not rewritten; earlier
    outputs the plan no longer makes are deleted only when they are byte-identical to what
    svcqa wrote; files svcqa did not write are never overwritten or deleted.

    Raises :class:`WorkspaceError` when the workspace cannot be written (for example a full disk).
    """
    out_dir = workspace.dataset_raw / plan.speaker
    journal = manifest_path(workspace, plan.speaker)
    mapping = renames_path(workspace, plan.speaker)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        journal.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"Cannot create {out_dir}: {exc}. Choose a writable workspace.") from exc
    remove_partials(out_dir)
    run = _Run(plan, out_dir, journal, load_manifest(journal))
    run.skipped.extend(
        Problem(e.source, e.note or "Flagged unreadable by the audit; skipped.")
        for e in plan.entries
        if not e.include and "unreadable" in e.reasons
    )
    included = plan.included
    for index, entry in enumerate(included):
        if progress is not None:
            progress(index / max(len(included), 1), f"Preparing {entry.source}")
        run.prepare(entry)
    planned = {o.name for e in included for o in e.outputs}
    removed = run.remove_stale(planned)
    kept = [run.records[name] for name in sorted(run.records)]
    _write_if_changed(journal, "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in kept))
    _write_if_changed(mapping, _renames_csv(kept))
    if progress is not None:
        progress(1.0, f"Wrote {len(run.written)} clips; {len(run.unchanged)} were already up to date.")
    return PrepareResult(
        out_dir=out_dir,
        written=tuple(run.written),
        unchanged=tuple(run.unchanged),
        removed=tuple(removed),
        skipped=tuple(run.skipped),
        conflicts=tuple(run.conflicts),
        manifest_path=journal,
        renames_path=mapping,
    )


@dataclass
class _Run:
    """The state of one execution: the manifest as it stands and what happened so far."""

    plan: PreparePlan
    out_dir: Path
    journal: Path
    records: dict[str, ManifestRecord]
    written: list[ManifestRecord] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    skipped: list[Problem] = dataclasses.field(default_factory=list)
    conflicts: list[Problem] = dataclasses.field(default_factory=list)

    def prepare(self, entry: PlanEntry) -> None:
        """Write the outputs of ``entry`` that are missing or out of date."""
        source = self.plan.source_dir / entry.source
        try:
            source_hash = file_sha256(source)
        except OSError as exc:
            self.skipped.append(Problem(entry.source, f"Cannot read the file: {exc.strerror or exc}."))
            return
        recipes = {o.name: _recipe_sha256(self.plan.settings, o) for o in entry.outputs}
        todo = []
        for output in entry.outputs:
            if self._is_current(output.name, entry.source, source_hash, recipes[output.name]):
                self.unchanged.append(output.name)
            else:
                todo.append(output)
        if not todo:
            return
        try:
            samples, sample_rate_hz = read(source)
        except AudioError as exc:
            self.skipped.append(Problem(entry.source, f"Cannot decode the file: {exc}"))
            return
        for output in todo:
            rendered = _render(samples, sample_rate_hz, output.piece, self.plan.settings)
            record = ManifestRecord(
                output=output.name,
                output_sha256=hashlib.sha256(rendered.data).hexdigest(),
                source=entry.source,
                source_sha256=source_hash,
                start_s=output.start_s,
                end_s=output.end_s,
                actions=_done_actions(entry, output, rendered.actions),
                recipe_sha256=recipes[output.name],
                duration_s=rendered.duration_s,
                sample_rate_hz=rendered.sample_rate_hz,
                channels=rendered.channels,
                lufs=rendered.lufs,
                peak_dbfs=rendered.peak_dbfs,
            )
            self._place(record, rendered.data)

    def _is_current(self, name: str, source: str, source_hash: str, recipe: str) -> bool:
        """Return True when ``name`` exists as recorded, from this source and recipe."""
        record = self.records.get(name)
        path = self.out_dir / name
        return (
            record is not None
            and (record.source, record.source_sha256, record.recipe_sha256) == (source, source_hash, recipe)
            and path.is_file()
            and file_sha256(path) == record.output_sha256
        )

    def _place(self, record: ManifestRecord, data: bytes) -> None:
        """Write ``data`` as ``record.output`` unless a file svcqa did not write is in the way."""
        target = self.out_dir / record.output
        previous = self.records.get(record.output)
        if target.exists():
            current = file_sha256(target)
            if current == record.output_sha256:
                # Written by a run killed before it could record the clip: adopt it.
                self._record(record)
                self.unchanged.append(record.output)
                return
            if previous is None or previous.output_sha256 != current:
                self.records.pop(record.output, None)
                message = "A file svcqa did not write (or one edited since) is in the way; left as is."
                self.conflicts.append(Problem(record.output, message))
                return
        atomic_write_bytes(target, data)
        self._record(record)
        self.written.append(record)

    def _record(self, record: ManifestRecord) -> None:
        """Add ``record`` to the manifest at once, so a killed run keeps track of the clip."""
        self.records[record.output] = record
        try:
            with open(self.journal, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise WorkspaceError(f"Cannot write the manifest {self.journal}: {exc}.") from exc

    def remove_stale(self, planned: set[str]) -> list[str]:
        """Delete earlier outputs that are not in ``planned``; return their names.

        Only files byte-identical to what svcqa recorded are deleted; an edited one stays and
        is reported as a conflict. Either way its record leaves the manifest.
        """
        removed = []
        for name in sorted(set(self.records) - planned):
            record = self.records.pop(name)
            path = self.out_dir / name
            if not path.is_file():
                continue
            if file_sha256(path) == record.output_sha256:
                path.unlink()
                removed.append(name)
            else:
                self.conflicts.append(
                    Problem(name, "No longer planned, but edited since svcqa wrote it; left in place.")
                )
        return removed


@dataclass(frozen=True)
class _Rendered:
    """One processed clip, encoded, with what was done to it and its measured level."""

    data: bytes
    actions: tuple[str, ...]
    duration_s: float
    sample_rate_hz: int
    channels: int
    lufs: float | None
    peak_dbfs: float | None


def _render(
    samples: np.ndarray, sample_rate_hz: int, piece: Piece | None, prep: PrepareSettings
) -> _Rendered:
    """Return the clip ``piece`` of ``samples`` (frames, channels) mixed, resampled, levelled."""
    clip = samples if piece is None else samples[piece.frames(sample_rate_hz)]
    actions = []
    out_rate_hz = prep.target_sample_rate_hz if prep.resample else sample_rate_hz
    if prep.to_mono and clip.shape[1] > 1:
        clip = clip.mean(axis=1, keepdims=True)
        actions.append("mono")
    if sample_rate_hz != out_rate_hz and clip.shape[0] > 0:
        clip = resample(clip, sample_rate_hz, out_rate_hz)
        actions.append("resample")
    clip = np.asarray(clip, dtype=np.float64)
    measured = clip[:, 0] if clip.shape[1] == 1 else clip
    lufs = integrated_lufs(measured, out_rate_hz)
    gain = 1.0
    if prep.normalise and math.isfinite(lufs):
        gain = 10 ** ((prep.target_lufs - lufs) / 20)
        actions.append("normalise")
    peak = float(np.max(np.abs(clip))) if clip.size else 0.0
    ceiling = 10 ** (prep.peak_ceiling_dbfs / 20) - _PCM16_STEP
    if peak * gain > ceiling:
        gain = ceiling / peak
    out = (clip * gain).astype(np.float32)
    return _Rendered(
        data=wav_bytes(out, out_rate_hz, prep.output_subtype),
        actions=tuple(actions),
        duration_s=out.shape[0] / out_rate_hz,
        sample_rate_hz=out_rate_hz,
        channels=out.shape[1],
        lufs=round(lufs + 20 * math.log10(gain), 2) if math.isfinite(lufs) else None,
        peak_dbfs=round(dbfs(peak * gain), 2) if peak > 0 else None,
    )


def _done_actions(entry: PlanEntry, output: PlannedOutput, audio_actions: tuple[str, ...]) -> tuple[str, ...]:
    """Return the actions applied to one output: the planned slice and rename, the audio ones done."""
    sliced = ("slice",) if output.piece is not None else ()
    renamed = ("rename",) if "rename" in entry.actions else ()
    return (*sliced, *audio_actions, *renamed)


def _recipe_sha256(prep: PrepareSettings, output: PlannedOutput) -> str:
    """Return the hash of what, besides the source bytes, decides an output's content."""
    recipe = {
        "version": _RECIPE_VERSION,
        "start_s": output.start_s,
        "end_s": output.end_s,
        "to_mono": prep.to_mono,
        "target_sample_rate_hz": prep.target_sample_rate_hz,
        "resample": prep.resample,
        "normalise": prep.normalise,
        "target_lufs": prep.target_lufs,
        "peak_ceiling_dbfs": prep.peak_ceiling_dbfs,
        "output_subtype": prep.output_subtype,
    }
    return _text_hash(json.dumps(recipe, sort_keys=True))


def load_manifest(path: Path) -> dict[str, ManifestRecord]:
    """Return the manifest at ``path`` by output name (the last line for a name wins).

    Lines a killed run left incomplete are ignored; a missing file is an empty manifest.
    """
    if not path.is_file():
        return {}
    records: dict[str, ManifestRecord] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = ManifestRecord.from_dict(json.loads(line))
        except (ValueError, TypeError):
            continue
        records[record.output] = record
    return records


def _renames_csv(records: list[ManifestRecord]) -> str:
    """Return the CSV text ``source,output`` (old name -> new name), one row per clip."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["source", "output"])
    writer.writerows(sorted((r.source, r.output) for r in records))
    return buffer.getvalue()


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically unless the file already holds exactly that."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _text_hash(text: str) -> str:
    """Return the SHA-256 hex digest of ``text`` in UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
