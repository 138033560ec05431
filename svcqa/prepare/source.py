"""Which recordings a scripted preparation reads, and which speaker folder it writes.

Example
-------
>>> import tempfile
>>> from svcqa.core.workspace import Workspace
>>> ws = Workspace(Path(tempfile.mkdtemp())).ensure_layout()
>>> folder, speaker = choose_source(ws, "/data/Anna (takes)", None)
>>> folder.as_posix(), speaker
('/data/Anna (takes)', 'Anna_takes')
>>> choose_source(ws, None, None)
Traceback (most recent call last):
...
svcqa.core.errors.WorkspaceError: Choose the recordings with --source (speaker folders with audio: none). ...
"""

from __future__ import annotations

from pathlib import Path

from svcqa.core.errors import WorkspaceError
from svcqa.core.workspace import Workspace
from svcqa.prepare.plan import safe_speaker_name, source_folders


def choose_source(ws: Workspace, source: str | None, speaker: str | None) -> tuple[Path, str]:
    """Return the recordings folder to prepare and the speaker name to prepare it as.

    Parameters
    ----------
    ws : Workspace
        The workspace whose ``recordings/`` holds the speakers' folders.
    source : str, optional
        The folder, relative to the workspace or absolute; None picks the only speaker folder
        with audio in ``recordings/`` (a :class:`WorkspaceError` names them when there are
        none or several).
    speaker : str, optional
        The ``dataset_raw/`` folder name; None takes the source folder's name made safe.
    """
    if source is None:
        found = source_folders(ws)
        if len(found) != 1:
            listed = ", ".join(f"recordings/{name}" for name in found) or "none"
            raise WorkspaceError(
                f"Choose the recordings with --source (speaker folders with audio: {listed}). "
                f"Recordings go in {ws.recordings}/<speaker>/."
            )
        folder = ws.recordings / found[0]
    else:
        folder = Path(source) if Path(source).is_absolute() else ws.root / source
    return folder, speaker or safe_speaker_name(folder.name)
