"""Renders: every checkpoint sings the same excerpts, fast and comparably.

``svc infer`` run once per checkpoint starts Python, loads ContentVec, tracks the pitch and
computes the content features again every time, and its outputs differ in loudness, so the
loudest checkpoint wins a comparison. :class:`Renderer` does the shared work once:

1. ContentVec is loaded once per renderer (one per job);
2. the content features and f0 of each excerpt are computed once and kept on disk in
   ``renders/.features/<excerpt id>_<features hash>.npz``, cut at pauses and padded exactly as
   ``svc infer`` cuts a file (so-vits-svc-fork's own ``split_silence``, ``compute_f0``,
   ``interpolate_f0`` and ``get_content``);
3. per checkpoint only the generator is built and loaded (so-vits-svc-fork's ``SynthesizerTrn``
   and ``utils.load_checkpoint``) and decodes every excerpt, with the decoder noise seeded the
   same way each time, so two renders differ only by their checkpoints;
4. each render is brought to the same integrated loudness (``RenderSettings.target_lufs``) under
   a true-peak ceiling and written to ``renders/<excerpt id>/<settings hash>/<render id>.wav``.

A render is keyed by (checkpoint sha256, excerpt id, settings hash): the settings hash covers
everything that changes the audio (pitch tracker, transpose, speaker, noise, seed, loudness,
the model's config and the ContentVec snapshot), so nothing is rendered twice and a changed
setting renders anew. Results live in the ``renders`` table. A checkpoint that cannot be loaded
(truncated, another architecture or speaker count) becomes a failed render with the reason and
the others go on; an excerpt without a sung note renders silence and says so.

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

import contextlib
import functools
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.audio import loudness
from svcqa.audio.encode import write_wav
from svcqa.core.errors import SvcqaError
from svcqa.core.settings import RenderSettings
from svcqa.core.store import Store
from svcqa.core.workspace import Workspace
from svcqa.engines import svc
from svcqa.listen.excerpts import Excerpt, ExcerptError, chosen_excerpts, read_excerpt
from svcqa.train.checkpoints import Checkpoint

RENDER_VERSION = 1
"""Part of every hash: raise it when a change here changes what a render sounds like."""
FEATURES_FOLDER = ".features"
SVC_INFER_SLICING: dict[str, Any] = {
    "db_thresh": -40,
    "pad_seconds": 0.5,
    "chunk_seconds": 0.5,
    "absolute_thresh": False,
    "max_chunk_seconds": 40.0,
}
"""How ``svc infer`` (``Svc.infer_silence`` defaults, so-vits-svc-fork 4.2.30) cuts audio at pauses."""

_LOUD_GAIN_DB = 30.0
"""A render raised more than this to reach the target says so: the checkpoint sang very quietly."""
_LOUDNESS_TOLERANCE_LU = 0.05
_LOUDNESS_ITERATIONS = 8
_LIMITER_WINDOW_MS = 5.0
_OVERSAMPLE = 4
_CEILING_MARGIN_DB = 0.05
_WAV_SUBTYPE = "PCM_16"
_SHAPE_MISMATCH = re.compile(r"emb_g\.weight: torch\.Size\(\[(\d+), \d+\]\) -> torch\.Size\(\[(\d+), \d+\]\)")


class RenderError(SvcqaError):
    """Rendering cannot start: no model config, an unknown speaker, ContentVec missing."""


class CheckpointLoadError(RenderError):
    """One checkpoint cannot be loaded into the model; its renders fail, the others go on."""


# -- what a render depends on -----------------------------------------------------------------
@dataclass(frozen=True)
class RenderContext:
    """Everything that decides what a render sounds like, resolved once per job.

    Built by :func:`render_context` from the workspace's config and :class:`RenderSettings`.
    :attr:`features_hash` covers what the cached content features and f0 depend on,
    :attr:`settings_hash` everything that changes a render's audio.
    """

    config_path: Path
    model_fingerprint: str
    """Hash of the config's data, model and speaker sections (the architecture a checkpoint must fit)."""
    sample_rate_hz: int
    hop_samples: int
    contentvec_snapshot: str
    """The cached ContentVec folder, or "" when so-vits-svc-fork will download it."""
    contentvec_final_proj: bool
    speaker: str
    speaker_id: int
    f0_method: str
    transpose_semitones: int
    noise_scale: float
    seed: int
    target_lufs: float
    peak_ceiling_dbtp: float

    @property
    def contentvec_id(self) -> str:
        """Return the ContentVec snapshot's commit id (``download`` when it is not cached yet)."""
        return Path(self.contentvec_snapshot).name if self.contentvec_snapshot else "download"

    @property
    def features_hash(self) -> str:
        """Return the hash (16 hex) of what an excerpt's content features and f0 depend on."""
        return _hash(
            {
                "version": RENDER_VERSION,
                "so_vits_svc_fork": _svc_version(),
                "f0_method": self.f0_method,
                "sample_rate_hz": self.sample_rate_hz,
                "hop_samples": self.hop_samples,
                "contentvec": self.contentvec_id,
                "contentvec_final_proj": self.contentvec_final_proj,
                "slicing": SVC_INFER_SLICING,
            }
        )

    @property
    def settings_hash(self) -> str:
        """Return the hash (16 hex) of everything that changes a render's audio."""
        return _hash(self.settings_dict())

    def settings_dict(self) -> dict[str, Any]:
        """Return the audio-changing settings, as stored with each render."""
        return {
            "features_hash": self.features_hash,
            "model_fingerprint": self.model_fingerprint,
            "speaker": self.speaker,
            "speaker_id": self.speaker_id,
            "f0_method": self.f0_method,
            "transpose_semitones": self.transpose_semitones,
            "noise_scale": self.noise_scale,
            "seed": self.seed,
            "target_lufs": self.target_lufs,
            "peak_ceiling_dbtp": self.peak_ceiling_dbtp,
        }


