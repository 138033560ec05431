"""Song -> cover: separate, de-reverb, remove backing vocals, convert, mix; every stage cached.

Stages run in this order; the three separation stages are each optional:

========  ==============================================  ====================================
stage     reads                                           writes (handed on / taken out)
========  ==============================================  ====================================
vocals    the song                                        vocals / instrumental (for the mix)
dereverb  the vocals so far                               dry vocals / reverb
karaoke   the vocals so far                               lead vocals / backing vocals
convert   the vocals so far (the song when none ran)      the vocals in the model's voice
mix       the converted vocals and the instrumental       the cover (WAV, FLAC or MP3)
========  ==============================================  ====================================

Each stage writes ``renders/covers/<song digest>/<stage>-<key>.<ext>`` and a record
``<stage>-<key>.json`` (:class:`StageRecord`). ``key`` hashes the sha256 of the files the stage
reads, its settings and :data:`CODE_VERSION`, so "is it cached?" and "did it change?" are one
question: a second run is all cache hits; a changed setting re-runs its stage, and the later
stages only when that stage's output changed. A failed stage writes its record with the reason
and stops the run; the earlier stages' files stay. The song is only read, and nothing is written
outside the song's cover folder.

The whole pipeline, or one stage again (:attr:`CoverRequest.rerun`), runs as a background job
(:func:`start_job`, ``python -m svcqa.cover.worker RUN_DIR``) whose progress file the page reads
(:func:`job_progress`), or in the foreground (:func:`run_cover`, the ``cover`` command).

Example
-------
>>> ws = Workspace(Path("workspace"))                                      # doctest: +SKIP
>>> request = CoverRequest(song=str(ws.songs / "song.wav"), checkpoint=sha256)  # doctest: +SKIP
>>> result = run_cover(ws, request)                                         # doctest: +SKIP
>>> [(o.stage, o.status) for o in result.outcomes]                          # doctest: +SKIP
[('vocals', 'ran'), ('dereverb', 'ran'), ('karaoke', 'ran'), ('convert', 'ran'), ('mix', 'ran')]
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile

from svcqa.audio.encode import write_wav
from svcqa.core import jobrunner, jobs
from svcqa.core.errors import AudioError, JobError, ModelMissingError, SvcqaError
from svcqa.core.files import file_sha256
from svcqa.core.settings import CoverSettings, MixSettings, SeparationSettings
from svcqa.core.workspace import Workspace
from svcqa.cover import mixing
from svcqa.engines import separation, svc
from svcqa.train import checkpoints

CODE_VERSION = "1"
"""Part of every cache key: raise it when a stage's output for the same inputs changes."""
SEPARATION_STAGES: tuple[str, ...] = separation.STAGES
STAGES: tuple[str, ...] = (*SEPARATION_STAGES, "convert", "mix")
STAGE_LABELS: dict[str, str] = {
    "vocals": "Vocals / instrumental",
    "dereverb": "De-reverb / de-echo",
    "karaoke": "Remove backing vocals",
    "convert": "Convert",
    "mix": "Mix",
}
REMOVED_LABELS: dict[str, str] = {"vocals": "instrumental", "dereverb": "reverb", "karaoke": "backing vocals"}
"""What each separation stage takes out (its second file)."""
EXPORT_FORMATS: tuple[str, ...] = tuple(suffix.lstrip(".") for suffix in mixing.MIX_FORMATS)
JOB_KIND = "cover"
REQUEST_FILE = "request.json"
PROGRESS_FILE = "progress.json"

# The stand-in digest of the missing accompaniment when the vocals stage does not run.
_SILENCE = "silence"
_SILENCE_FILE = "silence.wav"
_KEY_CHARS = 16
_KARAOKE_WORDS = ("karaoke", "kara")
# Mix settings that change nothing while the vocal chain is off (so they stay out of the key).
_CHAIN_FIELDS: tuple[str, ...] = (
    "highpass_hz",
    "compressor_threshold_db",
    "compressor_ratio",
    "deess_freq_hz",
    "deess_gain_db",
    "reverb_room_size",
    "reverb_wet",
)

StageCallback = Callable[[str, str, float, str], None]
"""Called as ``(stage, status, fraction of the stage done, message)``."""


