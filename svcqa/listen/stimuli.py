"""What the blind test plays: the stimuli (one render per checkpoint and excerpt), the shortlist
of checkpoints taking part, listener names, and the anonymised audio a browser receives.

What may reach a browser is an opaque random token plus anonymised audio: mono 16-bit WAV
re-encoded from the samples (only the ``fmt`` and ``data`` chunks, so no metadata survives),
loudness matched within a pair or trial, with a fresh TPDF dither at the 16-bit LSB for each
presentation, so no two files handed out share their bytes (a repeat, a reload or the hidden
duplicate cannot be spotted by a hash) while each stays within 1.5 LSB (-86 dBFS) of its render.
Render ids, file names, steps and hashes stay in the workspace database and in the
``svcqa.listen`` modules.

Example
-------
>>> s = Stimulus("r1", "verse", 12000, "ab" * 32, Path("renders/a.wav"))
>>> Stimulus.from_dict(s.to_dict()) == s
True
>>> catalogue([s]).checkpoints == ["ab" * 32]
True
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svcqa.audio.decode import read
from svcqa.audio.encode import wav_bytes
from svcqa.audio.loudness import db_to_gain, dbfs, integrated_lufs
from svcqa.core.errors import PathOutsideWorkspaceError, SvcqaError
from svcqa.core.records import Record
from svcqa.core.settings import ListenSettings
from svcqa.core.workspace import Workspace

MAX_LISTENER_CHARS = 64
PCM16_FULL_SCALE = 32_768
"""libsndfile's 16-bit scale: a float sample x is written as the integer round(x * 32768)."""


class ListeningError(SvcqaError):
    """A listening request is invalid: unknown pair or trial, wrong listener, bad choice or score."""


@dataclass(frozen=True)
class Stimulus(Record):
    """One rendered file: a checkpoint singing one excerpt. Never sent to a browser."""

    render_id: str
    excerpt_id: str
    checkpoint_step: int
    checkpoint_sha256: str
    path: Path


@dataclass(frozen=True)
class Catalogue:
    """The caller's stimuli indexed by render, checkpoint and excerpt."""

    renders: dict[str, Stimulus]
    steps: dict[str, int]
    """Checkpoint sha256 -> step."""
    excerpts: dict[str, dict[str, Stimulus]]
    """Excerpt id -> checkpoint sha256 -> stimulus."""

    @property
    def checkpoints(self) -> list[str]:
        """Return checkpoint hashes ordered by step."""
        return sorted(self.steps, key=lambda sha: (self.steps[sha], sha))

    def shared_excerpts(self, sha_a: str, sha_b: str) -> list[str]:
        """Return the excerpts both checkpoints rendered, sorted."""
        return sorted(e for e, by_sha in self.excerpts.items() if sha_a in by_sha and sha_b in by_sha)

    def stimulus(self, render_id: str) -> Stimulus:
        """Return the stimulus of ``render_id``; raise when the caller no longer lists it."""
        try:
            return self.renders[render_id]
        except KeyError:
            raise ListeningError(
                "A render of this comparison is no longer available; ask for the next one."
            ) from None


def catalogue(stimuli: Iterable[Stimulus]) -> Catalogue:
    """Return ``stimuli`` indexed; raise :class:`ListeningError` on contradictory entries."""
    renders: dict[str, Stimulus] = {}
    steps: dict[str, int] = {}
    excerpts: dict[str, dict[str, Stimulus]] = defaultdict(dict)
    for stim in stimuli:
        if stim.render_id in renders:
            raise ListeningError("A render is listed twice; list each render once.")
        if steps.setdefault(stim.checkpoint_sha256, stim.checkpoint_step) != stim.checkpoint_step:
            raise ListeningError("A checkpoint is listed with two steps; re-register the checkpoints.")
        if stim.checkpoint_sha256 in excerpts[stim.excerpt_id]:
            raise ListeningError(
                "An excerpt has two renders of one checkpoint; list one render per checkpoint and excerpt."
            )
        renders[stim.render_id] = stim
        excerpts[stim.excerpt_id][stim.checkpoint_sha256] = stim
    return Catalogue(renders, steps, dict(excerpts))