def model_config_path(ws: Workspace) -> Path:
    """Return the config the checkpoints were trained with: ``logs/44k/config.json`` (the copy
    ``svc train`` keeps beside them), else ``configs/44k/config.json``."""
    beside = ws.logs_44k / "config.json"
    return beside if beside.is_file() else ws.config_path


def model_speakers(config_path: Path) -> dict[str, int]:
    """Return the speakers of a model config, name to id, by id; :class:`RenderError` when unreadable."""
    return _speakers(_read_config(config_path))


def render_context(
    ws: Workspace, settings: RenderSettings, env: Mapping[str, str] | None = None
) -> RenderContext:
    """Return the resolved :class:`RenderContext` of ``settings`` in ``ws``.

    ``env`` holds extra environment variables (such as :func:`svcqa.demo.tiny_models.tiny_env`) that
    decide which ContentVec is used. Raises :class:`RenderError` without a model config or with
    a speaker the config does not have, :class:`~svcqa.core.errors.ModelMissingError` when ContentVec
    is absent offline, :class:`~svcqa.core.errors.SvcqaError` for an f0 method not available here.
    """
    config_path = model_config_path(ws)
    config = _read_config(config_path)
    speakers = _speakers(config)
    if not speakers:
        raise RenderError(f"The model config {config_path} names no speaker; run `svc pre-config` again.")
    speaker = settings.speaker or next(iter(speakers))
    if speaker not in speakers:
        raise RenderError(
            f"Speaker {speaker!r} is not in the model config; choose one of {', '.join(speakers)}."
        )
    # The workspace's own variables first (a demo workspace keeps its stand-in ContentVec there).
    snapshot = svc.require_contentvec(svc.subprocess_env({**svc.workspace_env(ws), **(env or {})}))
    data = config.get("data", {})
    architecture = {
        "data": {k: v for k, v in data.items() if k not in ("training_files", "validation_files")},
        "model": config.get("model", {}),
        "spk": config.get("spk", {}),
    }
    return RenderContext(
        config_path=config_path,
        model_fingerprint=_hash(architecture),
        sample_rate_hz=int(data["sampling_rate"]),
        hop_samples=int(data["hop_length"]),
        contentvec_snapshot=str(snapshot) if snapshot else "",
        contentvec_final_proj=bool(data.get("contentvec_final_proj", True)),
        speaker=speaker,
        speaker_id=int(speakers[speaker]),
        f0_method=svc.resolve_f0_method(settings.f0_method),
        transpose_semitones=int(settings.transpose_semitones),
        noise_scale=float(settings.noise_scale),
        seed=int(settings.seed),
        target_lufs=float(settings.target_lufs),
        peak_ceiling_dbtp=float(settings.peak_ceiling_dbtp),
    )