# -- requests and records -------------------------------------------------------------------
@dataclass(frozen=True)
class CoverRequest:
    """What to make: the song, the checkpoint (its sha256) and every stage's settings.

    ``separation.stages`` picks the separation stages; ``rerun`` names one stage to run again
    even when cached, after which the run stops (later stages stay as they were).

    Example
    -------
    >>> r = CoverRequest("songs/a.wav", "ab" * 32, rerun="mix")
    >>> CoverRequest.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    True
    """

    song: str
    checkpoint: str
    separation: SeparationSettings = field(default_factory=SeparationSettings)
    mix: MixSettings = field(default_factory=MixSettings)
    cover: CoverSettings = field(default_factory=CoverSettings)
    rerun: str | None = None

    @property
    def stages(self) -> tuple[str, ...]:
        """Return the stages this request runs, in pipeline order."""
        return (*(s for s in SEPARATION_STAGES if s in self.separation.stages), "convert", "mix")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CoverRequest:
        """Return the request described by :meth:`to_dict`'s output."""
        return cls(
            song=data["song"],
            checkpoint=data["checkpoint"],
            separation=_section(SeparationSettings, data.get("separation")),
            mix=_section(MixSettings, data.get("mix")),
            cover=_section(CoverSettings, data.get("cover")),
            rerun=data.get("rerun"),
        )


@dataclass(frozen=True)
class StageRecord:
    """What one stage made from which inputs, stored as ``<stage>-<key>.json``.

    ``output`` (handed on) and ``removed`` (what a separation stage took out) are file names in
    the song's cover folder; ``inputs`` maps each input to its sha256; ``state`` is ``done`` or
    ``failed`` (then ``error`` says why).
    """

    stage: str
    key: str
    state: str
    inputs: dict[str, str]
    settings: dict[str, Any]
    output: str | None = None
    removed: str | None = None
    output_digest: str | None = None
    removed_digest: str | None = None
    duration_s: float = 0.0
    finished_at: str = ""
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict stored on disk."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageRecord:
        """Return the record described by :meth:`to_dict`'s output (unknown keys ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class StageOutcome:
    """A stage's place in a plan or run.

    ``status``: ``cached`` (its output for these inputs exists), ``ran`` (made now), ``failed``
    (``record.error`` says why), ``pending`` (not run yet: its inputs are not made yet, or it is
    not cached). ``key`` is None while the inputs are unknown.
    """

    stage: str
    status: str
    key: str | None = None
    record: StageRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "stage": self.stage,
            "status": self.status,
            "key": self.key,
            "record": self.record.to_dict() if self.record else None,
        }


@dataclass(frozen=True)
class CoverResult:
    """Every stage's outcome for one song (a plan, or what a run did)."""

    song: str
    song_digest: str
    folder: str
    """The song's cover folder, where every stage's files are."""
    outcomes: tuple[StageOutcome, ...]

    def outcome(self, stage: str) -> StageOutcome | None:
        """Return the outcome of ``stage``, None when the request does not run it."""
        return next((o for o in self.outcomes if o.stage == stage), None)

    @property
    def failed(self) -> StageOutcome | None:
        """Return the failed stage, if any."""
        return next((o for o in self.outcomes if o.status == "failed"), None)

    @property
    def complete(self) -> bool:
        """Return True when every stage's output exists (cached or made now)."""
        return all(o.status in ("cached", "ran") for o in self.outcomes)

    def path(self, stage: str, which: str = "output") -> Path | None:
        """Return the ``output`` or ``removed`` file of a finished ``stage``, else None."""
        outcome = self.outcome(stage)
        if outcome is None or outcome.status not in ("cached", "ran") or outcome.record is None:
            return None
        name = getattr(outcome.record, which)
        return Path(self.folder) / name if name else None

    @property
    def cover(self) -> Path | None:
        """Return the mixed cover, when the mix is done."""
        return self.path("mix")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the ``cover`` command's ``--json`` output, with ``out``)."""
        cover = self.cover
        return {
            "song": self.song,
            "song_digest": self.song_digest,
            "folder": self.folder,
            "cover": str(cover) if cover else None,
            "complete": self.complete,
            "stages": [o.to_dict() for o in self.outcomes],
        }


