"""Files on disk: the one atomic write, the one file hash, the one JSON hash, the one safe name,
and the one timestamp format.

Standard library and Unidecode only, so any process (the job runner included) can use it.

Every writer of a file a reader may look at while it is written (job records, settings, renders,
checkpoint copies, manifests) goes through :func:`atomic_path` or one of the ``atomic_write_*``
wrappers: the data goes to a hidden ``.<name>.svcqa-partial`` file in the same folder, is synced,
then renamed over the target, so a killed process or a full disk leaves the previous file intact
and at most a stray partial file. :func:`write_new` is the same for a file that must never
replace another (uploads).

Example
-------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> atomic_write_json(folder / "a.json", {"b": 1, "a": 2})
>>> json.loads((folder / "a.json").read_text())
{'a': 2, 'b': 1}
>>> json_hash({"b": 1, "a": 2}, chars=16) == json_hash({"a": 2, "b": 1}, chars=16)
True
>>> safe_name("Mein Lied (live) 我.wav")
'Mein_Lied_live_Wo.wav'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unidecode import unidecode

from svcqa.core.errors import WorkspaceError

PARTIAL_SUFFIX = ".svcqa-partial"
"""Suffix of the hidden temporary file an atomic write renames into place."""
HASH_BLOCK_BYTES = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def partial_path(path: Path) -> Path:
    """Return the hidden temporary path an atomic write of ``path`` uses (same folder)."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def remove_partials(folder: Path) -> list[Path]:
    """Delete the temporary files killed atomic writes left in ``folder``; return what was removed."""
    leftovers = sorted(folder.glob(f".*{PARTIAL_SUFFIX}")) if folder.is_dir() else []
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return leftovers


@contextmanager
def atomic_path(path: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is synced and renamed to ``path``.

    For writers that take a file name (soundfile, torch.save, zipfile). ``mode`` sets the
    permission bits of the new file whatever a stale temporary file had. Raises
    :class:`WorkspaceError` when the folder cannot be written (no space, no permission); the
    previous ``path`` is then untouched and the temporary file removed.
    """
    path = Path(path)
    tmp = partial_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        yield tmp
        if mode is not None:
            os.chmod(tmp, mode)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkspaceError(
            f"Cannot write {path}: {exc}. Free disk space or choose another folder."
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield an empty hidden temporary folder beside ``path``; on success it is renamed to ``path``.

    For files that must appear together or not at all (a model snapshot, a set of recordings).
    ``path`` must not exist or be an empty folder. On failure the temporary folder (and what a
    killed earlier attempt left there) is removed and ``path`` is untouched. Raises
    :class:`WorkspaceError` when the folder cannot be made or renamed.
    """
    path = Path(path)
    tmp = partial_path(path)
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WorkspaceError(
            f"Cannot write {path}: {exc}. Free disk space or choose another folder."
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, mode) as tmp:
        if mode is not None:
            # Create with the final mode so the data is never readable under a wider one.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        else:
            tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_json(path: Path, data: Any, mode: int | None = None, indent: int | None = 2) -> None:
    """Write ``data`` as JSON (keys sorted, non-ASCII escaped, so any ``str`` can be written) to
    ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=indent, sort_keys=True) + "\n", mode)


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless ``path`` already holds exactly that; return True if written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


def write_new(folder: Path, filename: str, data: bytes, check: Callable[[Path], None] | None = None) -> Path:
    """Write ``data`` as a new file ``folder/filename`` (``<stem>_2<suffix>``, ``_3``... when that
    name is taken) and return its path: the atomic write that never replaces a file.

    The data goes to a hidden partial file of its own, is synced and handed to ``check`` (which
    raises to refuse it), then linked to the first unused name; linking fails on an existing
    name instead of replacing it, so two writers of one name at the same moment both keep their
    file. The partial file is removed in every case. Raises :class:`WorkspaceError` when the
    folder cannot be written (no space, no permission).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=PARTIAL_SUFFIX, dir=folder)
    except OSError as exc:
        raise WorkspaceError(
            f"Cannot write in {folder}: {exc}. Free disk space or choose another folder."
        ) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(tmp)
        return _link_unused_name(tmp, folder, filename)
    except OSError as exc:
        raise WorkspaceError(
            f"Cannot write {folder / filename}: {exc}. Free disk space or choose another folder."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _link_unused_name(tmp: Path, folder: Path, filename: str) -> Path:
    """Return ``folder/filename`` (or ``stem_2``, ``stem_3``...) made a hard link to ``tmp``."""
    stem, suffix = Path(filename).stem, Path(filename).suffix
    counter = 1
    while True:
        target = folder / (filename if counter == 1 else f"{stem}_{counter}{suffix}")
        try:
            os.link(tmp, target)
        except FileExistsError:
            counter += 1
            continue
        except OSError:
            # A file system without hard links: claim the name first, then move the file onto it.
            try:
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                counter += 1
                continue
            os.replace(tmp, target)
        return target


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def text_sha256(text: str | bytes) -> str:
    """Return the SHA-256 hex digest of ``text`` (UTF-8 when a str)."""
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


def json_hash(data: Any, chars: int | None = None) -> str:
    """Return the SHA-256 hex digest of ``data`` as ``json.dumps(data, sort_keys=True)``.

    This exact serialisation is part of every cache key and render id stored in workspaces:
    never change it. ``chars`` truncates the digest.

    >>> json_hash({"a": 1}, chars=16)
    'f9d86028c6e0d64e'
    """
    digest = text_sha256(json.dumps(data, sort_keys=True))
    return digest[:chars] if chars else digest


def safe_name(
    name: str,
    max_chars: int = 80,
    fallback: str = "file",
    *,
    path: bool = True,
    merge_underscores: bool = False,
) -> str:
    """Return ``name`` as ASCII ``[A-Za-z0-9._-]``: the one safe-name rule.

    Non-ASCII letters are transliterated; runs of other characters become ``_``; leading and
    trailing ``.``, ``_`` and ``-`` go, also after cutting to ``max_chars``; nothing left gives
    ``fallback``.

    Parameters
    ----------
    name : str
        A file name or path, or (``path=False``) any text.
    max_chars : int
        Longest stem kept.
    fallback : str
        The stem when nothing is left.
    path : bool
        True: ``name`` is a path; its last part is used (``/`` and ``\\`` both separate, NUL
        bytes are dropped) and its extension is kept, lower-cased. False: the whole text is
        one stem (speaker folders, joined clip names).
    merge_underscores : bool
        Count ``_`` as unsafe, so it merges with the characters around it into one ``_``.

    >>> safe_name("../../etc/我的 歌.WAV")
    'Wo_De_Ge.wav'
    >>> safe_name("...")
    'file'
    >>> safe_name("My.Voice/A", path=False), safe_name("a _b", path=False, merge_underscores=True)
    ('My.Voice_A', 'a_b')
    """
    stem, ext = name, ""
    if path:
        base = Path(name.replace("\\", "/").replace("\x00", "")).name
        stem, ext = Path(base).stem, Path(base).suffix.lower()
        if not _UNSAFE.sub("", ext[1:]) or _UNSAFE.search(ext[1:]):
            stem, ext = base, ""
    if merge_underscores:
        stem = stem.replace("_", " ")
    slug = _UNSAFE.sub("_", unidecode(stem)).strip("._-")[:max_chars].strip("._-") or fallback
    return f"{slug}{ext}"


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds: the one timestamp format."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso_to_epoch_s(text: str) -> float:
    """Return the POSIX time of an ISO 8601 timestamp (any precision, with an offset)."""
    return datetime.fromisoformat(text).timestamp()
