"""The checkpoint registry and archive: every generator checkpoint ever seen, kept safe.

A generator ``G_<n>.pth`` is registered once its write has finished (its size is stable),
with its step, size and sha256, and linked (hard link, else copy) into
``.svcqa/archive/<sha256[:12]>_G_<n>.pth`` so that checkpoint rotation by any trainer never
loses it. Deleting from the archive is an explicit user action (:func:`delete_archived`).

:class:`CheckpointWatcher` does this for a folder as files appear (watchdog), in a thread:
svcqa's training process runs one on ``logs/44k``, and ``python -m svcqa train watch`` runs
one on any folder, e.g. the ``logs/44k`` of an original so-vits-svc 4.1 run. The step comes
from the file name, or, when the run names checkpoints by epoch (so-vits-svc-fork with
``ckpt_name_by_step`` false), is derived as epoch x steps per epoch and marked as derived
(:class:`StepNaming`).

Example
-------
>>> ws = Workspace(Path("workspace"))                      # doctest: +SKIP
>>> register(ws, ws.logs_44k / "G_200.pth").step            # doctest: +SKIP
200
>>> with CheckpointWatcher(ws) as watcher:                 # doctest: +SKIP
...     ...  # every finished G_<n>.pth in logs/44k is registered while this block runs
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from svcqa.core.errors import SvcqaError
from svcqa.core.files import atomic_path, file_sha256, iso_to_epoch_s, now_iso
from svcqa.core.records import Record
from svcqa.core.store.checkpoints import Checkpoint
from svcqa.core.workspace import Workspace

GENERATOR_NAME = re.compile(r"^G_(\d+)\.pth$")
PRETRAINED_STEP = 0
"""``G_0.pth`` is the pretrained base so-vits-svc downloads, not a checkpoint of this run."""


def step_from_name(path: Path) -> int | None:
    """Return ``n`` of a ``G_<n>.pth`` file name, or None for other names."""
    match = GENERATOR_NAME.match(path.name)
    return int(match.group(1)) if match else None


def wait_until_stable(path: Path, settle_s: float = 1.0, timeout_s: float = 600.0) -> int:
    """Return the size of ``path`` once it has not changed for ``settle_s`` (a finished write).

    A file last modified at least ``settle_s`` ago counts as finished at once.
    """
    deadline = time.monotonic() + timeout_s
    last = -1
    while True:
        stat = path.stat()
        size = stat.st_size
        if size > 0 and (size == last or time.time() - stat.st_mtime >= settle_s):
            return size
        if time.monotonic() > deadline:
            raise SvcqaError(f"{path.name} is still being written after {timeout_s:.0f} s.")
        last = size
        time.sleep(settle_s)


def is_truncated(path: Path) -> bool:
    """Return True for a checkpoint whose write was cut off: a torch zip file without its end
    (torch writes the zip directory last), or an empty file."""
    with path.open("rb") as handle:
        head = handle.read(2)
    return not head or (head == b"PK" and not zipfile.is_zipfile(path))


def register_new_checkpoints(ws: Workspace, settle_s: float | None = None) -> int:
    """Register the ``logs/44k/G_<n>.pth`` files not registered yet; return how many were new.

    A file is complete once its size held still for ``settle_s`` (default:
    ``TrainSettings.checkpoint_settle_s``; one untouched that long counts at once), the rule
    training's own registration follows; a file whose write was cut off (:func:`is_truncated`)
    is left out.
    """
    known = {str(record.path) for record in ws.store().checkpoints.by_step()}
    new = [
        path
        for path in ws.logs_44k.glob("G_*.pth")
        if step_from_name(path) is not None and str(path.absolute()) not in known
    ]
    settle_s = ws.load_settings().train.checkpoint_settle_s if settle_s is None else settle_s
    registered = 0
    for path in new:
        try:
            if is_truncated(path):
                continue
            register(ws, path, settle_s=settle_s)
        except FileNotFoundError:  # rotated away meanwhile
            continue
        registered += 1
    return registered


def _archive(ws: Workspace, path: Path, sha256: str, link: bool = True) -> Path:
    """Hard-link (or copy, when ``link`` is False or linking fails) ``path`` into the archive.

    Returns the archived path. A link appears whole at once; a copy is written atomically, so
    the archive never holds half a checkpoint.
    """
    target = ws.archive_dir / f"{sha256[:12]}_{path.name}"
    if target.exists():
        return target
    if link:
        ws.archive_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
            return target
        except FileExistsError:  # archived meanwhile by another process: same content
            return target
        except OSError:
            pass  # another file system, or no hard links there: copy
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    shutil.copystat(path, target)
    return target


def register(
    ws: Workspace,
    path: Path,
    step: int | None = None,
    step_derived: bool = False,
    settle_s: float = 1.0,
    link: bool = True,
) -> Checkpoint:
    """Register (once) and archive a finished generator checkpoint; return its record.

    A file rewritten in place after it was registered (same name, new content) is registered
    again; the earlier record then points at its archived copy, which still holds the old
    content unless the archive was a hard link to the rewritten file. ``link`` False archives
    a copy instead of a hard link: for runs that reuse names (checkpoints named by epoch).
    """
    path = path.absolute()
    registry = ws.store().checkpoints
    known = registry.get(path)
    size = wait_until_stable(path, settle_s=settle_s)
    if known and known.size_bytes == size and path.stat().st_mtime <= iso_to_epoch_s(known.registered_at):
        return known
    if step is None:
        step = step_from_name(path)
        if step is None:
            raise SvcqaError(f"{path.name} is not named G_<step>.pth; give its step explicitly.")
    sha = file_sha256(path)
    if known and known.sha256 == sha:
        return known
    archived = _archive(ws, path, sha, link=link)
    record = Checkpoint(
        path=path,
        step=step,
        step_derived=step_derived,
        size_bytes=size,
        sha256=sha,
        registered_at=now_iso(),
        archived_path=archived,
    )
    registry.register(record, replaced=known, kept_at=_kept_copy(known, path) if known else None)
    return record


def _kept_copy(old: Checkpoint, rewritten: Path) -> Path | None:
    """Return the archived copy that still holds the content overwritten at ``rewritten``, else None.

    When the archive was a hard link to the rewritten file, the old content is gone everywhere
    and its link is removed.
    """
    archived = old.archived_path
    if archived and archived.exists() and not os.path.samefile(archived, rewritten):
        return archived
    if archived:
        archived.unlink(missing_ok=True)
    return None


def list_checkpoints(ws: Workspace, min_step: int = 0) -> list[Checkpoint]:
    """Return registered checkpoints at or past ``min_step``, by step (one per sha256)."""
    seen: set[str] = set()
    out = []
    for checkpoint in ws.store().checkpoints.by_step(min_step):
        if checkpoint.sha256 not in seen:
            seen.add(checkpoint.sha256)
            out.append(checkpoint)
    return out


# -- steps ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepNaming(Record):
    """How a run names its generator checkpoints, and so how to read a step from a name.

    ``by_step``: ``G_<step>.pth`` (so-vits-svc-fork with ``ckpt_name_by_step`` true, which svcqa
    sets; the original so-vits-svc). Otherwise ``G_<epoch>.pth`` and the step is
    ``epoch x steps_per_epoch`` (batches per epoch on one GPU), stated as derived.

    Example
    -------
    >>> StepNaming(by_step=False, steps_per_epoch=25).step_for(Path("G_8.pth"))
    (200, True)
    """

    by_step: bool = True
    steps_per_epoch: int | None = None

    def step_for(self, path: Path) -> tuple[int, bool] | None:
        """Return (step, derived) for a ``G_<n>.pth`` name, None for other names."""
        number = step_from_name(path)
        if number is None:
            return None
        if self.by_step:
            return number, False
        if not self.steps_per_epoch:
            raise SvcqaError(
                f"{path.name} is named by epoch and the steps per epoch are unknown (no readable "
                "config.json with its training file list beside it); give them with --steps-per-epoch."
            )
        return number * self.steps_per_epoch, True


def naming_for(folder: Path, steps_per_epoch: int | None = None) -> StepNaming:
    """Return the naming of the checkpoints in ``folder``, read from the ``config.json`` there.

    so-vits-svc-fork's configs say ``ckpt_name_by_step`` (its default false: by epoch); a config
    without that key is the original so-vits-svc's, which names checkpoints by step, and so is
    a folder without a config. Steps per epoch, unless given, are the lines of the config's
    training file list divided by its batch size, rounded up.
    """
    config = read_run_config(folder / "config.json")
    train = config.get("train", {}) if isinstance(config, dict) else {}
    if "ckpt_name_by_step" not in train or bool(train["ckpt_name_by_step"]):
        return StepNaming(by_step=True, steps_per_epoch=steps_per_epoch)
    return StepNaming(by_step=False, steps_per_epoch=steps_per_epoch or _steps_per_epoch(folder, config))


def read_run_config(path: Path) -> dict[str, Any]:
    """Return the so-vits-svc config at ``path`` as a dict ({} when missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _steps_per_epoch(folder: Path, config: dict[str, Any]) -> int | None:
    batch_size = config.get("train", {}).get("batch_size")
    listed = config.get("data", {}).get("training_files")
    if not isinstance(batch_size, int) or batch_size < 1 or not isinstance(listed, str):
        return None  # so-vits-svc-fork also accepts "auto" batch sizes, unknown until it ran
    # The list is relative to the folder training ran in: the workspace, two levels above logs/44k.
    for base in (folder.parent.parent, folder.parent, folder):
        candidate = Path(listed) if Path(listed).is_absolute() else base / listed
        if candidate.is_file():
            lines = [line for line in candidate.read_text(encoding="utf-8").splitlines() if line.strip()]
            return math.ceil(len(lines) / batch_size) or None
    return None


def generator_files(folder: Path) -> list[Path]:
    """Return the ``G_<n>.pth`` files in ``folder`` by number, without the pretrained ``G_0.pth``."""
    found = [p for p in folder.glob("G_*.pth") if (step_from_name(p) or PRETRAINED_STEP) != PRETRAINED_STEP]
    return sorted(found, key=lambda p: step_from_name(p) or 0)


def register_file(ws: Workspace, path: Path, naming: StepNaming, settle_s: float = 1.0) -> Checkpoint:
    """Register the generator ``path`` with its step read through ``naming``; return the record.

    Epoch-named files are archived as copies, since such a run rewrites a name within an epoch.
    """
    found = naming.step_for(path)
    if found is None:
        raise SvcqaError(f"{path.name} is not a generator checkpoint (G_<n>.pth).")
    step, derived = found
    return register(ws, path, step=step, step_derived=derived, settle_s=settle_s, link=naming.by_step)


def scan(
    ws: Workspace, folder: Path | None = None, settle_s: float = 1.0, naming: StepNaming | None = None
) -> list[Checkpoint]:
    """Register every ``G_<n>.pth`` in ``folder`` (default ``logs/44k``); return them by step.

    ``naming`` defaults to :func:`naming_for` the folder.
    """
    base = folder or ws.logs_44k
    naming = naming or naming_for(base)
    return [register_file(ws, p, naming, settle_s=settle_s) for p in generator_files(base)]


def delete_archived(ws: Workspace, sha256: str) -> int:
    """Delete the archived copies of the checkpoint with ``sha256``; return how many files went."""
    removed = 0
    for path in ws.archive_dir.glob(f"{sha256[:12]}_G_*.pth"):
        path.unlink()
        removed += 1
    ws.store().checkpoints.forget_archived(sha256)
    return removed


def archive_size_bytes(ws: Workspace) -> int:
    """Return the disk space the archive's files take (hard links count in full)."""
    return sum(p.stat().st_size for p in ws.archive_dir.glob("*.pth"))


# -- disk -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiskUsage(Record):
    """Space taken by the archive and the run folder's checkpoints, and left on the disk."""

    archive_bytes: int
    """Archived generators; those hard-linked to a file still in the run folder take no extra space."""
    run_folder_bytes: int
    """Every ``*.pth`` in the run folder: generators and the ~560 MB discriminators."""
    free_bytes: int
    total_bytes: int


def disk_usage(ws: Workspace, folder: Path | None = None) -> DiskUsage:
    """Return the archive's size, the run folder's checkpoints' size and the workspace disk's space."""
    base = folder or ws.logs_44k
    run_bytes = sum(_size(p) for p in base.glob("*.pth")) if base.is_dir() else 0
    usage = shutil.disk_usage(ws.root)
    return DiskUsage(archive_size_bytes(ws), run_bytes, usage.free, usage.total)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # rotated away while we looked
        return 0


# -- watching -------------------------------------------------------------------------------
class CheckpointWatcher:
    """Registers every finished ``G_<n>.pth`` that appears in a folder, from a background thread.

    File events (watchdog: inotify on Linux, or polling with ``poll=True`` for network file
    systems) queue a file; a worker thread registers it once its size held still for
    ``settle_s``. Files already present are registered when the watcher starts, and again (a
    cheap no-op when unchanged) when it stops with ``drain``. Errors (a file rotated away before
    it was read) go to ``on_error`` and never stop the watcher.

    Parameters
    ----------
    ws : Workspace
        Whose registry and archive receive the checkpoints.
    folder : Path, optional
        The run folder to watch (default ``ws.logs_44k``); created when missing.
    naming : StepNaming, optional
        How names map to steps (default: :func:`naming_for` the folder, read at start).
    on_register, on_error : callable, optional
        Called from the worker thread with each registered :class:`Checkpoint` / each error.
    """

    def __init__(
        self,
        ws: Workspace,
        folder: Path | None = None,
        *,
        naming: StepNaming | None = None,
        settle_s: float = 1.0,
        on_register: Callable[[Checkpoint], None] | None = None,
        on_error: Callable[[Path, Exception], None] | None = None,
        poll: bool = False,
    ) -> None:
        self.ws = ws
        self.folder = (folder or ws.logs_44k).absolute()
        self.naming = naming
        self.settle_s = settle_s
        self.on_register = on_register
        self.on_error = on_error
        self.registered: list[Checkpoint] = []
        self._poll = poll
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._pending: set[Path] = set()
        self._lock = threading.Lock()
        self._observer: Any = None
        self._worker: threading.Thread | None = None

    def start(self) -> CheckpointWatcher:
        """Start watching (registering what is already there first); return self."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.naming is None:
            self.naming = naming_for(self.folder)
        self._worker = threading.Thread(target=self._work, name="svcqa-checkpoint-watcher", daemon=True)
        self._worker.start()
        self._observer = PollingObserver(timeout=self.settle_s) if self._poll else Observer()
        self._observer.schedule(_GeneratorEvents(self.enqueue), str(self.folder), recursive=False)
        self._observer.start()
        self._enqueue_existing()
        return self

    def stop(self, drain: bool = True) -> None:
        """Stop watching; with ``drain``, first register whatever the folder holds now."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        if self._worker is None:
            return
        if drain:
            self._enqueue_existing()
        else:
            with self._lock:
                self._pending.clear()
                while not self._queue.empty():
                    self._queue.get_nowait()
        self._queue.put(None)
        self._worker.join()
        self._worker = None

    def __enter__(self) -> CheckpointWatcher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop(drain=exc_info[0] is None)

    def enqueue(self, path: Path) -> None:
        """Queue ``path`` for registration if it is a generator checkpoint of the watched folder."""
        path = Path(path).absolute()
        if path.parent != self.folder or (step_from_name(path) or PRETRAINED_STEP) == PRETRAINED_STEP:
            return
        with self._lock:
            if path in self._pending:
                return
            self._pending.add(path)
        self._queue.put(path)

    def _enqueue_existing(self) -> None:
        for path in generator_files(self.folder):
            self.enqueue(path)

    def _work(self) -> None:
        while (path := self._queue.get()) is not None:
            with self._lock:
                self._pending.discard(path)
            if not path.exists():
                continue
            assert self.naming is not None
            try:
                record = register_file(self.ws, path, self.naming, settle_s=self.settle_s)
            except Exception as exc:  # a watcher must outlive any one bad file
                if self.on_error is not None:
                    self.on_error(path, exc)
                continue
            if all(known.sha256 != record.sha256 for known in self.registered):
                self.registered.append(record)
                if self.on_register is not None:
                    self.on_register(record)


class _GeneratorEvents(FileSystemEventHandler):
    """Forwards the paths of created, written, closed or renamed-into-place files."""

    def __init__(self, enqueue: Callable[[Path], None]) -> None:
        self._enqueue = enqueue

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in {"created", "modified", "closed", "moved"}:
            return
        target = event.dest_path if event.event_type == "moved" else event.src_path
        if target:
            self._enqueue(Path(os.fsdecode(target)))