# -- records ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderRecord:
    """One checkpoint singing one excerpt with one settings hash: a file, or why there is none.

    ``path`` is relative to the workspace; ``lufs`` is the render's integrated loudness (None
    for silence); ``message`` explains a silent render; ``error`` why it failed (then ``path``
    is None). ``cached`` is True when this call found it rendered before.

    Example
    -------
    >>> r = RenderRecord("ab12", "cd" * 32, 12000, "ef34", "0123", "renders/x.wav", -23.0, 4.1,
    ...                  False, "", None, 0.3, 1.2, "cpu", "2025-01-01T00:00:00+00:00")
    >>> r.ok, r.to_dict()["cached"]
    (True, False)
    """

    id: str
    checkpoint_sha256: str
    checkpoint_step: int
    excerpt_id: str
    settings_hash: str
    path: str | None
    lufs: float | None
    gain_db: float | None
    silent: bool
    message: str
    error: str | None
    load_s: float | None
    decode_s: float | None
    device: str
    rendered_at: str
    cached: bool = False

    @property
    def ok(self) -> bool:
        """Return True when the render has a file."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the CLI's ``--json`` rows)."""
        return asdict(self)


_RECORD_COLUMNS = (
    "id, checkpoint_sha256, checkpoint_step, excerpt_id, settings_hash, path, lufs, gain_db, silent, "
    "message, error, load_s, decode_s, device, rendered_at"
)


def render_id(checkpoint_sha256: str, excerpt_id: str, settings_hash: str) -> str:
    """Return the id (16 hex) of the render of a checkpoint, an excerpt and a settings hash."""
    return hashlib.sha256(f"{checkpoint_sha256}:{excerpt_id}:{settings_hash}".encode()).hexdigest()[:16]


