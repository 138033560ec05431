"""Song -> vocals, accompaniment, dry lead vocals, through audio-separator (the UVR model zoo).

Stages run in a fixed order, each optional, each with its own model from audio-separator's
supported list; every stage writes two stems and hands one of them on:

=========  ==============================  ==============================================
stage      keeps (handed to the next)      removes
=========  ==============================  ==============================================
vocals     Vocals                          Instrumental (the accompaniment for the mix)
dereverb   No Reverb / Dry / No Echo       Reverb / echo
karaoke    Vocals (the lead)               Instrumental (backing vocals)
=========  ==============================  ==============================================

Before anything runs, every stage's model and data files are checked
(:func:`svcqa.engines.separation_models.missing_model_files`); with downloads off, or when a
download fails, :class:`ModelMissingError` names every missing file and the folder in one message.

Example
-------
>>> Stem("Vocals", "s/song_vocals_vocals.wav", 44_100, 88_200, 2).duration_s
2.0
>>> _ordered_stages(["karaoke", "vocals"])
('vocals', 'karaoke')
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.audio import decode
from svcqa.audio.decode import check_duration, probe
from svcqa.audio.encode import write_wav
from svcqa.core.errors import AudioError, ModelMissingError, SvcqaError
from svcqa.core.interpreter import import_frozen
from svcqa.core.records import Record
from svcqa.core.settings import LimitSettings, SeparationSettings
from svcqa.engines.separation_models import (
    DOWNLOAD_ERRORS,
    KEPT_STEMS,
    STAGES,
    ModelInfo,
    find_model,
    missing_files,
    missing_model_files,
    missing_models_message,
    model_folder,
    supported_models,
)

STEM_SAMPLE_RATE_HZ = 44_100
"""audio-separator resamples input to this rate, and the UVR models were trained at it."""

ProgressCallback = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], message)."""


@dataclass(frozen=True)
class Stem(Record):
    """One written stem file.

    Example
    -------
    >>> Stem("Vocals", "s/song_vocals_vocals.wav", 44_100, 88_200, 2).duration_s
    2.0
    """

    name: str
    """The stem's name as audio-separator gives it (``Vocals``, ``No Reverb`` ...)."""
    path: str
    sample_rate_hz: int
    num_samples: int
    channels: int

    @property
    def duration_s(self) -> float:
        """Return the length in seconds."""
        return self.num_samples / self.sample_rate_hz

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, ``duration_s`` included."""
        return {**super().to_dict(), "duration_s": self.duration_s}


@dataclass(frozen=True)
class StageResult(Record):
    """The two stems one stage wrote: the one it hands on and the one it took out."""

    stage: str
    model_filename: str
    kept: Stem
    removed: Stem


@dataclass(frozen=True)
class SeparationResult:
    """Every stage's stems for one song; :attr:`vocals` is the last stage's kept stem."""

    song: str
    device: str
    """Where inference ran, as torch names it (``cpu``, ``cuda``, ``mps``)."""
    stages: tuple[StageResult, ...]

    @property
    def vocals(self) -> Stem:
        """Return the vocals after every stage that ran (what goes to conversion)."""
        return self.stages[-1].kept

    @property
    def instrumental(self) -> Stem | None:
        """Return the accompaniment from the ``vocals`` stage, None when that stage did not run."""
        return next((s.removed for s in self.stages if s.stage == "vocals"), None)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the CLI's ``--json`` output)."""
        instrumental = self.instrumental
        return {
            "song": self.song,
            "device": self.device,
            "vocals": self.vocals.to_dict(),
            "instrumental": instrumental.to_dict() if instrumental else None,
            "stages": [stage.to_dict() for stage in self.stages],
        }


