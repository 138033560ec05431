"""Files that arrive through the browser: size-limited, content-checked, saved under safe names.

Nothing is ever overwritten: a name already taken gets ``_2``, ``_3``... The content must
decode as audio with samples in it, within the limits of the workspace's upload policy
(:class:`~svcqa.core.settings.UploadSettings`); it is probed under a temporary name, which a
refused or failed upload never leaves behind.
"""

from __future__ import annotations

from pathlib import Path

from svcqa.audio import decode
from svcqa.core.errors import AudioError, SvcqaError, WorkspaceError
from svcqa.core.files import safe_name, write_new
from svcqa.core.settings import UploadSettings
from svcqa.core.workspace import AUDIO_EXTENSIONS, Workspace

_SHOWN_NAME_CHARS = 80


class UploadError(SvcqaError):
    """An upload was refused (too large, not audio, or a bad name)."""


def safe_filename(name: str, max_chars: int = 80) -> str:
    """Return ``name`` reduced to ASCII ``[A-Za-z0-9._-]`` with its audio extension kept
    (:func:`svcqa.core.files.safe_name`); :class:`UploadError` when it has no audio extension.

    >>> safe_filename("../../etc/我的 歌.WAV")
    'Wo_De_Ge.wav'
    """
    base = Path(name.replace("\\", "/")).name.replace("\x00", "")
    if Path(base).suffix.lower() not in AUDIO_EXTENSIONS:
        raise UploadError(
            f"{_shown(base)!r} is not an audio file name (allowed: {', '.join(sorted(AUDIO_EXTENSIONS))})."
        )
    return safe_name(name, max_chars, fallback="upload")


def upload_limits(ws: Workspace, folder: Path, policy: UploadSettings | None = None) -> tuple[int, float]:
    """Return the size (bytes) and length (s) limits of an upload into ``folder`` of ``ws``
    under ``policy`` (default: the workspace's saved one): the songs limit for ``songs/``."""
    policy = policy or ws.load_settings().uploads
    is_songs = folder.resolve() == ws.songs.resolve()
    return (policy.max_song_bytes if is_songs else policy.max_bytes), policy.max_duration_s


def save_upload(
    ws: Workspace, folder: str, name: str, data: bytes, limits: UploadSettings | None = None
) -> Path:
    """Save uploaded audio into the workspace folder ``folder``; return the new file's path.

    ``limits`` defaults to the workspace's saved upload policy. Raises :class:`UploadError` when
    the file is empty, over the size or length limit of ``folder``, not audio, has no samples,
    has no audio file name, or cannot be written (a full disk).
    """
    shown = _shown(name)
    target_dir = ws.resolve(folder)
    max_bytes, max_duration_s = upload_limits(ws, target_dir, limits)
    if not data:
        raise UploadError(f"{shown!r} is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"{shown!r} is {len(data) / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB limit.")
    filename = safe_filename(name)
    try:
        return write_new(
            target_dir, filename, data, check=lambda tmp: _check_audio(tmp, shown, max_duration_s)
        )
    except WorkspaceError as exc:
        cause = exc.__cause__
        reason = getattr(cause, "strerror", None) or cause or exc
        raise UploadError(
            f"{shown!r} could not be saved in {folder}/: {reason}. Free disk space and try again."
        ) from exc


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


def _shown(name: str) -> str:
    """Return ``name`` shortened for a message (a hostile name can be megabytes long)."""
    return name if len(name) <= _SHOWN_NAME_CHARS else f"{name[:_SHOWN_NAME_CHARS]}..."
