"""Writing a clean-up plan into ``dataset_raw/<speaker>/``, traced in a manifest.

Executing a plan (:mod:`svcqa.prepare.plan`) reads the sources (never writes them), writes each
clip under a temporary name and renames it when complete, and keeps a JSON-lines manifest
(source, source hash, actions, output, output hash, length, loudness) plus a CSV mapping
old name -> new name, both in :meth:`~svcqa.core.workspace.Workspace.prepare_dir`. A re-run
skips every output whose source and recipe are unchanged.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svcqa.audio.decode import read
from svcqa.audio.encode import wav_bytes
from svcqa.audio.loudness import dbfs, integrated_lufs
from svcqa.audio.resample import resample
from svcqa.core.errors import AudioError, WorkspaceError
from svcqa.core.files import (
    atomic_write_bytes,
    file_sha256,
    json_hash,
    remove_partials,
    text_sha256,
    write_if_changed,
)
from svcqa.core.records import Record
from svcqa.core.settings import PrepareSettings
from svcqa.core.workspace import Workspace
from svcqa.prepare.plan import PlanEntry, PlannedOutput, PreparePlan, ProgressCallback
from svcqa.prepare.slicer import Piece, Problem

_RECIPE_VERSION = 1
"""Bump when the audio processing changes, so a re-run rewrites every output."""
_PCM16_STEP = 1.0 / 32768.0
"""Rounding to 16-bit moves a sample by at most half a step; one step of headroom keeps
every written sample under the peak ceiling."""


@dataclass(frozen=True)
class ManifestRecord(Record):
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


@dataclass(frozen=True)
class PrepareResult(Record):
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


def manifest_path(workspace: Workspace, speaker: str) -> Path:
    """Return where the manifest of ``speaker``'s prepared clips lives."""
    return workspace.prepare_dir(speaker) / "manifest.jsonl"


def renames_path(workspace: Workspace, speaker: str) -> Path:
    """Return where the old name -> new name CSV of ``speaker``'s prepared clips lives."""
    return workspace.prepare_dir(speaker) / "renames.csv"


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
    write_if_changed(journal, "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in kept))
    write_if_changed(mapping, _renames_csv(kept))
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
                output_sha256=text_sha256(rendered.data),
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
    return json_hash(recipe)


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


def _renames_csv(records: list[ManifestRecord]) -> str:
    """Return the CSV text ``source,output`` (old name -> new name), one row per clip."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["source", "output"])
    writer.writerows(sorted((r.source, r.output) for r in records))
    return buffer.getvalue()