def list_renders(
    ws: Workspace, settings_hash: str | None = None, excerpt_id: str | None = None
) -> list[RenderRecord]:
    """Return the stored renders (of one settings hash and excerpt when given), by step."""
    clauses, values = [], []
    for column, value in (("settings_hash", settings_hash), ("excerpt_id", excerpt_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            values.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with Store(ws.db_path).connect() as conn:
        rows = conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM renders {where} ORDER BY checkpoint_step, excerpt_id", values
        ).fetchall()
    return [_record(row) for row in rows]


def clear_failed(ws: Workspace, settings_hash: str) -> int:
    """Forget the failed renders of ``settings_hash`` so they are tried again; return how many."""
    with Store(ws.db_path).connect() as conn:
        cursor = conn.execute(
            "DELETE FROM renders WHERE settings_hash = ? AND error IS NOT NULL", (settings_hash,)
        )
        return cursor.rowcount


def _record(row: Sequence[Any], cached: bool = False) -> RenderRecord:
    values = list(row)
    values[8] = bool(values[8])
    return RenderRecord(*values, cached=cached)


def _store(ws: Workspace, record: RenderRecord, settings: Mapping[str, Any]) -> None:
    data = record.to_dict()
    data.pop("cached")
    data["silent"] = int(record.silent)
    data["settings"] = json.dumps(settings, sort_keys=True)
    columns = ", ".join(data)
    marks = ", ".join("?" * len(data))
    with Store(ws.db_path).connect() as conn:
        conn.execute(f"INSERT OR REPLACE INTO renders ({columns}) VALUES ({marks})", list(data.values()))


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


# -- features ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FeatureChunk:
    """One piece of an excerpt as ``svc infer`` cuts it: samples ``start``-``end`` of the excerpt.

    A sung (``speech``) chunk carries the features of its padded audio: ``content``
    [shape=(hidden, frames)] from ContentVec, ``f0_hz`` (unvoiced gaps interpolated) and ``uv``
    (1 where voiced), one value per hop; a pause has none and renders as silence.
    """

    start: int
    end: int
    content: np.ndarray | None = None
    f0_hz: np.ndarray | None = None
    uv: np.ndarray | None = None

    @property
    def speech(self) -> bool:
        """Return True for a chunk the generator sings."""
        return self.content is not None


@dataclass(frozen=True, eq=False)
class ExcerptFeatures:
    """The cached content features and f0 of one excerpt, cut as ``svc infer`` cuts it."""

    excerpt_id: str
    features_hash: str
    n_samples: int
    chunks: tuple[FeatureChunk, ...]

    @property
    def voiced(self) -> bool:
        """Return True when the pitch tracker found at least one sung frame."""
        return any(chunk.uv is not None and bool(np.any(chunk.uv > 0)) for chunk in self.chunks)

    def save(self, path: Path) -> None:
        """Write the features to ``path`` (``.npz``) atomically."""
        arrays: dict[str, np.ndarray] = {}
        layout = []
        for i, chunk in enumerate(self.chunks):
            layout.append([chunk.start, chunk.end, chunk.speech])
            if chunk.speech:
                arrays[f"content_{i}"] = chunk.content
                arrays[f"f0_{i}"] = chunk.f0_hz
                arrays[f"uv_{i}"] = chunk.uv
        meta = {
            "excerpt_id": self.excerpt_id,
            "features_hash": self.features_hash,
            "n_samples": self.n_samples,
            "chunks": layout,
        }
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ExcerptFeatures:
        """Return the features saved at ``path`` by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            chunks = tuple(
                FeatureChunk(start, end, data[f"content_{i}"], data[f"f0_{i}"], data[f"uv_{i}"])
                if speech
                else FeatureChunk(start, end)
                for i, (start, end, speech) in enumerate(meta["chunks"])
            )
        return cls(meta["excerpt_id"], meta["features_hash"], int(meta["n_samples"]), chunks)


def features_path(ws: Workspace, excerpt_id: str, features_hash: str) -> Path:
    """Return where the features of ``excerpt_id`` made with ``features_hash`` are cached."""
    return ws.renders / FEATURES_FOLDER / f"{excerpt_id}_{features_hash}.npz"


# -- loudness ---------------------------------------------------------------------------------
def match_loudness(
    samples: np.ndarray, sample_rate_hz: int, target_lufs: float, ceiling_dbtp: float
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

    A 20 Hz high-pass removes DC and rumble first: they use up headroom without being heard
    (an undertrained generator often puts out a DC offset). Silence (no measurable loudness) is
    returned with ``None`` for loudness and gain.
    """
    return loudness.match_loudness(
        samples,
        sample_rate_hz,
        target_lufs,
        ceiling_dbtp,
        tolerance_lu=_LOUDNESS_TOLERANCE_LU,
        max_iterations=_LOUDNESS_ITERATIONS,
        limiter_window_ms=_LIMITER_WINDOW_MS,
        oversample=_OVERSAMPLE,
        ceiling_margin_db=_CEILING_MARGIN_DB,
    )


# -- the renderer -----------------------------------------------------------------------------
def quiet_svc_logging() -> None:
    """Send log records to stderr at WARNING and above, before so-vits-svc-fork is imported.

    so-vits-svc-fork configures the root logger on import (rich, INFO, to stdout) unless it
    already has a handler; its per-chunk INFO lines would bury a command's own output.
    """
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


def resolve_device(name: str = "auto") -> str:
    """Return the torch device to render on: ``name``, or for "auto" the GPU when there is one."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Renderer:
    """Renders excerpts with checkpoints, sharing ContentVec and each excerpt's features.

    Configure it once with a :class:`RenderContext`, then call :meth:`render` with
    (checkpoint, excerpt) pairs; ContentVec loads on the first excerpt whose features are not
    cached on disk. ``features_computed`` counts the excerpts whose features this renderer computed.
    """

    def __init__(
        self,
        ws: Workspace,
        context: RenderContext,
        device: str = "auto",
        cpu_threads: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.ws = ws
        self.context = context
        self.device = resolve_device(device)
        self.cpu_threads = cpu_threads if cpu_threads > 0 else max(1, (os.cpu_count() or 2) // 2)
        self.features_computed = 0
        self._log = log or (lambda _message: None)
        self._contentvec: Any = None
        self._hparams: Any = None
        self._features: dict[str, ExcerptFeatures] = {}

    # -- public -------------------------------------------------------------------------
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
        with self._threads():
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

    def features(self, excerpt: Excerpt) -> ExcerptFeatures:
        """Return the content features and f0 of ``excerpt``: from memory, else disk, else computed."""
        features = self._features.get(excerpt.id)
        if features is not None:
            return features
        path = features_path(self.ws, excerpt.id, self.context.features_hash)
        if path.is_file():
            features = ExcerptFeatures.load(path)
        else:
            started = time.perf_counter()
            features = self._compute_features(excerpt)
            features.save(path)
            self.features_computed += 1
            self._log(f"Features of {excerpt.title}: {time.perf_counter() - started:.1f} s.")
        self._features[excerpt.id] = features
        return features

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        """Use ``cpu_threads`` torch threads while rendering on the CPU, then restore the count.

        The generator's small convolutions gain little from many threads, and threads that
        wait on each other at every layer slow down badly on a busy machine.
        """
        import torch

        if self.device != "cpu":
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(self.cpu_threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    # -- one checkpoint -----------------------------------------------------------------
    def _render_checkpoint(self, checkpoint: Checkpoint, excerpts: list[Excerpt]) -> list[RenderRecord]:
        ready: list[tuple[Excerpt, ExcerptFeatures]] = []
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
            generator = self._load_generator(checkpoint)
        except CheckpointLoadError as exc:
            self._log(f"Step {checkpoint.step}: {exc}")
            return records + [self._failed(checkpoint, excerpt, str(exc), None) for excerpt, _ in ready]
        load_s = round(time.perf_counter() - started, 3)
        for excerpt, features in ready:
            records.append(self._render_one(checkpoint, excerpt, features, generator, load_s))
        return records

    def _render_one(
        self,
        checkpoint: Checkpoint,
        excerpt: Excerpt,
        features: ExcerptFeatures,
        generator: Any,
        load_s: float,
    ) -> RenderRecord:
        started = time.perf_counter()
        message = ""
        if features.voiced:
            try:
                samples = self._decode(generator, features)
            except RuntimeError as exc:
                return self._failed(checkpoint, excerpt, f"Decoding failed: {exc}", load_s)
        else:
            samples = np.zeros(features.n_samples, dtype=np.float32)
            message = (
                f"No voice in this excerpt: the {self.context.f0_method} pitch tracker found no sung "
                "frame, so the render is silence. Choose a passage where the singer sings."
            )
        decode_s = round(time.perf_counter() - started, 3)
        out, lufs, gain_db = match_loudness(
            samples, self.context.sample_rate_hz, self.context.target_lufs, self.context.peak_ceiling_dbtp
        )
        if lufs is None and not message:
            message = "This checkpoint sang silence: its render has no measurable loudness."
        elif gain_db is not None and gain_db > _LOUD_GAIN_DB:
            message = f"This checkpoint sang very quietly: its render was raised by {gain_db:.0f} dB."
        rid = render_id(checkpoint.sha256, excerpt.id, self.context.settings_hash)
        path = self.ws.renders / excerpt.id / self.context.settings_hash / f"{rid}.wav"
        _write_wav(path, out, self.context.sample_rate_hz)
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
            rendered_at=_now(),
        )
        _store(self.ws, record, self.context.settings_dict())
        loudness = "silence" if lufs is None else f"{lufs:.1f} LUFS"
        self._log(
            f"Step {checkpoint.step}, {excerpt.title}: {loudness}, loaded in {load_s:.1f} s, "
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
            rendered_at=_now(),
        )
        _store(self.ws, record, self.context.settings_dict())
        return record

    def _stored(self, checkpoint: Checkpoint, excerpt: Excerpt) -> RenderRecord | None:
        rid = render_id(checkpoint.sha256, excerpt.id, self.context.settings_hash)
        with Store(self.ws.db_path).connect() as conn:
            row = conn.execute(f"SELECT {_RECORD_COLUMNS} FROM renders WHERE id = ?", (rid,)).fetchone()
        if row is None:
            return None
        record = _record(row, cached=True)
        return record if not record.ok or _exists(self.ws, record) else None

    # -- so-vits-svc-fork ---------------------------------------------------------------
    def _hps(self) -> Any:
        if self._hparams is None:
            from so_vits_svc_fork import utils

            self._hparams = utils.get_hparams(self.context.config_path)
        return self._hparams

    def _load_contentvec(self) -> Any:
        """Return ContentVec, loaded once, as ``so_vits_svc_fork.utils.get_hubert_model`` loads it.

        It is read from the snapshot the context resolved (from the job's environment) rather
        than through the Hugging Face cache this process saw when it imported huggingface_hub.
        """
        if self._contentvec is None:
            from so_vits_svc_fork import utils
            from transformers import HubertModel

            final_proj = self.context.contentvec_final_proj
            if not self.context.contentvec_snapshot:
                self._contentvec = utils.get_hubert_model(self.device, final_proj)
                return self._contentvec
            model_class = utils.HubertModelWithFinalProj if final_proj else HubertModel
            model = model_class.from_pretrained(self.context.contentvec_snapshot)
            for module in model.modules():
                utils.remove_weight_norm_if_exists(module)
            self._contentvec = model.to(self.device).eval()
        return self._contentvec

    def _compute_features(self, excerpt: Excerpt) -> ExcerptFeatures:
        """Return the features of ``excerpt``, cut and padded as ``Svc.infer_silence`` does."""
        import so_vits_svc_fork.f0
        from so_vits_svc_fork import utils
        from so_vits_svc_fork.inference.core import split_silence

        rate = self.context.sample_rate_hz
        audio = read_excerpt(self.ws, excerpt, rate)
        chunks: list[FeatureChunk] = []
        if np.any(audio):
            slicing = SVC_INFER_SLICING
            half_frame = (
                int(min(rate / so_vits_svc_fork.f0.f0_min * 20 + 1, slicing["chunk_seconds"] * rate)) // 2
            )
            pad = np.zeros(int(rate * slicing["pad_seconds"]), dtype=np.float32)
            for chunk in split_silence(
                audio,
                top_db=-slicing["db_thresh"],
                frame_length=half_frame * 2,
                hop_length=half_frame,
                ref=1 if slicing["absolute_thresh"] else np.max,
                max_chunk_length=int(slicing["max_chunk_seconds"] * rate),
            ):
                start, end = int(chunk.start), int(chunk.end)
                if not chunk.is_speech:
                    chunks.append(FeatureChunk(start, end))
                    continue
                padded = np.concatenate([pad, chunk.audio, pad])
                f0 = so_vits_svc_fork.f0.compute_f0(
                    padded,
                    sampling_rate=rate,
                    hop_length=self.context.hop_samples,
                    method=self.context.f0_method,
                )
                f0, uv = so_vits_svc_fork.f0.interpolate_f0(f0)
                content = utils.get_content(
                    self._load_contentvec(), padded, self.device, rate, self.context.contentvec_final_proj
                )
                chunks.append(
                    FeatureChunk(
                        start,
                        end,
                        content[0].float().cpu().numpy(),
                        np.asarray(f0, dtype=np.float32),
                        np.asarray(uv, dtype=np.float32),
                    )
                )
        else:
            chunks.append(FeatureChunk(0, audio.size))
        return ExcerptFeatures(excerpt.id, self.context.features_hash, int(audio.size), tuple(chunks))

    def _load_generator(self, checkpoint: Checkpoint) -> Any:
        """Return the checkpoint's generator, built from the config and loaded by so-vits-svc-fork.

        so-vits-svc-fork loads what fits and only warns about the rest; here any key or shape
        that does not fit fails the checkpoint, because a half-loaded generator sings noise.
        """
        from so_vits_svc_fork import utils
        from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn

        path = checkpoint.available_path
        name = checkpoint.path.name
        if path is None:
            raise CheckpointLoadError(f"{name} is gone (neither the file nor its archived copy exists).")
        hps = self._hps()
        with warnings.catch_warnings():
            # so-vits-svc-fork's own construction warnings (unused config keys, weight norm) say nothing about the checkpoint.
            warnings.simplefilter("ignore")
            generator = SynthesizerTrn(
                hps.data.filter_length // 2 + 1, hps.train.segment_size // hps.data.hop_length, **hps.model
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                utils.load_checkpoint(path, generator, None)
            except Exception as exc:  # any failure to read a foreign file fails this checkpoint only
                raise CheckpointLoadError(
                    f"{name} could not be read as a so-vits-svc-fork generator checkpoint "
                    f"({type(exc).__name__}: {exc}). It may be truncated or not a generator (G_*.pth)."
                ) from exc
        misfits = [
            str(w.message) for w in caught if str(w.message).startswith(("Keys not found", "Shape mismatch"))
        ]
        if misfits:
            raise CheckpointLoadError(_misfit_reason(name, misfits))
        generator.eval()
        for module in generator.modules():
            utils.remove_weight_norm_if_exists(module)
        return generator.to(self.device)

    def _decode(self, generator: Any, features: ExcerptFeatures) -> np.ndarray:
        """Return the excerpt sung by ``generator``, joined as ``Svc.infer_silence`` joins chunks."""
        import torch
        from so_vits_svc_fork import utils

        device = self.device
        out = np.zeros(features.n_samples, dtype=np.float32)
        speaker = torch.LongTensor([[self.context.speaker_id]]).to(device)
        shift = 2.0 ** (self.context.transpose_semitones / 12.0)
        torch.manual_seed(self.context.seed)
        with torch.inference_mode():
            for chunk in features.chunks:
                if not chunk.speech:
                    continue
                assert chunk.content is not None and chunk.f0_hz is not None and chunk.uv is not None
                frames = chunk.f0_hz.size
                content = (
                    utils.repeat_expand_2d(torch.from_numpy(chunk.content), frames).unsqueeze(0).to(device)
                )
                f0 = torch.as_tensor(chunk.f0_hz * shift, dtype=torch.float32, device=device).unsqueeze(0)
                uv = torch.as_tensor(chunk.uv, dtype=torch.float32, device=device).unsqueeze(0)
                sung = (
                    generator.infer(
                        content,
                        f0=f0,
                        g=speaker,
                        uv=uv,
                        predict_f0=False,
                        noice_scale=self.context.noise_scale,
                    )[0, 0]
                    .float()
                    .cpu()
                    .numpy()
                )
                length = chunk.end - chunk.start
                cut = (sung.size - length) // 2
                piece = sung[cut : cut + length]
                out[chunk.start : chunk.start + piece.size] = piece
        return out


def _misfit_reason(name: str, misfits: list[str]) -> str:
    detail = "; ".join(misfits)
    speakers = _SHAPE_MISMATCH.search(detail)
    if speakers:
        config_n, checkpoint_n = speakers.groups()
        return (
            f"{name} does not fit this model: it was trained for {checkpoint_n} speaker slots, the config "
            f"has {config_n}. Render it in the workspace it was trained in."
        )
    return (
        f"{name} does not fit this model's config (another architecture or size): {detail[:400]}. "
        "Render it in the workspace it was trained in."
    )


# -- small helpers ----------------------------------------------------------------------------
def _read_config(config_path: Path) -> dict[str, Any]:
    if not config_path.is_file():
        raise RenderError(f"There is no model config ({config_path}): preprocess and train a model first.")
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RenderError(f"The model config {config_path} is unreadable ({exc}).") from exc


@functools.cache
def _svc_version() -> str:
    """Return the installed so-vits-svc-fork's version, read without importing it."""
    try:
        return importlib.metadata.version("so-vits-svc-fork")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _speakers(config: Mapping[str, Any]) -> dict[str, int]:
    return dict(sorted(config.get("spk", {}).items(), key=lambda item: item[1]))


def _hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _write_wav(path: Path, samples: np.ndarray, sample_rate_hz: int) -> None:
    write_wav(path, samples, sample_rate_hz, _WAV_SUBTYPE)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
