"""Files that arrive through the browser: size-limited, content-checked, saved under safe names.

Nothing is ever overwritten: a name already taken gets ``_2``, ``_3``... The content must
decode as audio with samples in it, and no longer than :data:`MAX_UPLOAD_S` (a small file of
compressed silence can otherwise claim hours that every later read would decode into memory);
it is probed under a temporary name, which a refused or failed upload never leaves behind.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from unidecode import unidecode

from svcqa.audio import decode
from svcqa.core.errors import AudioError, SvcqaError
from svcqa.core.workspace import AUDIO_EXTENSIONS, Workspace

MAX_UPLOAD_BYTES = 500_000_000
"""Largest upload into any folder without a limit of its own."""
SONGS_FOLDER = "songs"
"""Songs have their own limit: ``RenderSettings.max_song_bytes``, on every page that takes one."""
MAX_UPLOAD_S = 1800.0
"""Longest audio accepted (30 min): a song, or a set of takes, never hours."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SHOWN_NAME_CHARS = 80


class UploadError(SvcqaError):
    """An upload was refused (too large, not audio, or a bad name)."""


def safe_filename(name: str, max_chars: int = 80) -> str:
    """Return ``name`` reduced to ASCII ``[A-Za-z0-9._-]`` with its audio extension kept.

    >>> safe_filename("../../etc/我的 歌.WAV")
    'Wo_De_Ge.wav'
    """
    base = Path(name.replace("\\", "/")).name.replace("\x00", "")
    stem, ext = Path(base).stem, Path(base).suffix.lower()
    if ext not in AUDIO_EXTENSIONS:
        raise UploadError(
            f"{_shown(base)!r} is not an audio file name (allowed: {', '.join(sorted(AUDIO_EXTENSIONS))})."
        )
    slug = _UNSAFE.sub("_", unidecode(stem)).strip("._-")[:max_chars] or "upload"
    return f"{slug}{ext}"


def upload_limit_bytes(ws: Workspace, folder: str) -> int:
    """Return the largest upload ``folder`` accepts: songs the workspace's ``render.max_song_bytes``,
    other folders :data:`MAX_UPLOAD_BYTES`."""
    if Path(folder) == Path(SONGS_FOLDER):
        return ws.load_settings().render.max_song_bytes
    return MAX_UPLOAD_BYTES


def save_upload(
    ws: Workspace,
    folder: str,
    name: str,
    data: bytes,
    max_bytes: int | None = None,
    max_duration_s: float = MAX_UPLOAD_S,
) -> Path:
    """Save uploaded audio into the workspace folder ``folder``; return the new file's path.

    ``max_bytes`` defaults to the folder's limit (:func:`upload_limit_bytes`). Raises
    :class:`UploadError` when it is empty, over ``max_bytes`` or ``max_duration_s``, not audio,
    has no samples, has no audio file name, or cannot be written (a full disk).
    """
    if max_bytes is None:
        max_bytes = upload_limit_bytes(ws, folder)
    shown = _shown(name)
    if not data:
        raise UploadError(f"{shown!r} is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"{shown!r} is {len(data) / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB limit.")
    filename = safe_filename(name)
    target_dir = ws.resolve(folder)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=target_dir)
    except OSError as exc:
        raise UploadError(f"{shown!r} could not be saved in {folder}/: {exc.strerror or exc}.") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        _check_audio(tmp, shown, max_duration_s)
        return _link_unused_name(tmp, target_dir, filename)
    except OSError as exc:
        raise UploadError(
            f"{shown!r} could not be saved in {folder}/: {exc.strerror or exc}. Free disk space and try again."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _check_audio(path: Path, shown: str, max_duration_s: float) -> None:
    """Raise :class:`UploadError` unless ``path`` decodes as audio with samples, short enough."""
    try:
        info = decode.probe(path)
    except AudioError as exc:
        # The decoders name the temporary file; the user knows the upload by its own name.
        reason = str(exc).replace(str(path), "the file")
        raise UploadError(f"{shown!r} is not readable audio: {reason}") from exc
    if info.frames <= 0 or info.sample_rate <= 0 or info.channels <= 0:
        raise UploadError(f"{shown!r} holds no audio samples.")
    if info.duration_s > max_duration_s:
        raise UploadError(
            f"{shown!r} is {info.duration_s / 60:.0f} min long, over the {max_duration_s / 60:.0f} min limit: "
            "upload the song or the part of it you need."
        )


def _link_unused_name(tmp: Path, folder: Path, filename: str) -> Path:
    """Return ``folder/filename`` (or ``stem_2``, ``stem_3``...) made a hard link to ``tmp``.

    Linking fails on an existing name instead of replacing it, so two uploads of one name at
    the same moment both keep their file.
    """
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


def _shown(name: str) -> str:
    """Return ``name`` shortened for a message (a hostile name can be megabytes long)."""
    return name if len(name) <= _SHOWN_NAME_CHARS else f"{name[:_SHOWN_NAME_CHARS]}..."