def separate(
    song: Path,
    out_dir: Path,
    model_dir: Path,
    settings: SeparationSettings | None = None,
    progress: ProgressCallback | None = None,
    max_input_s: float | None = None,
) -> SeparationResult:
    """Return the stems of ``song`` after each selected stage, written as WAV into ``out_dir``.

    Parameters
    ----------
    song : Path
        Any format ffmpeg decodes; only read.
    out_dir : Path
        Created if missing. Stems are named ``<song>_<stage>_<stem>.wav``, e.g.
        ``song_vocals_instrumental.wav``, ``song_dereverb_no-reverb.wav``; a re-run replaces them.
    model_dir : Path
        The model folder (``AUDIO_SEPARATOR_MODEL_DIR`` overrides it).
    settings : SeparationSettings, optional
        Stages, their models, downloads allowed or not, memory options; default
        ``SeparationSettings()``.
    progress : callable, optional
        Called as ``progress(fraction, message)`` when a stage loads, separates and ends.
    max_input_s : float > 0, optional
        Longest song separated; a longer one is refused before decoding (default
        ``LimitSettings().separate_max_s``).

    Returns
    -------
    SeparationResult
        Stems at 44.1 kHz; with 44.1 kHz input, exactly as long as the input (VR models drop the
        last samples, which come back as silence; a song chunked for being longer than
        ``chunk_duration_s`` may differ by up to 1 ms per chunk).

    Raises
    ------
    ModelMissingError
        A model or data file is missing (downloads off) or could not be downloaded; the message
        names every missing file and the folder. Checked for all stages before any work.
    AudioError
        The song cannot be decoded, holds no usable audio or is longer than ``max_input_s``.
    SvcqaError
        No or unknown stages, an unsupported model, or a model whose stems do not fit its stage.
    """
    settings = settings or SeparationSettings()
    stages = _ordered_stages(settings.stages)
    song = Path(song).absolute()
    out_dir = Path(out_dir).absolute()
    _check_song(song, LimitSettings().separate_max_s if max_input_s is None else max_input_s)
    folder = model_folder(model_dir)
    missing = missing_model_files(folder, settings, stages)
    if not settings.allow_download and any(missing.values()):
        raise ModelMissingError(missing_models_message(missing, folder))
    try:
        catalogue = supported_models(folder, settings.allow_download)
    except ModelMissingError as exc:
        # The model list could not be downloaded: say what else is missing too, not just the list.
        raise ModelMissingError(missing_models_message(missing, folder, exc.__cause__ or exc)) from exc
    plan = [(stage, find_model(catalogue, _stage_model(settings, stage))) for stage in stages]
    missing = {stage: missing_files(info, folder) for stage, info in plan}

    report = progress or (lambda fraction, message: None)
    base = _slug(song.stem)
    results: list[StageResult] = []
    # Separator() switches warnings off for the whole process; keep that inside this block.
    with warnings.catch_warnings():
        import_frozen(["audio_separator.separator"])
        from audio_separator.separator import Separator

        separator = Separator(
            log_level=logging.WARNING,
            model_file_dir=str(folder),
            output_dir=str(out_dir),
            sample_rate=STEM_SAMPLE_RATE_HZ,
            chunk_duration=settings.chunk_duration_s,
            mdx_params={
                "hop_length": 1024,
                "segment_size": settings.mdx_segment_size,
                "overlap": settings.mdx_overlap,
                "batch_size": settings.batch_size,
                "enable_denoise": False,
            },
            vr_params={
                "batch_size": settings.batch_size,
                "window_size": 512,
                "aggression": 5,
                "enable_tta": False,
                "enable_post_process": False,
                "post_process_threshold": 0.2,
                "high_end_process": False,
            },
            mdxc_params={
                "segment_size": 256,
                "override_model_segment_size": False,
                "batch_size": settings.batch_size,
                "overlap": None,
                "pitch_shift": 0,
            },
        )
        source = song
        for index, (stage, info) in enumerate(plan):
            report(index / len(plan), f"{stage}: loading {info.filename}")
            _load_model(separator, stage, info, missing[stage], folder)
            report((index + 0.1) / len(plan), f"{stage}: separating with {info.filename}")
            result = _run_stage(separator, stage, info, source, song, out_dir, base)
            results.append(result)
            source = Path(result.kept.path)
        report(1.0, "separation done")
    return SeparationResult(song=str(song), device=str(separator.torch_device), stages=tuple(results))


