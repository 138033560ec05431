"""The workspace: one folder per voice project, and the only door to its files for requests.

Layout (so-vits-svc-fork's own folders plus svcqa's)::

    <root>/
      recordings/<speaker>/      the user's original recordings (read only for svcqa)
      dataset_raw/<speaker>/     prepared copies, what so-vits-svc-fork trains from
      dataset/44k/  configs/44k/  logs/44k/
      songs/  renders/  exports/  models/separation/
      .svcqa/state.sqlite  .svcqa/settings.json  .svcqa/jobs/  .svcqa/archive/

Example
-------
>>> import tempfile
>>> ws = Workspace(Path(tempfile.mkdtemp())).ensure_layout()
>>> ws.resolve("songs/a.wav").name
'a.wav'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from svcqa.core.errors import PathOutsideWorkspaceError, WorkspaceError
from svcqa.core.settings import Settings, load_settings, save_settings
from svcqa.core.store import Store

ENV_VAR = "SVCQA_WORKSPACE"
DEFAULT_DIR = "workspace"
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma"}
)

_MAX_NAME_BYTES = 255
"""Longest file or folder name Linux file systems take (NAME_MAX)."""
_MAX_PATH_CHARS = 1024
_SHOWN_PATH_CHARS = 120
_LAYOUT = (
    "recordings",
    "dataset_raw",
    "dataset/44k",
    "configs/44k",
    "logs/44k",
    "songs",
    "renders",
    "exports",
    "models/separation",
    ".svcqa/jobs",
    ".svcqa/archive",
)


def default_root() -> Path:
    """Return the workspace folder from ``SVCQA_WORKSPACE``, else ``./workspace``."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR).expanduser().absolute()


@dataclass(frozen=True)
class Workspace:
    """A voice project folder; every path a request names goes through :meth:`resolve`."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().absolute())

    # -- layout -------------------------------------------------------------------------
    @property
    def recordings(self) -> Path:
        return self.root / "recordings"

    @property
    def dataset_raw(self) -> Path:
        return self.root / "dataset_raw"

    @property
    def dataset_44k(self) -> Path:
        return self.root / "dataset" / "44k"

    @property
    def config_path(self) -> Path:
        return self.root / "configs" / "44k" / "config.json"

    @property
    def logs_44k(self) -> Path:
        return self.root / "logs" / "44k"

    @property
    def songs(self) -> Path:
        return self.root / "songs"

    @property
    def renders(self) -> Path:
        return self.root / "renders"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def separation_models(self) -> Path:
        return self.root / "models" / "separation"

    @property
    def state_dir(self) -> Path:
        return self.root / ".svcqa"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "state.sqlite"

    @property
    def auth_path(self) -> Path:
        return self.state_dir / "auth.json"

    @property
    def settings_path(self) -> Path:
        return self.state_dir / "settings.json"

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"

    @property
    def archive_dir(self) -> Path:
        return self.state_dir / "archive"

    def ensure_layout(self) -> Workspace:
        """Create every folder of the layout (idempotent) and return self."""
        try:
            for rel in _LAYOUT:
                (self.root / rel).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(
                f"Cannot create the workspace at {self.root}: {exc}. "
                f"Choose a writable folder with --workspace or {ENV_VAR}."
            ) from exc
        return self

    def store(self) -> Store:
        """Return the workspace database (``.svcqa/state.sqlite``, created and migrated on first use)."""
        return Store(self.db_path)

    # -- settings -----------------------------------------------------------------------
    def load_settings(self) -> Settings:
        """Return this workspace's settings (defaults when none were saved)."""
        return load_settings(self.settings_path)

    def save_settings(self, settings: Settings) -> None:
        """Persist settings for this workspace."""
        save_settings(settings, self.settings_path)

    # -- contents -----------------------------------------------------------------------
    def speakers(self, folder: Path | None = None) -> list[str]:
        """Return speaker folder names under ``folder`` (default ``dataset_raw``), sorted."""
        base = folder or self.dataset_raw
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))

    def has_audio(self, folder: Path) -> bool:
        """Return True when ``folder`` holds at least one file with an audio extension."""
        if not folder.is_dir():
            return False
        return any(
            p.suffix.lower() in AUDIO_EXTENSIONS for p in folder.rglob("*") if p.is_file()
        )

    # -- the door -----------------------------------------------------------------------
    def resolve(self, relative: str | os.PathLike[str]) -> Path:
        """Return the absolute path of ``relative`` inside the workspace.

        Raises :class:`PathOutsideWorkspaceError` for absolute paths, ``..`` components, NUL
        bytes, names longer than the file system allows, symlink loops, or symlinks whose
        target lies outside the workspace.
        """
        text = os.fspath(relative)
        if "\x00" in text:
            raise PathOutsideWorkspaceError("A path with a NUL byte was refused.")
        shown = text if len(text) <= _SHOWN_PATH_CHARS else f"{text[:_SHOWN_PATH_CHARS]}..."
        candidate = Path(text)
        if candidate.is_absolute() or ".." in candidate.parts:
            raise PathOutsideWorkspaceError(
                f"Path {shown!r} was refused: only paths inside the workspace are allowed."
            )
        if len(text) > _MAX_PATH_CHARS or any(
            len(os.fsencode(part)) > _MAX_NAME_BYTES for part in candidate.parts
        ):
            raise PathOutsideWorkspaceError(f"Path {shown!r} was refused: a name in it is too long.")
        root_real = self.root.resolve()
        try:
            full = (self.root / candidate).resolve()
        except RuntimeError as exc:  # Python 3.11 raises it for a symlink loop
            raise PathOutsideWorkspaceError(f"Path {shown!r} was refused: its symlinks form a loop.") from exc
        if full != root_real and root_real not in full.parents:
            raise PathOutsideWorkspaceError(
                f"Path {shown!r} leads outside the workspace and was refused."
            )
        return full

    def relative(self, path: Path) -> str:
        """Return ``path`` as a POSIX path relative to the workspace root.

        Raises :class:`PathOutsideWorkspaceError` when it resolves outside (a symlink out, a loop).
        """
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, RuntimeError) as exc:
            raise PathOutsideWorkspaceError(f"{path} leads outside the workspace and was refused.") from exc
