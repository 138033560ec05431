"""Renders: every checkpoint sings the same excerpts, fast and comparably.

``svc infer`` run once per checkpoint starts Python, loads ContentVec, tracks the pitch and
computes the content features again every time, and its outputs differ in loudness, so the
loudest checkpoint wins a comparison. :class:`Renderer` does the shared work once, through the
conversion engine (:class:`svcqa.engines.svc.SvcConverter`), the one the cover converts with:

1. ContentVec is loaded once per process;
2. the content features and f0 of each excerpt are computed once and kept on disk in
   ``renders/.features/<excerpt id>_<features hash>.npz``, cut at pauses and padded exactly as
   ``svc infer`` cuts a file;
3. per checkpoint only the generator is loaded and decodes every excerpt, with the decoder noise
   seeded the same way each time, so two renders differ only by their checkpoints;
4. each render is brought to the same integrated loudness (``RenderSettings.target_lufs``) under
   a true-peak ceiling and written to ``renders/<excerpt id>/<settings hash>/<render id>.wav``.

A render is keyed by (checkpoint sha256, excerpt id, settings hash): the settings hash covers
everything that changes the audio (pitch tracker, transpose, speaker, noise, seed, slicing,
loudness target, the model's config and the ContentVec snapshot), so nothing is rendered twice
and a changed setting renders anew. Results live in the ``renders`` table
(:class:`svcqa.core.store.renders.Renders`). A checkpoint that cannot be loaded (truncated,
another architecture or speaker count) becomes a failed render with the reason and the others
go on; an excerpt without a sung note renders silence and says so.

Nothing here imports torch at module level: pages read the queue without it.

Example
-------
>>> ws = Workspace(Path("workspace"))                                    # doctest: +SKIP
>>> context = render_context(ws, ws.load_settings().render)              # doctest: +SKIP
>>> queue = render_queue(ws, context, min_step=10_000)                   # doctest: +SKIP
>>> records = Renderer(ws, context).render(queue.pending)                # doctest: +SKIP
>>> {r.checkpoint_step: r.lufs for r in records}                         # doctest: +SKIP
{10000: -23.0, 12000: -23.0}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.audio import loudness
from svcqa.audio.encode import write_wav
from svcqa.core.files import json_hash, now_iso, text_sha256
from svcqa.core.settings import ConversionSettings, LoudnessSettings, RenderSettings
from svcqa.core.store.renders import RenderRecord
from svcqa.core.workspace import Workspace
from svcqa.engines import svc
from svcqa.engines.svc import CheckpointLoadError, Conversion, Features, SvcConverter
from svcqa.listen.excerpts import Excerpt, ExcerptError, chosen_excerpts, read_excerpt
from svcqa.train.checkpoints import Checkpoint

_HASH_CHARS = 16
_LOUD_GAIN_DB = 30.0
"""A render raised more than this to reach the target says so: the checkpoint sang very quietly."""
_WAV_SUBTYPE = "PCM_16"

__all__ = [
    "RenderContext",
    "RenderQueue",
    "RenderRecord",
    "Renderer",
    "clear_failed",
    "features_path",
    "list_renders",
    "match_loudness",
    "render_context",
    "render_id",
    "render_queue",
]


# -- what a render depends on -----------------------------------------------------------------
@dataclass(frozen=True)
class RenderContext:
    """Everything that decides what a render sounds like, resolved once per job.

    Built by :func:`render_context`: the engine's :class:`~svcqa.engines.svc.Conversion` plus the
    loudness target. :attr:`settings_hash` covers everything that changes a render's audio;
    ``loudness`` (how precisely the target is met) is not part of it.
    """

    conversion: Conversion
    target_lufs: float
    peak_ceiling_dbtp: float
    loudness: LoudnessSettings

    @property
    def features_hash(self) -> str:
        """Return the hash (16 hex) of what an excerpt's content features and f0 depend on."""
        return self.conversion.features_hash

    @property
    def settings_hash(self) -> str:
        """Return the hash (16 hex) of everything that changes a render's audio."""
        return json_hash(self.settings_dict(), chars=_HASH_CHARS)

    def settings_dict(self) -> dict[str, Any]:
        """Return the audio-changing settings, as stored with each render."""
        return {
            **self.conversion.key_dict(),
            "target_lufs": self.target_lufs,
            "peak_ceiling_dbtp": self.peak_ceiling_dbtp,
        }


