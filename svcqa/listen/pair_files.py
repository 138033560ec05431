"""A listener's next blind pair as two files, ``a.wav`` and ``b.wav`` (``svcqa listen next``).

The files are the anonymised audio :mod:`svcqa.listen.pairs` hands out (loudness matched,
no metadata): their names and contents say nothing about which checkpoint sings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from svcqa.core.errors import SvcqaError
from svcqa.core.files import atomic_write_bytes
from svcqa.core.records import Record
from svcqa.core.settings import ListenSettings
from svcqa.core.store import Store
from svcqa.listen.pairs import next_pair, pair_audio, pending_pair
from svcqa.listen.stimuli import Stimulus


@dataclass(frozen=True)
class PairFiles(Record):
    """A pair's id and the files of its two sides (``listen next --json``)."""

    pair_id: str
    a: Path
    b: Path


def write_next_pair(
    store: Store, stimuli: Sequence[Stimulus], listener: str, folder: Path, settings: ListenSettings
) -> PairFiles:
    """Return ``listener``'s next pair after writing its sides as ``a.wav`` and ``b.wav`` in ``folder``.

    A pair given out earlier and not voted on yet is given again (when its renders still
    exist), so a listener who comes back votes on what they heard.
    """
    pair_id = pending_pair(store, listener)
    audio = None
    if pair_id is not None:
        try:
            audio = pair_audio(store, stimuli, pair_id, settings=settings)
        except SvcqaError:
            pair_id = None
    if pair_id is None or audio is None:
        pair = next_pair(store, stimuli, listener, settings=settings)
        pair_id, audio = pair.id, (pair.audio_a, pair.audio_b)
    files = PairFiles(pair_id, folder / "a.wav", folder / "b.wav")
    for path, data in zip((files.a, files.b), audio, strict=True):
        atomic_write_bytes(path, data)
    return files