def stimuli_from_renders(ws: Workspace, *, use_shortlist: bool = True) -> list[Stimulus]:
    """Return the test's stimuli: one playable render per checkpoint and excerpt of ``ws``.

    A render counts when it has a file inside the workspace and is not silent. An excerpt
    rendered with several settings contributes the renders of one settings hash only: the one
    with the most renders, on a tie the one rendered last. So each checkpoint appears once per
    excerpt and every pair differs only by its checkpoints. With ``use_shortlist`` and a
    shortlist set (:func:`set_shortlist`), only the shortlisted checkpoints take part.
    """
    from svcqa.listen.render import list_renders

    playable = []
    for record in list_renders(ws):
        if not record.ok or record.silent or not record.path:
            continue
        try:
            path = ws.resolve(record.path)
        except PathOutsideWorkspaceError:
            continue
        if path.is_file():
            playable.append((record, path))
    by_excerpt = defaultdict(list)
    for record, path in playable:
        by_excerpt[record.excerpt_id].append((record, path))
    chosen = shortlist(ws) if use_shortlist else frozenset()
    steps: dict[str, int] = {}
    stimuli = []
    for excerpt_id in sorted(by_excerpt):
        items = by_excerpt[excerpt_id]
        counts = Counter(record.settings_hash for record, _ in items)
        newest: dict[str, str] = {}
        for record, _ in items:
            newest[record.settings_hash] = max(newest.get(record.settings_hash, ""), record.rendered_at)
        settings_hash = max(counts, key=lambda h: (counts[h], newest[h], h))
        for record, path in items:
            if record.settings_hash != settings_hash or (chosen and record.checkpoint_sha256 not in chosen):
                continue
            step = steps.setdefault(record.checkpoint_sha256, record.checkpoint_step)
            stimuli.append(Stimulus(record.id, excerpt_id, step, record.checkpoint_sha256, path))
    return stimuli


# -- the shortlist ----------------------------------------------------------------------
def set_shortlist(ws: Workspace, checkpoint_sha256s: Iterable[str]) -> int:
    """Let only these checkpoints take part in the test from now on; return how many."""
    chosen = sorted(set(checkpoint_sha256s))
    if len(chosen) < 2:
        raise ListeningError("A shortlist needs at least two checkpoints.")
    ws.store().listen.set_shortlist(chosen, time.time())
    return len(chosen)


def clear_shortlist(ws: Workspace) -> None:
    """Let every rendered checkpoint take part again."""
    ws.store().listen.clear_shortlist()


def shortlist(ws: Workspace) -> frozenset[str]:
    """Return the shortlisted checkpoint hashes; empty when every checkpoint takes part."""
    return ws.store().listen.shortlist()


# -- listeners and audio ----------------------------------------------------------------
def listener_name(listener: str) -> str:
    """Return the listener name stripped; raise :class:`ListeningError` when it is empty, too long
    or holds control characters."""
    name = listener.strip() if isinstance(listener, str) else ""
    if not name or len(name) > MAX_LISTENER_CHARS or any(not ch.isprintable() for ch in name):
        raise ListeningError(f"Enter a listener name of 1 to {MAX_LISTENER_CHARS} printable characters.")
    return name


def anonymised_wavs(paths: Sequence[Path], settings: ListenSettings) -> list[bytes]:
    """Return mono 16-bit WAV bytes of each file, loudness matched, with no metadata.

    Every call dithers afresh (:func:`dithered_pcm16`): the same render presented twice, even
    in one call, gives different bytes and sounds the same.
    """
    decoded = [read(path, mono=True) for path in paths]
    gains_db = [0.0] * len(decoded)
    if settings.match_loudness:
        levels = [integrated_lufs(samples, rate) for samples, rate in decoded]
        measured = [k for k, lufs in enumerate(levels) if math.isfinite(lufs)]
        target = settings.loudness_lufs
        # One common target, lowered as needed so the loudest peak stays under the ceiling.
        for k in measured:
            peak = dbfs(float(np.max(np.abs(decoded[k][0]))))
            target -= max(0.0, peak + target - levels[k] - settings.peak_ceiling_dbfs)
        for k in measured:
            gains_db[k] = target - levels[k]
    rng = np.random.default_rng()
    return [
        wav_bytes(dithered_pcm16(samples * db_to_gain(gain), rng), rate, "PCM_16")
        for (samples, rate), gain in zip(decoded, gains_db, strict=True)
    ]


def dithered_pcm16(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return ``samples`` on the 16-bit grid after a TPDF dither of +-1 LSB drawn from ``rng``.

    The result is float and holds exact multiples of 1/32768, so the 16-bit encoder writes it
    unchanged; each sample moves by at most 1.5 LSB, with no change of level, timing or length.

    Example
    -------
    >>> x = np.full(1000, 0.25)
    >>> a, b = (dithered_pcm16(x, np.random.default_rng(seed)) for seed in (1, 2))
    >>> bool(np.all(a * 32768 == np.round(a * 32768))), bool(np.any(a != b))
    (True, True)
    >>> bool(np.max(np.abs(a - x)) <= 1.5 / 32768)
    True
    """
    triangular = rng.random(samples.shape) - rng.random(samples.shape)
    levels = np.clip(
        np.round(samples * PCM16_FULL_SCALE + triangular), -PCM16_FULL_SCALE, PCM16_FULL_SCALE - 1
    )
    return levels / PCM16_FULL_SCALE