def render_context(
    ws: Workspace,
    settings: RenderSettings,
    env: Mapping[str, str] | None = None,
    conversion: ConversionSettings | None = None,
    loudness_settings: LoudnessSettings | None = None,
) -> RenderContext:
    """Return the resolved :class:`RenderContext` of ``settings`` in ``ws``.

    ``conversion`` and ``loudness_settings`` default to the workspace's sections. ``env`` holds
    extra environment variables (such as :func:`svcqa.demo.tiny_models.tiny_env`) that decide
    which ContentVec is used. Raises :class:`~svcqa.engines.svc.ModelConfigError` without a
    model config or with a speaker the config does not have,
    :class:`~svcqa.core.errors.ModelMissingError` when ContentVec is absent offline,
    :class:`~svcqa.core.errors.SvcqaError` for an f0 method not available here.
    """
    if conversion is None or loudness_settings is None:
        saved = ws.load_settings()
        conversion = conversion or saved.conversion
        loudness_settings = loudness_settings or saved.loudness
    resolved = svc.resolve_conversion(
        ws,
        conversion,
        f0_method=settings.f0_method,
        transpose_semitones=settings.transpose_semitones,
        speaker=settings.speaker,
        env=env,
    )
    return RenderContext(
        conversion=resolved,
        target_lufs=float(settings.target_lufs),
        peak_ceiling_dbtp=float(settings.peak_ceiling_dbtp),
        loudness=loudness_settings,
    )


# -- records ----------------------------------------------------------------------------------
def render_id(checkpoint_sha256: str, excerpt_id: str, settings_hash: str) -> str:
    """Return the id (16 hex) of the render of a checkpoint, an excerpt and a settings hash."""
    return text_sha256(f"{checkpoint_sha256}:{excerpt_id}:{settings_hash}")[:_HASH_CHARS]


def list_renders(
    ws: Workspace, settings_hash: str | None = None, excerpt_id: str | None = None
) -> list[RenderRecord]:
    """Return the stored renders (of one settings hash and excerpt when given), by step."""
    return ws.store().renders.list(settings_hash, excerpt_id)


def clear_failed(ws: Workspace, settings_hash: str) -> int:
    """Forget the failed renders of ``settings_hash`` so they are tried again; return how many."""
    return ws.store().renders.clear_failed(settings_hash)


