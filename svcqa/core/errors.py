"""Errors a user can cause. Pages and the CLI show ``str(error)``; tests assert on the type."""

from __future__ import annotations


class SvcqaError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class WorkspaceError(SvcqaError):
    """The workspace folder is missing, unwritable or malformed."""


class PathOutsideWorkspaceError(WorkspaceError):
    """A requested path resolves outside the workspace (``..``, absolute, or a symlink out), or
    cannot name a file in it (a NUL byte, a name too long, a symlink loop)."""


class DatasetError(SvcqaError):
    """The dataset folder is missing, not a folder, or unreadable."""


class AudioError(SvcqaError):
    """An audio file could not be decoded; the message holds the decoder's reason."""


class ModelMissingError(SvcqaError):
    """A model file or weights are absent; the message names the file and where it must go."""


class JobError(SvcqaError):
    """A background job could not be started, found or stopped."""


class TrainingError(SvcqaError):
    """Training cannot start or resume as asked (target already reached, a checkpoint pair broken)."""