# -- conversion -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConversionInput:
    """One file to convert: dry vocals in, the model's voice out."""

    vocals: Path
    out: Path
    checkpoint: Path
    config: Path
    speaker: str
    f0_method: str
    transpose_semitones: int


class Converter(Protocol):
    """Turns dry vocals into the model's voice; ``name`` is part of the convert stage's key."""

    name: str

    def convert(self, job: ConversionInput, echo: Callable[[str], None] | None) -> None:
        """Write ``job.out``; raise :class:`SvcqaError` with the reason when it cannot."""


@dataclass(frozen=True)
class SvcInferConverter:
    """so-vits-svc-fork's own ``svc infer`` in a subprocess, in the workspace, on the GPU if any."""

    workspace: Workspace
    env: Mapping[str, str] | None = None
    """Added to the subprocess environment (e.g. ``HF_HOME`` of the ContentVec cache)."""
    device: str | None = None
    """``cpu``, ``cuda``...; None lets so-vits-svc-fork pick the best one present."""
    name: str = "svc-infer-4.2.30"

    def convert(self, job: ConversionInput, echo: Callable[[str], None] | None) -> None:
        """Run ``svc infer`` on ``job.vocals`` writing ``job.out``."""
        svc.require_contentvec(svc.subprocess_env({**svc.workspace_env(self.workspace), **(self.env or {})}))
        argv = svc.infer_argv(
            job.vocals,
            job.out,
            job.checkpoint,
            job.config,
            job.f0_method,
            speaker=job.speaker,
            transpose_semitones=job.transpose_semitones,
            device=self.device,
        )
        svc.run_svc(self.workspace, argv, self.env, echo)


# -- planning and running -------------------------------------------------------------------
def song_digest(path: Path) -> str:
    """Return the sha256 of the song file (remembered per path, size and modification time)."""
    stat = Path(path).stat()
    return _digest(str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)


def cover_folder(workspace: Workspace, digest: str) -> Path:
    """Return the folder that holds every stage's files for the song with sha256 ``digest``."""
    return workspace.covers_dir / digest[:_KEY_CHARS]


