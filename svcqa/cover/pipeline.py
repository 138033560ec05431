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

The convert stage goes through the conversion engine renders use
(:class:`svcqa.cover.conversion.EngineConverter`), with the same settings, so the converted vocals
are what the checkpoint sang in the blind test. The whole pipeline, or one stage again
(:attr:`CoverRequest.rerun`), runs as a background job (:mod:`svcqa.cover.jobs`) or in the
foreground (:func:`run_cover`, the ``cover`` command).

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
import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.audio.decode import probe
from svcqa.audio.encode import write_wav
from svcqa.core.errors import AudioError, ModelMissingError, SvcqaError
from svcqa.core.files import atomic_path, atomic_write_json, file_sha256, json_hash, now_iso
from svcqa.core.settings import ConversionSettings, LoudnessSettings
from svcqa.core.workspace import Workspace
from svcqa.cover import mixing
from svcqa.cover.conversion import ConversionInput, Converter, EngineConverter
from svcqa.cover.records import (
    EXPORT_FORMATS,
    REMOVED_LABELS,
    SEPARATION_STAGES,
    STAGES,
    CoverRequest,
    CoverResult,
    StageOutcome,
    StageRecord,
)
from svcqa.engines import separation, svc
from svcqa.engines.separation_models import check_models
from svcqa.train import checkpoints

__all__ = [
    "STAGES",
    "CoverRequest",
    "CoverResult",
    "cover_folder",
    "plan",
    "run_cover",
    "song_digest",
    "stage_key",
]

CODE_VERSION = "1"
"""Part of every cache key: raise it when a stage's output for the same inputs changes."""

# The stand-in digest of the missing accompaniment when the vocals stage does not run.
_SILENCE = "silence"
_SILENCE_FILE = "silence.wav"
_KEY_CHARS = 16
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
    return json_hash(
        {"stage": stage, "inputs": dict(inputs), "settings": dict(settings), "version": CODE_VERSION},
        chars=_KEY_CHARS,
    )


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
        Default :class:`~svcqa.cover.conversion.EngineConverter` in the workspace with this
        process's environment.
    progress : callable, optional
        ``progress(stage, status, fraction, message)`` as stages start, advance and end.
    log : callable, optional
        Gets the converter's log lines.

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
    conversion: ConversionSettings
    loudness: LoudnessSettings
    contentvec_id: str
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
    config_path = svc.model_config_path(workspace, checkpoint.path)
    speaker = svc.resolve_speaker(svc.read_model_config(config_path), request.cover.speaker)
    saved = workspace.load_settings()
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
        conversion=request.conversion or saved.conversion,
        loudness=request.loudness or saved.loudness,
        contentvec_id=svc.contentvec_id(workspace),
        converter=converter or EngineConverter(workspace),
    )


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
            "contentvec": context.contentvec_id,
            "f0_method": context.f0_method,
            "transpose_semitones": int(request.cover.transpose_semitones),
            "speaker": context.speaker,
            "noise_scale": float(context.conversion.noise_scale),
            "seed": int(context.conversion.seed),
            "slicing": svc.slicing_kwargs(context.conversion),
        }
    mix = asdict(request.mix)
    unused = (_CHAIN_FIELDS if not request.mix.vocal_chain else ()) + (
        ("mp3_bitrate_kbps",) if request.cover.export_format != "mp3" else ()
    )
    return {"vocals": vocals.digest, "accompaniment": accompaniment.digest}, {
        **{name: value for name, value in mix.items() if name not in unused},
        "export_format": request.cover.export_format,
        "loudness": asdict(context.loudness),
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
        record, duration_s=round(time.perf_counter() - started, 3), finished_at=now_iso()
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
        for stem, name in ((made.kept, output), (made.removed, removed)):
            with atomic_path(context.folder / name) as tmp:
                shutil.copyfile(stem.path, tmp)
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
    target = context.folder / output
    target.unlink(missing_ok=True)
    report(0.05, f"converting with step {context.checkpoint.step} ({context.converter.name})")
    context.converter.convert(
        ConversionInput(
            vocals=source,
            out=target,
            checkpoint=context.checkpoint_path,
            config=context.config_path,
            speaker=context.speaker,
            f0_method=context.f0_method,
            transpose_semitones=int(request.cover.transpose_semitones),
            settings=context.conversion,
        ),
        log,
    )
    if not target.is_file():
        raise SvcqaError(f"The converter {context.converter.name} ended without writing {output}.")
    info = probe(target)
    return (
        output,
        None,
        {
            "checkpoint_step": context.checkpoint.step,
            "checkpoint": context.checkpoint.path.name,
            "speaker": context.speaker,
            "f0_method": context.f0_method,
            "transpose_semitones": int(request.cover.transpose_semitones),
            "audio_duration_s": round(info.duration_s, 3),
            "sample_rate_hz": info.sample_rate,
        },
    )


def _mix(
    context: _Context, request: CoverRequest, key: str, vocals: Path, accompaniment: Path | None
) -> tuple[str, None, dict[str, Any]]:
    output = f"mix-{key}.{request.cover.export_format}"
    result = mixing.mix(
        vocals,
        accompaniment or _silence(context.folder),
        context.folder / output,
        request.mix,
        context.loudness,
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
        return StageRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return None  # a damaged record is a cache miss; the stage runs again and rewrites it


def _write_record(folder: Path, record: StageRecord) -> None:
    atomic_write_json(_record_path(folder, record.stage, record.key), record.to_dict())


def _files_exist(folder: Path, record: StageRecord) -> bool:
    return all((folder / name).is_file() for name in (record.output, record.removed) if name)


def _slug(text: str) -> str:
    return "-".join(text.split())


@functools.lru_cache(maxsize=64)
def _digest(path: str, size_bytes: int, mtime_ns: int) -> str:
    return file_sha256(Path(path))