def _ordered_stages(requested: Iterable[str]) -> tuple[str, ...]:
    requested = tuple(requested)
    unknown = sorted(set(requested) - set(STAGES))
    if unknown:
        raise SvcqaError(f"Unknown separation stage(s) {', '.join(unknown)}; use {', '.join(STAGES)}.")
    if not requested:
        raise SvcqaError(f"No separation stage selected; choose from {', '.join(STAGES)}.")
    return tuple(stage for stage in STAGES if stage in requested)


def _stage_model(settings: SeparationSettings, stage: str) -> str:
    return str(getattr(settings, f"{stage}_model"))


def _check_song(song: Path, max_input_s: float) -> None:
    if not song.is_file():
        raise AudioError(f"The song {song} does not exist.")
    try:
        info = probe(song)
        check_duration(info, max_input_s, "separation (limits.separate_max_s in the settings)")
    except AudioError as exc:
        raise AudioError(f"Cannot decode the song {song.name}: {exc}") from exc
    if info.frames <= 0:
        raise AudioError(f"The song {song.name} holds no audio.")


def _load_model(separator: Any, stage: str, info: ModelInfo, missing: tuple[str, ...], folder: Path) -> None:
    try:
        separator.load_model(info.filename)
    except DOWNLOAD_ERRORS as exc:
        if not missing:
            raise
        raise ModelMissingError(missing_models_message({stage: missing}, folder, exc)) from exc


def _run_stage(
    separator: Any,
    stage: str,
    info: ModelInfo,
    source: Path,
    song: Path,
    out_dir: Path,
    base: str,
) -> StageResult:
    from audio_separator.separator import InvalidAudioDataError

    instance = separator.model_instance
    stem_names = (instance.primary_stem_name, instance.secondary_stem_name)
    kept_name = next((n for n in stem_names if n.lower() in KEPT_STEMS[stage]), None)
    if kept_name is None:
        raise SvcqaError(
            f"{info.filename} writes the stems {' and '.join(stem_names)}, but the {stage} stage "
            f"hands on one of: {', '.join(KEPT_STEMS[stage])}. Choose a {stage} model."
        )
    custom_names = {name: f"{base}_{stage}_{_slug(name).lower()}" for name in stem_names}
    expected = {name: out_dir / f"{custom}.wav" for name, custom in custom_names.items()}
    if song in expected.values():
        raise SvcqaError(f"Separating would overwrite the song {song}; choose another output folder.")
    try:
        written = separator.separate(str(source), custom_output_names=custom_names)
    except InvalidAudioDataError as exc:
        raise AudioError(f"{source.name} could not be separated: {exc}") from exc
    written_paths = {out_dir / Path(path) for path in written}
    if written_paths != set(expected.values()):
        raise SvcqaError(
            f"{info.filename} wrote {len(written)} stems ({', '.join(sorted(map(str, written)))}); "
            "a separation stage needs a model with exactly two stems."
        )
    for path in expected.values():
        _pad_to_source(path, source)
    removed_name = next(name for name in stem_names if name != kept_name)
    return StageResult(
        stage=stage,
        model_filename=info.filename,
        kept=_stem(kept_name, expected[kept_name]),
        removed=_stem(removed_name, expected[removed_name]),
    )


def _pad_to_source(path: Path, source: Path) -> None:
    """Pad the stem at ``path`` with silence at its end to the length of its ``source``, when both
    have one sample rate: VR models drop the last samples that do not fill an STFT hop."""
    stem, given = probe(path), probe(source)
    if stem.sample_rate != given.sample_rate or stem.frames >= given.frames:
        return
    samples, rate_hz = decode.read(path)
    padded = np.pad(samples, ((0, given.frames - stem.frames), (0, 0)))
    write_wav(path, padded, rate_hz, subtype=stem.format.split("/")[-1])


def _stem(name: str, path: Path) -> Stem:
    info = probe(path)
    return Stem(name, str(path), info.sample_rate, info.frames, info.channels)


def _slug(text: str) -> str:
    """Return ``text`` with every run of characters other than letters, digits, ``.`` and ``-``
    replaced by ``-`` (safe in file names, and no ``_`` so stage and stem stay separable)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.") or "song"
