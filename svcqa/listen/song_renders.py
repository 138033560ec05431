"""A test song rendered through every registered checkpoint in one call (``svcqa render``).

The song is copied into ``songs/`` unless it is there, the excerpt (given, or the suggested
window around its highest sustained notes) is chosen, checkpoints in ``logs/44k`` not yet
registered are registered, and :class:`~svcqa.listen.render.Renderer` renders what is not
stored yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.core.errors import SvcqaError
from svcqa.core.records import Record
from svcqa.core.settings import RenderSettings
from svcqa.core.workspace import Workspace
from svcqa.listen import excerpts
from svcqa.listen.excerpts import Excerpt
from svcqa.listen.render import Renderer, RenderRecord, render_context
from svcqa.train.checkpoints import list_checkpoints, register_new_checkpoints


@dataclass(frozen=True)
class SongRenders(Record):
    """The renders of one excerpt of a song, one per checkpoint, with the settings they share;
    ``to_dict()`` is the ``render --json`` output."""

    workspace: Path
    excerpt: Excerpt
    settings_hash: str
    settings: dict[str, Any]
    """The audio-changing settings, as stored with each render."""
    renders: tuple[RenderRecord, ...]


def render_song(
    ws: Workspace,
    song_file: Path,
    settings: RenderSettings,
    *,
    span_s: tuple[float, float] | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> SongRenders:
    """Return the renders of an excerpt of ``song_file`` by every checkpoint at or past ``settings.min_step``.

    Parameters
    ----------
    ws : Workspace
        The workspace whose checkpoints sing; the song is copied into its ``songs/``.
    song_file : Path
        The song's dry vocals.
    settings : RenderSettings
        How to render (``min_step``, transpose, f0 method, speaker, device ...).
    span_s : (float, float), optional
        Start and end of the excerpt in seconds; default: the first suggested excerpt.
    force : bool
        Render again even where a render with the same settings is stored.
    log : callable, optional
        Receives progress lines.

    Raises :class:`~svcqa.core.errors.SvcqaError` when no checkpoint qualifies, and the
    excerpt's and render context's errors (an unreadable song, no model config).
    """
    say = log or (lambda _line: None)
    song = excerpts.import_song(ws, song_file)
    if span_s:
        excerpt = excerpts.make_excerpt(ws, song, span_s[0], span_s[1], "", settings)
    else:
        excerpt = excerpts.suggest_excerpts(ws, song, settings)[0]
    excerpts.choose(ws, excerpt)
    register_new_checkpoints(ws)
    context = render_context(ws, settings)
    found = list_checkpoints(ws, min_step=settings.min_step)
    if not found:
        raise SvcqaError(
            f"No checkpoint at or past step {settings.min_step} is registered in {ws.root}; "
            "train longer or lower --min-step."
        )
    say(f"Excerpt {excerpt.title}; {len(found)} checkpoints; settings {context.settings_hash}.")
    renderer = Renderer(ws, context, log=say)
    records = renderer.render([(checkpoint, excerpt) for checkpoint in found], force=force)
    return SongRenders(ws.root, excerpt, context.settings_hash, context.settings_dict(), tuple(records))