# -- the queue --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderQueue:
    """The work of one settings hash: pairs still to render, renders done, renders failed."""

    settings_hash: str
    pending: tuple[tuple[Checkpoint, Excerpt], ...]
    done: tuple[RenderRecord, ...]
    failed: tuple[RenderRecord, ...]

    @property
    def total(self) -> int:
        """Return how many renders the queue asks for in all."""
        return len(self.pending) + len(self.done) + len(self.failed)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary with the pending pairs and the failures."""
        return {
            "settings_hash": self.settings_hash,
            "pending": [
                {"checkpoint_step": c.step, "checkpoint_sha256": c.sha256, "excerpt_id": e.id}
                for c, e in self.pending
            ],
            "done": len(self.done),
            "failed": [r.to_dict() for r in self.failed],
        }


def render_queue(
    ws: Workspace,
    context: RenderContext,
    min_step: int,
    excerpts: Sequence[Excerpt] | None = None,
) -> RenderQueue:
    """Return the queue of every registered checkpoint at or past ``min_step`` times every excerpt.

    ``excerpts`` defaults to the chosen ones (:func:`svcqa.listen.excerpts.chosen_excerpts`). A render
    whose file has gone is pending again.
    """
    from svcqa.train.checkpoints import list_checkpoints

    wanted = list(excerpts) if excerpts is not None else chosen_excerpts(ws)
    stored = {r.id: r for r in list_renders(ws, settings_hash=context.settings_hash)}
    pending, done, failed = [], [], []
    for checkpoint in list_checkpoints(ws, min_step=min_step):
        for excerpt in wanted:
            record = stored.get(render_id(checkpoint.sha256, excerpt.id, context.settings_hash))
            if record is None or (record.ok and not _exists(ws, record)):
                pending.append((checkpoint, excerpt))
            elif record.ok:
                done.append(record)
            else:
                failed.append(record)
    return RenderQueue(context.settings_hash, tuple(pending), tuple(done), tuple(failed))


def _exists(ws: Workspace, record: RenderRecord) -> bool:
    return record.path is not None and (ws.root / record.path).is_file()


def features_path(ws: Workspace, excerpt_id: str, features_hash: str) -> Path:
    """Return where the features of ``excerpt_id`` made with ``features_hash`` are cached."""
    return ws.features_dir / f"{excerpt_id}_{features_hash}.npz"


# -- loudness ---------------------------------------------------------------------------------
def match_loudness(
    samples: np.ndarray,
    sample_rate_hz: int,
    target_lufs: float,
    ceiling_dbtp: float,
    rule: LoudnessSettings | None = None,
) -> tuple[np.ndarray, float | None, float | None]:
    """Return ``samples`` at ``target_lufs`` under ``ceiling_dbtp``, its loudness and the gain in dB.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        A mono render.
    sample_rate_hz : int > 0
    target_lufs : float
        Integrated loudness (ITU-R BS.1770, pyloudnorm) to reach.
    ceiling_dbtp : float
        A look-ahead true-peak limiter keeps the result under this level; the gain is raised
        again until the loudness holds.
    rule : LoudnessSettings, optional
        How precisely and in how many rounds (default ``LoudnessSettings()``).

    A 20 Hz high-pass removes DC and rumble first: they use up headroom without being heard
    (an undertrained generator often puts out a DC offset). Silence (no measurable loudness) is
    returned with ``None`` for loudness and gain.
    """
    rule = rule or LoudnessSettings()
    return loudness.match_loudness(
        samples,
        sample_rate_hz,
        target_lufs,
        ceiling_dbtp,
        tolerance_lu=rule.tolerance_lu,
        max_iterations=rule.max_iterations,
        limiter_window_ms=rule.limiter_window_ms,
        oversample=rule.oversample_factor,
        ceiling_margin_db=rule.ceiling_margin_db,
    )


# -- the renderer -----------------------------------------------------------------------------
class Renderer:
    """Renders excerpts with checkpoints, sharing ContentVec and each excerpt's features.

    Configure it once with a :class:`RenderContext`, then call :meth:`render` with
    (checkpoint, excerpt) pairs; ContentVec loads on the first excerpt whose features are not
    cached on disk. ``features_computed`` counts the excerpts whose features this renderer
    computed. It renders on the device of the conversion settings.
    """

    def __init__(
        self, ws: Workspace, context: RenderContext, log: Callable[[str], None] | None = None
    ) -> None:
        self.ws = ws
        self.context = context
        self.converter = SvcConverter(context.conversion)
        self.device = self.converter.device
        self.features_computed = 0
        self._log = log or (lambda _message: None)
        self._features: dict[str, Features] = {}

    def render(
        self,
        pairs: Iterable[tuple[Checkpoint, Excerpt]],
        force: bool = False,
        keep_going: Callable[[], bool] | None = None,
    ) -> list[RenderRecord]:
        """Return the render of every (checkpoint, excerpt) pair, rendering those not stored yet.

        Stored renders (and stored failures) come back with ``cached=True`` unless ``force``.
        Checkpoints are taken one at a time, by step, each decoding all its excerpts;
        ``keep_going`` is asked before each checkpoint and stops the work when it returns False.
        """
        by_checkpoint: dict[str, tuple[Checkpoint, list[Excerpt]]] = {}
        for checkpoint, excerpt in pairs:
            by_checkpoint.setdefault(checkpoint.sha256, (checkpoint, []))[1].append(excerpt)
        records: list[RenderRecord] = []
        for checkpoint, excerpts in sorted(by_checkpoint.values(), key=lambda item: item[0].step):
            todo = []
            for excerpt in excerpts:
                stored = None if force else self._stored(checkpoint, excerpt)
                if stored is None:
                    todo.append(excerpt)
                else:
                    records.append(stored)
            if not todo:
                continue
            if keep_going is not None and not keep_going():
                break
            records.extend(self._render_checkpoint(checkpoint, todo))
        return records

    def features(self, excerpt: Excerpt) -> Features:
        """Return the content features and f0 of ``excerpt``: from memory, else disk, else computed."""
        features = self._features.get(excerpt.id)
        if features is not None:
            return features
        path = features_path(self.ws, excerpt.id, self.context.features_hash)
        if path.is_file():
            features = Features.load(path)
        else:
            started = time.perf_counter()
            audio = read_excerpt(self.ws, excerpt, self.context.conversion.sample_rate_hz)
            features = self.converter.features(audio)
            features.save(path)
            self.features_computed += 1
            self._log(f"Features of {excerpt.title}: {time.perf_counter() - started:.1f} s.")
        self._features[excerpt.id] = features
        return features

    # -- one checkpoint -----------------------------------------------------------------
    def _render_checkpoint(self, checkpoint: Checkpoint, excerpts: list[Excerpt]) -> list[RenderRecord]:
        ready: list[tuple[Excerpt, Features]] = []
        records = []
        for excerpt in excerpts:
            try:
                ready.append((excerpt, self.features(excerpt)))
            except ExcerptError as exc:
                records.append(self._failed(checkpoint, excerpt, str(exc), None))
        if not ready:
            return records
        started = time.perf_counter()
        try:
            generator = self._generator(checkpoint)
        except CheckpointLoadError as exc:
            self._log(f"Step {checkpoint.step}: {exc}")
            return records + [self._failed(checkpoint, excerpt, str(exc), None) for excerpt, _ in ready]
        load_s = round(time.perf_counter() - started, 3)
        for excerpt, features in ready:
            records.append(self._render_one(checkpoint, excerpt, features, generator, load_s))
        return records

    def _generator(self, checkpoint: Checkpoint) -> Any:
        """Return the checkpoint's generator; :class:`CheckpointLoadError` when it is gone, was
        trained with another architecture than the renders' config, or does not load."""
        name = checkpoint.path.name
        path = checkpoint.available_path
        if path is None:
            raise CheckpointLoadError(f"{name} is gone (neither the file nor its archived copy exists).")
        conversion = self.context.conversion
        own = svc.model_config_path(self.ws, checkpoint.path)
        if own != conversion.config_path and _fingerprint(own) != conversion.model_fingerprint:
            raise CheckpointLoadError(
                f"{name} was trained with the config {own}, another model than the renders' config "
                f"{conversion.config_path}. Render it in the workspace it was trained in."
            )
        return self.converter.generator(path, name)

    def _render_one(
        self,
        checkpoint: Checkpoint,
        excerpt: Excerpt,
        features: Features,
        generator: Any,
        load_s: float,
    ) -> RenderRecord:
        started = time.perf_counter()
        message = ""
        if features.voiced:
            try:
                samples = self.converter.decode(generator, features)
            except RuntimeError as exc:
                return self._failed(checkpoint, excerpt, f"Decoding failed: {exc}", load_s)
        else:
            samples = np.zeros(features.n_samples, dtype=np.float32)
            message = (
                f"No voice in this excerpt: the {self.context.conversion.f0_method} pitch tracker found no "
                "sung frame, so the render is silence. Choose a passage where the singer sings."
            )
        decode_s = round(time.perf_counter() - started, 3)
        rate = self.context.conversion.sample_rate_hz
        out, lufs, gain_db = match_loudness(
            samples, rate, self.context.target_lufs, self.context.peak_ceiling_dbtp, self.context.loudness
        )
        if lufs is None and not message:
            message = "This checkpoint sang silence: its render has no measurable loudness."
        elif gain_db is not None and gain_db > _LOUD_GAIN_DB:
            message = f"This checkpoint sang very quietly: its render was raised by {gain_db:.0f} dB."
        rid = render_id(checkpoint.sha256, excerpt.id, self.context.settings_hash)
        path = self.ws.render_dir(excerpt.id, self.context.settings_hash) / f"{rid}.wav"
        write_wav(path, out, rate, _WAV_SUBTYPE)
        record = RenderRecord(
            id=rid,
            checkpoint_sha256=checkpoint.sha256,
            checkpoint_step=checkpoint.step,
            excerpt_id=excerpt.id,
            settings_hash=self.context.settings_hash,
            path=self.ws.relative(path),
            lufs=lufs,
            gain_db=gain_db,
            silent=lufs is None,
            message=message,
            error=None,
            load_s=load_s,
            decode_s=decode_s,
            device=self.device,
            rendered_at=now_iso(),
        )
        self.ws.store().renders.put(record, self.context.settings_dict())
        level = "silence" if lufs is None else f"{lufs:.1f} LUFS"
        self._log(
            f"Step {checkpoint.step}, {excerpt.title}: {level}, loaded in {load_s:.1f} s, "
            f"decoded in {decode_s:.1f} s. {message}".rstrip()
        )
        return record

    def _failed(
        self, checkpoint: Checkpoint, excerpt: Excerpt, reason: str, load_s: float | None
    ) -> RenderRecord:
        record = RenderRecord(
            id=render_id(checkpoint.sha256, excerpt.id, self.context.settings_hash),
            checkpoint_sha256=checkpoint.sha256,
            checkpoint_step=checkpoint.step,
            excerpt_id=excerpt.id,
            settings_hash=self.context.settings_hash,
            path=None,
            lufs=None,
            gain_db=None,
            silent=False,
            message="",
            error=reason,
            load_s=load_s,
            decode_s=None,
            device=self.device,
            rendered_at=now_iso(),
        )
        self.ws.store().renders.put(record, self.context.settings_dict())
        return record

    def _stored(self, checkpoint: Checkpoint, excerpt: Excerpt) -> RenderRecord | None:
        record = self.ws.store().renders.get(
            render_id(checkpoint.sha256, excerpt.id, self.context.settings_hash)
        )
        if record is None:
            return None
        return record if not record.ok or _exists(self.ws, record) else None


def _fingerprint(config_path: Path) -> str | None:
    """Return the architecture fingerprint of the config at ``config_path``, None when unreadable."""
    try:
        return svc.read_model_config(config_path).fingerprint
    except svc.ModelConfigError:
        return None