def stage_key(stage: str, inputs: Mapping[str, str], settings: Mapping[str, Any]) -> str:
    """Return the cache key of ``stage`` fed ``inputs`` (name -> sha256) with ``settings``."""
    payload = json.dumps(
        {"stage": stage, "inputs": dict(inputs), "settings": dict(settings), "version": CODE_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:_KEY_CHARS]


def plan(workspace: Workspace, request: CoverRequest, converter: Converter | None = None) -> CoverResult:
    """Return what a run of ``request`` would reuse (``cached``) and what it would run (``pending``).

    A stage that failed for the same inputs shows as ``failed`` with its record. Nothing is
    written. Raises :class:`SvcqaError` for a missing song, an unknown checkpoint, its missing
    config, or an unknown stage or speaker.
    """
    context = _context(workspace, request, converter)
    return _walk(context, request, execute=False)


def run_cover(
    workspace: Workspace,
    request: CoverRequest,
    converter: Converter | None = None,
    progress: StageCallback | None = None,
    log: Callable[[str], None] | None = None,
) -> CoverResult:
    """Return the outcome of every stage after running what is not cached.

    Parameters
    ----------
    workspace : Workspace
    request : CoverRequest
    converter : Converter, optional
        Default :class:`SvcInferConverter` in the workspace with this process's environment.
    progress : callable, optional
        ``progress(stage, status, fraction, message)`` as stages start, advance and end.
    log : callable, optional
        Gets the converter's output lines (``svc infer``'s log).

    Returns
    -------
    CoverResult
        A failed stage has status ``failed`` and its record says why; the stages after it are
        ``pending``. With ``request.rerun`` the stages after that one are only planned.

    Raises
    ------
    SvcqaError
        Before any stage runs: a missing song, an unknown checkpoint or config, or a stage
        name that does not exist.
    ModelMissingError
        Before any stage runs: a separation model or data file is missing and may not be
        downloaded (the message names the files and the folder).
    """
    context = _context(workspace, request, converter)
    planned = _walk(context, request, execute=False)
    to_run = [o.stage for o in planned.outcomes if o.status != "cached" or o.stage == request.rerun]
    separating = tuple(s for s in to_run if s in SEPARATION_STAGES)
    if separating and not request.separation.allow_download:
        check_models(workspace.separation_models, request.separation, separating)
    context.folder.mkdir(parents=True, exist_ok=True)
    return _walk(context, request, execute=True, progress=progress, log=log)


def models_for_stage(
    models: Iterable[separation.ModelInfo], stage: str, current: str | None = None
) -> tuple[str, ...]:
    """Return the file names of the models fit for separation ``stage``, best first.

    A model fits when it writes exactly two stems, one of which the stage hands on; karaoke
    models (by name) go to the ``karaoke`` stage only. Installed models come first, then by
    the published SDR of the kept stem. ``current`` is always included, first.
    """
    kept = separation.KEPT_STEMS[stage]
    fitting = []
    for info in models:
        stems = [s.lower() for s in info.stems]
        is_karaoke = any(word in f"{info.name} {info.filename}".lower() for word in _KARAOKE_WORDS)
        if len(stems) != 2 or not set(stems) & set(kept) or is_karaoke != (stage == "karaoke"):
            continue
        fitting.append(info)

    def rank(info: separation.ModelInfo) -> tuple[bool, float, str]:
        kept_stem = next((s for s in info.stems if s.lower() in kept), "")
        sdr = info.scores_db.get(kept_stem, {}).get("SDR", float("-inf"))
        return (not info.installed, -sdr, info.name)

    names = [info.filename for info in sorted(fitting, key=rank)]
    if current:
        names = [current, *(n for n in names if n != current)]
    return tuple(names)


def missing_model_files(
    model_dir: Path, settings: SeparationSettings, stages: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Return, per stage, the files of its model that are not in the model folder.

    Raises :class:`ModelMissingError` when audio-separator's model list itself is missing, or
    :class:`SvcqaError` for a model that is not in audio-separator's list.
    """
    catalogue = separation.supported_models(model_dir, allow_download=settings.allow_download)
    return {
        stage: separation.missing_files(
            separation.find_model(catalogue, getattr(settings, f"{stage}_model")), model_dir
        )
        for stage in stages
    }


def missing_models_message(missing: Mapping[str, Iterable[str]], model_dir: Path) -> str:
    """Return what is missing, and where it must go, for :func:`missing_model_files`'s answer."""
    folder = separation.model_folder(model_dir)
    parts = [f"{STAGE_LABELS[stage]}: {', '.join(files)}" for stage, files in missing.items() if files]
    return (
        f"Separation models are missing from the model folder {folder} ({'; '.join(parts)}). "
        f"Download these files where there is network (audio-separator's model repository) and "
        f"put them in {folder}, or allow downloads."
    )


def check_models(model_dir: Path, settings: SeparationSettings, stages: Iterable[str]) -> None:
    """Raise :class:`ModelMissingError` naming files and folder when a stage's model is missing."""
    missing = missing_model_files(model_dir, settings, stages)
    if any(missing.values()):
        raise ModelMissingError(missing_models_message(missing, model_dir))


# -- background jobs ------------------------------------------------------------------------
@dataclass(frozen=True)
class StageProgress:
    """One stage's line of the progress file."""

    stage: str
    status: str
    """``pending``, ``running``, ``cached``, ``ran`` or ``failed``."""
    fraction: float
    message: str


@dataclass(frozen=True)
class CoverProgress:
    """The progress file of a background cover job (``progress.json`` in its run folder)."""

    song: str
    rerun: str | None
    stages: tuple[StageProgress, ...]
    error: str | None = None
    """Why the run stopped before or between stages (a stage's own failure is in its line)."""
    finished: bool = False

    @property
    def fraction(self) -> float:
        """Return the share of the run done, counting each stage equally."""
        done = sum(1.0 if s.status in ("cached", "ran", "failed") else s.fraction for s in self.stages)
        return done / len(self.stages) if self.stages else 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CoverProgress:
        """Return the progress described by :meth:`to_dict`'s output."""
        return cls(
            song=data["song"],
            rerun=data.get("rerun"),
            stages=tuple(StageProgress(**s) for s in data["stages"]),
            error=data.get("error"),
            finished=bool(data.get("finished")),
        )


class ProgressWriter:
    """A :data:`StageCallback` that keeps a run folder's progress file up to date."""

    def __init__(self, run_dir: Path, request: CoverRequest) -> None:
        self.path = Path(run_dir) / PROGRESS_FILE
        self.progress = CoverProgress(
            song=request.song,
            rerun=request.rerun,
            stages=tuple(StageProgress(s, "pending", 0.0, "") for s in request.stages),
        )
        self._write()

    def __call__(self, stage: str, status: str, fraction: float, message: str) -> None:
        """Record ``stage``'s new status and write the file."""
        stages = tuple(
            StageProgress(stage, status, round(min(max(fraction, 0.0), 1.0), 3), message)
            if s.stage == stage
            else s
            for s in self.progress.stages
        )
        self.progress = dataclasses.replace(self.progress, stages=stages)
        self._write()

    def finish(self, error: str | None = None) -> None:
        """Mark the run as over, with the error that stopped it, if any."""
        self.progress = dataclasses.replace(self.progress, error=error, finished=True)
        self._write()

    def _write(self) -> None:
        jobrunner.write_record(self.path, self.progress.to_dict())


def start_job(workspace: Workspace, request: CoverRequest, env: Mapping[str, str] | None = None) -> jobs.Job:
    """Return the background job running ``request`` (``python -m svcqa.cover.worker RUN_DIR``).

    The run folder ``.svcqa/covers/<run>/`` holds the request and the progress file. ``env`` is
    added to this process's environment. Raises :class:`JobError` while a cover job runs.
    """
    runs = workspace.cover_runs_dir
    run_dir = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    run_dir.mkdir(parents=True)
    jobrunner.write_record(
        run_dir / REQUEST_FILE, {"workspace": str(workspace.root), "request": request.to_dict()}
    )
    ProgressWriter(run_dir, request)
    argv = [sys.executable, "-m", "svcqa.cover.worker", str(run_dir)]
    try:
        return jobs.start(workspace, JOB_KIND, argv, env=env)
    except JobError:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def latest_job(workspace: Workspace) -> jobs.Job | None:
    """Return the newest cover job (running or not), None when there was none."""
    return next(iter(jobs.list_jobs(workspace, JOB_KIND)), None)


def run_dir_of(job: jobs.Job) -> Path:
    """Return the run folder of a cover job (the last argument of its command)."""
    return Path(job.argv[-1])


def job_request(job: jobs.Job) -> CoverRequest | None:
    """Return the request a cover job runs, None when its run folder is gone."""
    path = run_dir_of(job) / REQUEST_FILE
    if not path.is_file():
        return None
    return CoverRequest.from_dict(jobrunner.read_record(path)["request"])


def job_progress(job: jobs.Job) -> CoverProgress | None:
    """Return the progress file of a cover job, None when it is missing or half-written."""
    path = run_dir_of(job) / PROGRESS_FILE
    try:
        return CoverProgress.from_dict(jobrunner.read_record(path))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_job(run_dir: Path, log: Callable[[str], None] | None = None) -> int:
    """Run the request in ``run_dir`` keeping its progress file; return the exit code (0 done)."""
    data = jobrunner.read_record(Path(run_dir) / REQUEST_FILE)
    workspace = Workspace(Path(data["workspace"]))
    request = CoverRequest.from_dict(data["request"])
    writer = ProgressWriter(run_dir, request)

    def progress(stage: str, status: str, fraction: float, message: str) -> None:
        writer(stage, status, fraction, message)
        if log is not None:
            log(f"[{stage}] {status} {fraction:.0%} {message}")

    try:
        result = run_cover(workspace, request, progress=progress, log=log)
    except Exception as exc:
        writer.finish(str(exc) if isinstance(exc, SvcqaError) else f"{type(exc).__name__}: {exc}")
        raise
    failed = result.failed
    writer.finish(failed.record.error if failed and failed.record else None)
    return 1 if failed else 0


# -- internals ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    workspace: Workspace
    song: Path
    song_digest: str
    folder: Path
    checkpoint: checkpoints.Checkpoint
    checkpoint_path: Path
    config_path: Path
    config_digest: str
    speaker: str
    f0_method: str
    converter: Converter


@dataclass(frozen=True)
class _Audio:
    """A file a stage reads, with the sha256 that goes into its key."""

    digest: str
    path: Path | None


def _context(workspace: Workspace, request: CoverRequest, converter: Converter | None) -> _Context:
    unknown = sorted(set(request.separation.stages) - set(SEPARATION_STAGES))
    if unknown:
        raise SvcqaError(
            f"Unknown separation stage(s) {', '.join(unknown)}; use {', '.join(SEPARATION_STAGES)}."
        )
    if request.rerun is not None and request.rerun not in request.stages:
        raise SvcqaError(f"Cannot re-run {request.rerun!r}: this request runs {', '.join(request.stages)}.")
    if request.cover.export_format not in EXPORT_FORMATS:
        raise SvcqaError(
            f"Unknown export format {request.cover.export_format!r}; choose {', '.join(EXPORT_FORMATS)}."
        )
    song = Path(request.song)
    if not song.is_file():
        raise AudioError(f"The song {song} does not exist.")
    digest = song_digest(song)
    checkpoint = next(
        (c for c in checkpoints.list_checkpoints(workspace) if c.sha256 == request.checkpoint), None
    )
    if checkpoint is None:
        raise SvcqaError(
            f"No registered checkpoint has the sha256 {request.checkpoint[:12]}...; choose one of the "
            "registered checkpoints."
        )
    checkpoint_path = checkpoint.available_path
    if checkpoint_path is None:
        raise ModelMissingError(
            f"The checkpoint of step {checkpoint.step} is gone: neither {checkpoint.path} nor its "
            f"archived copy {checkpoint.archived_path} exists. Choose another checkpoint."
        )
    config_path = _config_for(workspace, checkpoint)
    speaker = _speaker(config_path, request.cover.speaker)
    return _Context(
        workspace=workspace,
        song=song.absolute(),
        song_digest=digest,
        folder=cover_folder(workspace, digest),
        checkpoint=checkpoint,
        checkpoint_path=checkpoint_path,
        config_path=config_path,
        config_digest=file_sha256(config_path),
        speaker=speaker,
        f0_method=svc.resolve_f0_method(request.cover.f0_method),
        converter=converter or SvcInferConverter(workspace),
    )


def _config_for(workspace: Workspace, checkpoint: checkpoints.Checkpoint) -> Path:
    """Return the config the checkpoint was trained with: beside it, else the workspace's."""
    candidates = (
        checkpoint.path.parent / "config.json",
        workspace.trained_config_path,
        workspace.config_path,
    )
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        raise ModelMissingError(
            f"No config.json for {checkpoint.path.name}: looked in {', '.join(str(p) for p in candidates)}. "
            "Put the config the model was trained with beside the checkpoint."
        )
    return found


def _speaker(config_path: Path, wanted: str) -> str:
    try:
        speakers = list(json.loads(config_path.read_text(encoding="utf-8")).get("spk") or {})
    except (OSError, ValueError) as exc:
        raise SvcqaError(f"The model config {config_path} is unreadable: {exc}.") from exc
    if not speakers:
        raise SvcqaError(f"The model config {config_path} names no speaker (its 'spk' is empty).")
    if not wanted:
        return speakers[0]
    if wanted not in speakers:
        raise SvcqaError(f"The model has no speaker {wanted!r}; it has {', '.join(speakers)}.")
    return wanted


def _walk(
    context: _Context,
    request: CoverRequest,
    execute: bool,
    progress: StageCallback | None = None,
    log: Callable[[str], None] | None = None,
) -> CoverResult:
    """Go through the stages in order: reuse cached ones and, when ``execute``, run the others."""
    report = progress or (lambda stage, status, fraction, message: None)
    vocals: _Audio | None = _Audio(context.song_digest, context.song)
    accompaniment: _Audio | None = _Audio(_SILENCE, None)
    outcomes: list[StageOutcome] = []
    for stage in request.stages:
        if vocals is None or accompaniment is None:
            outcomes.append(StageOutcome(stage, "pending"))
            continue
        inputs, settings = _spec(context, request, stage, vocals, accompaniment)
        key = stage_key(stage, inputs, settings)
        record = _read_record(context.folder, stage, key)
        cached = record is not None and record.state == "done" and _files_exist(context.folder, record)
        if cached and stage != request.rerun:
            outcome = StageOutcome(stage, "cached", key, record)
            if execute:
                report(stage, "cached", 1.0, "cached")
        elif execute:
            report(stage, "running", 0.0, "starting")
            record = _run_stage(
                context, request, stage, key, inputs, settings, vocals, accompaniment, report, log
            )
            outcome = StageOutcome(stage, "ran" if record.state == "done" else "failed", key, record)
            report(stage, outcome.status, 1.0, record.error or "done")
            if stage == request.rerun:
                execute = False
        else:
            failed = record is not None and record.state == "failed"
            outcome = StageOutcome(stage, "failed" if failed else "pending", key, record if failed else None)
        outcomes.append(outcome)
        if outcome.status not in ("cached", "ran"):
            vocals = accompaniment = None
            execute = False
            continue
        assert outcome.record is not None
        if stage in SEPARATION_STAGES or stage == "convert":
            vocals = _Audio(str(outcome.record.output_digest), context.folder / str(outcome.record.output))
        if stage == "vocals":
            accompaniment = _Audio(
                str(outcome.record.removed_digest), context.folder / str(outcome.record.removed)
            )
    return CoverResult(str(context.song), context.song_digest, str(context.folder), tuple(outcomes))


def _spec(
    context: _Context, request: CoverRequest, stage: str, vocals: _Audio, accompaniment: _Audio
) -> tuple[dict[str, str], dict[str, Any]]:
    """Return the inputs (name -> sha256) and the settings that make ``stage``'s output."""
    if stage in SEPARATION_STAGES:
        sep = request.separation
        return {"audio": vocals.digest}, {
            "model": getattr(sep, f"{stage}_model"),
            "mdx_segment_size": sep.mdx_segment_size,
            "mdx_overlap": sep.mdx_overlap,
            "chunk_duration_s": sep.chunk_duration_s,
        }
    if stage == "convert":
        inputs = {
            "vocals": vocals.digest,
            "checkpoint": context.checkpoint.sha256,
            "config": context.config_digest,
        }
        return inputs, {
            "converter": context.converter.name,
            "f0_method": context.f0_method,
            "transpose_semitones": int(request.cover.transpose_semitones),
            "speaker": context.speaker,
        }
    mix = asdict(request.mix)
    unused = (_CHAIN_FIELDS if not request.mix.vocal_chain else ()) + (
        ("mp3_bitrate_kbps",) if request.cover.export_format != "mp3" else ()
    )
    return {"vocals": vocals.digest, "accompaniment": accompaniment.digest}, {
        **{name: value for name, value in mix.items() if name not in unused},
        "export_format": request.cover.export_format,
    }


def _run_stage(
    context: _Context,
    request: CoverRequest,
    stage: str,
    key: str,
    inputs: dict[str, str],
    settings: dict[str, Any],
    vocals: _Audio,
    accompaniment: _Audio,
    report: StageCallback,
    log: Callable[[str], None] | None,
) -> StageRecord:
    """Return the record of running ``stage`` now (done or failed), also written to disk."""
    started = time.perf_counter()
    assert vocals.path is not None

    def stage_report(fraction: float, message: str) -> None:
        report(stage, "running", fraction, message)

    try:
        if stage in SEPARATION_STAGES:
            output, removed, details = _separate(context, request, stage, key, vocals.path, stage_report)
        elif stage == "convert":
            output, removed, details = _convert(context, request, key, vocals.path, stage_report, log)
        else:
            output, removed, details = _mix(context, request, key, vocals.path, accompaniment.path)
        record = StageRecord(
            stage=stage,
            key=key,
            state="done",
            inputs=inputs,
            settings=settings,
            output=output,
            removed=removed,
            output_digest=file_sha256(context.folder / output),
            removed_digest=file_sha256(context.folder / removed) if removed else None,
            details=details,
        )
    except Exception as exc:
        # The record keeps the reason for the page; an error svcqa did not foresee still
        # ends the run with its traceback.
        message = str(exc) if isinstance(exc, SvcqaError) else f"{type(exc).__name__}: {exc}"
        record = StageRecord(
            stage=stage, key=key, state="failed", inputs=inputs, settings=settings, error=message
        )
        if not isinstance(exc, SvcqaError):
            _write_record(context.folder, _finished(record, started))
            raise
    finished = _finished(record, started)
    _write_record(context.folder, finished)
    return finished


def _finished(record: StageRecord, started: float) -> StageRecord:
    return dataclasses.replace(
        record, duration_s=round(time.perf_counter() - started, 3), finished_at=jobrunner.now_iso()
    )


def _separate(
    context: _Context,
    request: CoverRequest,
    stage: str,
    key: str,
    source: Path,
    report: Callable[[float, str], None],
) -> tuple[str, str, dict[str, Any]]:
    work = context.folder / f".work-{stage}-{key}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        result = separation.separate(
            source,
            work,
            context.workspace.separation_models,
            dataclasses.replace(request.separation, stages=(stage,)),
            progress=report,
        )
        (made,) = result.stages
        output, removed = f"{stage}-{key}.wav", f"{stage}-{key}-{_slug(REMOVED_LABELS[stage])}.wav"
        os.replace(made.kept.path, context.folder / output)
        os.replace(made.removed.path, context.folder / removed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return (
        output,
        removed,
        {
            "model": made.model_filename,
            "device": result.device,
            "kept_stem": made.kept.name,
            "removed_stem": made.removed.name,
            "audio_duration_s": round(made.kept.duration_s, 3),
        },
    )


def _convert(
    context: _Context,
    request: CoverRequest,
    key: str,
    source: Path,
    report: Callable[[float, str], None],
    log: Callable[[str], None] | None,
) -> tuple[str, None, dict[str, Any]]:
    output = f"convert-{key}.wav"
    partial = context.folder / f".convert-{key}.part.wav"
    partial.unlink(missing_ok=True)
    report(0.05, f"converting with step {context.checkpoint.step} ({context.converter.name})")
    context.converter.convert(
        ConversionInput(
            vocals=source,
            out=partial,
            checkpoint=context.checkpoint_path,
            config=context.config_path,
            speaker=context.speaker,
            f0_method=context.f0_method,
            transpose_semitones=int(request.cover.transpose_semitones),
        ),
        log,
    )
    if not partial.is_file():
        raise SvcqaError(f"The converter {context.converter.name} ended without writing {partial.name}.")
    os.replace(partial, context.folder / output)
    info = soundfile.info(str(context.folder / output))
    return (
        output,
        None,
        {
            "checkpoint_step": context.checkpoint.step,
            "checkpoint": context.checkpoint.path.name,
            "speaker": context.speaker,
            "f0_method": context.f0_method,
            "transpose_semitones": int(request.cover.transpose_semitones),
            "audio_duration_s": round(info.duration, 3),
            "sample_rate_hz": int(info.samplerate),
        },
    )


def _mix(
    context: _Context, request: CoverRequest, key: str, vocals: Path, accompaniment: Path | None
) -> tuple[str, None, dict[str, Any]]:
    output = f"mix-{key}.{request.cover.export_format}"
    result = mixing.mix(
        vocals, accompaniment or _silence(context.folder), context.folder / output, request.mix
    )
    details = result.to_dict()
    details.pop("out")
    return output, None, details


def _silence(folder: Path) -> Path:
    """Return a short silent file standing in for the accompaniment (the mix pads it)."""
    path = folder / _SILENCE_FILE
    if not path.is_file():
        write_wav(path, np.zeros((separation.STEM_SAMPLE_RATE_HZ // 10, 2)), separation.STEM_SAMPLE_RATE_HZ)
    return path


def _record_path(folder: Path, stage: str, key: str) -> Path:
    return folder / f"{stage}-{key}.json"


def _read_record(folder: Path, stage: str, key: str) -> StageRecord | None:
    path = _record_path(folder, stage, key)
    try:
        return StageRecord.from_dict(jobrunner.read_record(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return None  # a damaged record is a cache miss; the stage runs again and rewrites it


def _write_record(folder: Path, record: StageRecord) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    jobrunner.write_record(_record_path(folder, record.stage, record.key), record.to_dict())


def _files_exist(folder: Path, record: StageRecord) -> bool:
    return all((folder / name).is_file() for name in (record.output, record.removed) if name)


def _section(cls: type, data: Mapping[str, Any] | None) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in (data or {}).items() if k in known}
    return cls(**values)


def _slug(text: str) -> str:
    return "-".join(text.split())


@functools.lru_cache(maxsize=64)
def _digest(path: str, size_bytes: int, mtime_ns: int) -> str:
    return file_sha256(Path(path))
