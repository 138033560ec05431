"""The clean-up plan for an audited dataset: what happens to each source file, shown before
anything is written (:mod:`svcqa.prepare.execute` writes it).

A plan says, per source file, whether it is used (flags exclude it unless the user overrides
the clip), which actions apply (``slice``, ``mono``, ``resample``, ``normalise``, ``rename``)
and which files come out, under names that stay the same across runs.

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

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from svcqa.audio.decode import read
from svcqa.core.errors import AudioError, DatasetError, WorkspaceError
from svcqa.core.files import safe_name, text_sha256
from svcqa.core.records import Record
from svcqa.core.settings import PrepareSettings, Settings, SlicerSettings
from svcqa.core.workspace import Workspace
from svcqa.prepare.slicer import SLICE_LIMIT, Piece, piece_name, plan_slices

ProgressCallback = Callable[[float, str], None]

NO_PIECES = "no_pieces"
"""Exclusion reason of a long clip in which slicing found no piece of usable length."""
LINK_OUTSIDE = "link_outside"
"""Exclusion reason of a symbolic link leading out of the source folder (never overridable)."""

_MAX_STEM_CHARS = 80
_SAFE_SPEAKER = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{_MAX_STEM_CHARS - 1}}}")


@dataclass(frozen=True)
class PlannedOutput(Record):
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


@dataclass(frozen=True)
class PlanEntry(Record):
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


@dataclass(frozen=True)
class PreparePlan(Record):
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


def safe_stem(relative: str) -> str:
    """Return an ASCII file stem made of ``A-Z a-z 0-9 . _ -`` for a source path.

    Folders and the name are joined with ``_``; non-ASCII text is transliterated
    (``"歌声 01.wav"`` -> ``"Ge_Sheng_01"``); a name with nothing left (emoji only) becomes
    a stable slug ``clip_<hash>`` of the path. Prepared clips of existing workspaces carry these
    names: the rule must not change.
    """
    joined = "_".join(PurePosixPath(relative).with_suffix("").parts)
    fallback = f"clip_{text_sha256(relative)[:8]}"
    return safe_name(joined, _MAX_STEM_CHARS, fallback, path=False, merge_underscores=True)


def safe_speaker_name(name: str) -> str:
    """Return a speaker folder name made of ``A-Z a-z 0-9 . _ -`` for ``name`` (``"speaker"`` if none is left).

    Non-ASCII text is transliterated: ``"歌手 A"`` -> ``"Ge_Shou_A"``.
    """
    return safe_name(name, _MAX_STEM_CHARS, "speaker", path=False)


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


def leads_outside(source_dir: Path, relative: str) -> bool:
    """Return True when ``source_dir/relative`` is (or lies under) a symbolic link whose target is
    outside ``source_dir``: prepare never copies a file from elsewhere into the dataset.

    >>> import os, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "take.wav").write_bytes(b"")
    0
    >>> os.symlink("/etc/hostname", folder / "out.wav")
    >>> leads_outside(folder, "take.wav"), leads_outside(folder, "out.wav")
    (False, True)
    """
    root = source_dir.resolve()
    target = (source_dir / relative).resolve()
    return root not in target.parents


def link_outside_note(source_dir: Path, relative: str) -> str:
    """Return why a file that :func:`leads_outside` is not prepared."""
    return (
        f"{relative} is a symbolic link leading outside {source_dir.name}/, so it is not copied into "
        "the dataset; copy the recording itself into the folder to use it."
    )


def source_folders(workspace: Workspace) -> list[str]:
    """Return the speaker folders under ``recordings/`` that hold audio, sorted by name."""
    return [
        name
        for name in workspace.speakers(workspace.recordings)
        if workspace.has_audio(workspace.recordings / name)
    ]


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
    if leads_outside(source_dir, relative):
        note = link_outside_note(source_dir, relative)
        return _Draft(
            PlanEntry(relative, False, (*reasons, LINK_OUTSIDE), override is not None, (), (), note), None
        )
    include = (not reasons) if override is None else override
    excluded = PlanEntry(relative, False, reasons, override is not None, (), ())
    if not include:
        return _Draft(excluded, None)
    pieces = None
    if to_slice:
        try:
            samples, sample_rate_hz = read(
                source_dir / relative, max_duration_s=settings.limits.slice_max_s, work=SLICE_LIMIT
            )
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
        stem, names = _free_names(stems[entry.source], text_sha256(entry.source), len(spans), taken)
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
