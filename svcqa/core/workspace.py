"""The workspace: one folder per voice project, and the only door to its files for requests.

Every path of the layout is a property or method of :class:`Workspace`; no other module spells
one out. Layout (so-vits-svc-fork's own folders plus svcqa's)::

    <root>/
      recordings/<speaker>/      the user's original recordings (read only for svcqa)
      dataset_raw/<speaker>/     prepared copies, what so-vits-svc-fork trains from
      dataset/44k/  filelists/44k/  configs/44k/config.json  logs/44k/ (+ config.json)
      songs/  exports/  models/separation/
      renders/<excerpt>/<settings hash>/  renders/.features/  renders/covers/<song>/
      .svcqa/state.sqlite  settings.json  auth.json  svc_overrides.json  demo.json
      .svcqa/jobs/  archive/  train/  prepare/<speaker>/  covers/  hf_home/

Example
-------
>>> import tempfile
>>> ws = Workspace(Path(tempfile.mkdtemp())).ensure_layout()
>>> ws.resolve("songs/a.wav").name
'a.wav'
>>> ws.relative(ws.prepare_dir("alice"))
'.svcqa/prepare/alice'
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


def default_root() -> Path:
    """Return the workspace folder from ``SVCQA_WORKSPACE``, else ``./workspace``."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR).expanduser().absolute()


@dataclass(frozen=True)
class Workspace:
    """A voice project folder; every path a request names goes through :meth:`resolve`."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().absolute())

    # -- layout: so-vits-svc-fork's folders -----------------------------------------------
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
    def filelists_44k(self) -> Path:
        """The training and validation file lists ``svc pre-config`` writes."""
        return self.root / "filelists" / "44k"

    @property
    def train_list_path(self) -> Path:
        """The training file list a config names by default."""
        return self.filelists_44k / "train.txt"

    @property
    def config_path(self) -> Path:
        return self.root / "configs" / "44k" / "config.json"

    @property
    def logs_44k(self) -> Path:
        return self.root / "logs" / "44k"

    @property
    def trained_config_path(self) -> Path:
        """The copy of the config ``svc train`` keeps beside the checkpoints it writes."""
        return self.logs_44k / "config.json"

    # -- layout: svcqa's folders ------------------------------------------------------------
    @property
    def songs(self) -> Path:
        return self.root / "songs"

    @property
    def renders(self) -> Path:
        return self.root / "renders"

    def render_dir(self, excerpt_id: str, settings_hash: str) -> Path:
        """Return the folder of the renders of one excerpt made with one settings hash."""
        return self.renders / excerpt_id / settings_hash

    @property
    def features_dir(self) -> Path:
        """Cached content features and f0 of excerpts (hidden inside ``renders/``)."""
        return self.renders / ".features"

    @property
    def covers_dir(self) -> Path:
        """Every cover stage's files, one folder per song."""
        return self.renders / "covers"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def models_dir(self) -> Path:
        """Model files the user puts in the workspace (pitch trackers, separation models)."""
        return self.root / "models"

    @property
    def separation_models(self) -> Path:
        return self.models_dir / "separation"

    # -- layout: svcqa's state ---------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.root / ".svcqa"

    @property
    def is_initialised(self) -> bool:
        """Return True when the folder holds svcqa's state (it was opened as a workspace before)."""
        return self.state_dir.is_dir()

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
    def svc_overrides_path(self) -> Path:
        """Environment variables and config edits for every so-vits-svc-fork run here."""
        return self.state_dir / "svc_overrides.json"

    @property
    def demo_marker_path(self) -> Path:
        """Present in a workspace made by the demo (what it planted)."""
        return self.state_dir / "demo.json"

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"

    @property
    def archive_dir(self) -> Path:
        return self.state_dir / "archive"

    @property
    def train_control_dir(self) -> Path:
        """The stop request and progress file of the workspace's training run."""
        return self.state_dir / "train"

    def prepare_dir(self, speaker: str) -> Path:
        """Return the folder of the manifest and renames of ``speaker``'s prepared clips."""
        return self.state_dir / "prepare" / speaker

    @property
    def cover_runs_dir(self) -> Path:
        """One folder per cover job: its request and progress."""
        return self.state_dir / "covers"

    @property
    def hf_home(self) -> Path:
        """The workspace's own Hugging Face home (the demo's stand-in ContentVec goes there)."""
        return self.state_dir / "hf_home"

    def ensure_layout(self) -> Workspace:
        """Create every folder of the layout (idempotent) and return self."""
        try:
            for folder in (
                self.recordings,
                self.dataset_raw,
                self.dataset_44k,
                self.config_path.parent,
                self.logs_44k,
                self.songs,
                self.renders,
                self.exports,
                self.separation_models,
                self.jobs_dir,
                self.archive_dir,
            ):
                folder.mkdir(parents=True, exist_ok=True)
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
        return any(p.suffix.lower() in AUDIO_EXTENSIONS for p in folder.rglob("*") if p.is_file())

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
            raise PathOutsideWorkspaceError(f"Path {shown!r} leads outside the workspace and was refused.")
        return full

    def relative(self, path: Path) -> str:
        """Return ``path`` as a POSIX path relative to the workspace root.

        Raises :class:`PathOutsideWorkspaceError` when it resolves outside (a symlink out, a loop).
        """
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, RuntimeError) as exc:
            raise PathOutsideWorkspaceError(f"{path} leads outside the workspace and was refused.") from exc
