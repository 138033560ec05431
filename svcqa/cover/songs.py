"""A cover asked for by name, as the command line does: the song file and the checkpoint's step
it names become a :class:`~svcqa.cover.pipeline.CoverRequest`, and the finished mix is copied
to the file the user chose.

Example
-------
>>> import tempfile
>>> from svcqa.core.workspace import Workspace
>>> ws = Workspace(Path(tempfile.mkdtemp())).ensure_layout()
>>> export_format(ws, ws.root / "song.wav", Path("cover.flac"))
'flac'
>>> export_format(ws, ws.root / "song.wav", ws.songs / "cover.wav")
Traceback (most recent call last):
...
svcqa.cover.songs.CoverRequestError: --out may not be in .../songs: songs/ holds only your songs.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.core.errors import SvcqaError
from svcqa.core.files import atomic_path
from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace
from svcqa.cover.pipeline import EXPORT_FORMATS, CoverRequest, CoverResult
from svcqa.train import checkpoints

MIX_FIGURES: tuple[str, ...] = ("lufs", "true_peak_dbtp", "duration_s")
"""What the mix stage measured that a delivered cover reports."""


class CoverRequestError(SvcqaError):
    """The song, the checkpoint or the output file of a cover cannot be used as given."""


def find_song(ws: Workspace, song: str) -> Path:
    """Return the song file ``song`` names: a path from the current folder, else one in ``ws``."""
    path = Path(song) if Path(song).is_file() else ws.root / song
    if not path.is_file():
        raise CoverRequestError(f"No song {song} (looked in the current folder and in {ws.root}).")
    return path


def export_format(ws: Workspace, song: Path, out: Path) -> str:
    """Return the export format ``out``'s suffix asks for; refuse a suffix svcqa cannot write and
    a file in ``songs/`` (it holds only the user's songs, never a result)."""
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in EXPORT_FORMATS:
        raise CoverRequestError(f"--out must end in .{', .'.join(EXPORT_FORMATS)}.")
    if out.resolve() == song.resolve() or ws.songs.resolve() in out.resolve().parents:
        raise CoverRequestError(f"--out may not be in {ws.songs}: songs/ holds only your songs.")
    return suffix


def find_checkpoint(ws: Workspace, step: int, settle_s: float) -> checkpoints.Checkpoint:
    """Return the registered checkpoint of ``step``; a checkpoint in ``logs/44k`` not registered
    yet is registered first (once its file has not changed for ``settle_s``)."""
    found = [c for c in checkpoints.list_checkpoints(ws) if c.step == step]
    if not found:
        found = [c for c in checkpoints.scan(ws, settle_s=settle_s) if c.step == step]
    if not found:
        steps = ", ".join(str(c.step) for c in checkpoints.list_checkpoints(ws)) or "none"
        raise CoverRequestError(f"No registered checkpoint of step {step} (registered steps: {steps}).")
    return found[-1]


def cover_request(
    ws: Workspace,
    song: str,
    step: int,
    out: Path,
    settings: Settings,
    *,
    stages: tuple[str, ...] | None = None,
    transpose: int | None = None,
    f0_method: str | None = None,
    rerun: str | None = None,
) -> CoverRequest:
    """Return the request for a cover of ``song`` with the checkpoint of ``step``, written to ``out``.

    ``settings`` are the workspace's; ``stages``, ``transpose`` and ``f0_method`` override
    them when given. Raises :class:`CoverRequestError` for a missing song, an output of
    another type or inside ``songs/``, and a step no checkpoint has.
    """
    song_path = find_song(ws, song)
    fmt = export_format(ws, song_path, out)
    checkpoint = find_checkpoint(ws, step, settings.train.checkpoint_settle_s)
    overrides = {
        k: v for k, v in (("transpose_semitones", transpose), ("f0_method", f0_method)) if v is not None
    }
    return CoverRequest(
        song=str(song_path.absolute()),
        checkpoint=checkpoint.sha256,
        separation=dataclasses.replace(
            settings.separation, stages=settings.separation.stages if stages is None else stages
        ),
        mix=settings.mix,
        cover=dataclasses.replace(settings.cover, export_format=fmt, **overrides),
        rerun=rerun,
    )


@dataclass(frozen=True)
class DeliveredCover:
    """A cover run and, when its mix is done, the file it was copied to with the mix's figures."""

    result: CoverResult
    out: Path | None
    figures: dict[str, Any]
    """``lufs``, ``true_peak_dbtp`` and ``duration_s`` of the mix; empty when nothing was copied."""

    def to_dict(self) -> dict[str, Any]:
        """Return the run's dict with ``out`` (null when no cover was made) and the figures."""
        return {**self.result.to_dict(), "out": str(self.out) if self.out else None, **self.figures}


def deliver(result: CoverResult, out: Path) -> DeliveredCover:
    """Return ``result`` after copying its cover to ``out`` (atomically), when there is one."""
    cover_file = result.cover
    mixed = result.outcome("mix")
    if cover_file is None or mixed is None or mixed.record is None:
        return DeliveredCover(result, None, {})
    with atomic_path(out) as partial:
        shutil.copyfile(cover_file, partial)
    return DeliveredCover(result, out, {k: mixed.record.details[k] for k in MIX_FIGURES})
