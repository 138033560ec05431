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

audio-separator downloads what is missing from its model folder and, offline, crashes on a
connection error. So before calling it this module checks the folder for the model's files and
the three data files the library reads (``download_checks.json`` always, ``mdx_model_data.json``
and ``vr_model_data.json`` for the hash-identified MDX and VR models) and raises
:class:`ModelMissingError` naming the files and the folder. ``AUDIO_SEPARATOR_MODEL_DIR``, when
set, overrides the folder, as it does inside the library.

Example
-------
>>> import tempfile
>>> import numpy as np, soundfile as sf
>>> from svcqa.demo.tiny_separation_model import build_tiny_separation_models
>>> root = Path(tempfile.mkdtemp())
>>> models = build_tiny_separation_models(root / "models", stages=("vocals",))
>>> sf.write(root / "song.wav", np.zeros((44_100, 2)), 44_100)
>>> settings = SeparationSettings(stages=("vocals",), vocals_model=models["vocals"],
...                               allow_download=False)
>>> result = separate(root / "song.wav", root / "stems", root / "models", settings)
>>> Path(result.vocals.path).name, result.vocals.num_samples
('song_vocals_vocals.wav', 44100)
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
import soundfile

from svcqa.audio.decode import check_duration, probe
from svcqa.core.errors import AudioError, ModelMissingError, SvcqaError
from svcqa.core.settings import LimitSettings, SeparationSettings
from svcqa.demo.tiny_separation_model import DOWNLOAD_CHECKS_FILE, MDX_DATA_FILE, VR_DATA_FILE

STAGES: tuple[str, ...] = ("vocals", "dereverb", "karaoke")
"""Every stage, in the order they run."""

KEPT_STEMS: dict[str, tuple[str, ...]] = {
    "vocals": ("vocals",),
    "dereverb": ("no reverb", "noreverb", "dry", "no echo"),
    "karaoke": ("vocals", "lead vocals"),
}
"""Per stage, the stem names (lower case) of the output handed to the next stage."""

MODEL_ENV_VAR = "AUDIO_SEPARATOR_MODEL_DIR"
STEM_SAMPLE_RATE_HZ = 44_100
"""audio-separator resamples input to this rate, and the UVR models were trained at it."""

# Architectures whose parameters audio-separator looks up by model hash in the two data files.
_HASHED_ARCHS = frozenset({"MDX", "VR"})
# What a failed download raises inside audio-separator (requests errors, or RuntimeError for an
# HTTP error status, or OSError when the model folder named by the env variable is missing).
_DOWNLOAD_ERRORS = (requests.RequestException, RuntimeError, OSError)

ProgressCallback = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], message)."""


@dataclass(frozen=True)
class ModelInfo:
    """One model of audio-separator's supported list, with its published scores.

    Example
    -------
    >>> info = ModelInfo("UVR-DeEcho-DeReverb.pth", "VR Arch Single Model v5: UVR-DeEcho-DeReverb",
    ...                  "VR", ("no reverb", "reverb"), "no reverb", {}, ("UVR-DeEcho-DeReverb.pth",),
    ...                  False)
    >>> info.required_files
    ('download_checks.json', 'UVR-DeEcho-DeReverb.pth', 'mdx_model_data.json', 'vr_model_data.json')
    """

    filename: str
    name: str
    """audio-separator's friendly name, e.g. ``Roformer Model: BS-Roformer-Viperx-1297``."""
    arch: str
    """``MDX``, ``VR``, ``MDXC`` (MDX23C and Roformer) or ``Demucs``."""
    stems: tuple[str, ...]
    target_stem: str | None
    scores_db: dict[str, dict[str, float]]
    """Median scores on MUSDB18-HQ per stem: SDR, SIR, SAR, ISR in dB (empty when unscored)."""
    files: tuple[str, ...]
    """The model's own files (weights, config) in the model folder."""
    installed: bool
    """Every file of :attr:`required_files` is in the model folder."""

    @property
    def required_files(self) -> tuple[str, ...]:
        """Return every file audio-separator reads from the model folder for this model."""
        return _required_files(self.arch, self.files)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["stems"], data["files"] = list(self.stems), list(self.files)
        return data


@dataclass(frozen=True)
class Stem:
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
        return {**asdict(self), "duration_s": self.duration_s}


@dataclass(frozen=True)
class StageResult:
    """The two stems one stage wrote: the one it hands on and the one it took out."""

    stage: str
    model_filename: str
    kept: Stem
    removed: Stem

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "stage": self.stage,
            "model_filename": self.model_filename,
            "kept": self.kept.to_dict(),
            "removed": self.removed.to_dict(),
        }


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


def model_folder(model_dir: Path) -> Path:
    """Return the folder audio-separator will use: ``AUDIO_SEPARATOR_MODEL_DIR`` or ``model_dir``."""
    return Path(os.environ.get(MODEL_ENV_VAR) or model_dir).expanduser().absolute()


def supported_models(model_dir: Path, allow_download: bool = False) -> tuple[ModelInfo, ...]:
    """Return audio-separator's supported models with scores, marking those installed.

    The list is UVR's ``download_checks.json`` (from the model folder) merged with the lists and
    scores bundled in the audio-separator wheel, exactly as ``Separator`` sees it.

    Parameters
    ----------
    model_dir : Path
        The model folder (``AUDIO_SEPARATOR_MODEL_DIR`` overrides it).
    allow_download : bool
        Let audio-separator download ``download_checks.json`` when it is missing.

    Returns
    -------
    tuple of ModelInfo
        Sorted by architecture, then name.

    Raises
    ------
    ModelMissingError
        ``download_checks.json`` is missing and may not, or could not, be downloaded.
    """
    folder = model_folder(model_dir)
    needs_download = not (folder / DOWNLOAD_CHECKS_FILE).is_file()
    if needs_download and not allow_download:
        raise ModelMissingError(_missing_message([DOWNLOAD_CHECKS_FILE], folder))
    try:
        # Separator() switches warnings off for the whole process; keep that inside this block.
        # audio-separator imports torch (seconds), so it is imported only when needed.
        with warnings.catch_warnings():
            from audio_separator.separator import Separator

            listing = Separator(
                log_level=logging.WARNING, model_file_dir=str(folder), info_only=True
            ).list_supported_model_files()
    except _DOWNLOAD_ERRORS as exc:
        if not needs_download:
            raise
        raise ModelMissingError(_missing_message([DOWNLOAD_CHECKS_FILE], folder, exc)) from exc
    infos = [
        _model_info(arch, name, entry, folder)
        for arch, models in listing.items()
        for name, entry in models.items()
    ]
    return tuple(sorted(infos, key=lambda info: (info.arch, info.name)))


def find_model(models: Iterable[ModelInfo], model_filename: str) -> ModelInfo:
    """Return the model whose file (or one of whose files) is ``model_filename``.

    Raises
    ------
    SvcqaError
        audio-separator does not support a model of that file name.
    """
    for info in models:
        if model_filename in (info.filename, *info.files):
            return info
    raise SvcqaError(
        f"{model_filename} is not in audio-separator's supported model list; choose one of the listed models."
    )


def missing_files(info: ModelInfo, model_dir: Path) -> tuple[str, ...]:
    """Return the files of ``info.required_files`` absent from the model folder, in order."""
    folder = model_folder(model_dir)
    return tuple(name for name in info.required_files if not (folder / name).is_file())


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
        Stems at 44.1 kHz; with 44.1 kHz input, exactly as long as the input (a song chunked for
        being longer than ``chunk_duration_s`` may differ by up to 1 ms per chunk).

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
    catalogue = supported_models(folder, settings.allow_download)
    plan = [(stage, find_model(catalogue, _stage_model(settings, stage))) for stage in stages]
    missing = {stage: missing_files(info, folder) for stage, info in plan}
    if not settings.allow_download and any(missing.values()):
        names = sorted({name for files in missing.values() for name in files})
        raise ModelMissingError(_missing_message(names, folder))

    report = progress or (lambda fraction, message: None)
    base = _slug(song.stem)
    results: list[StageResult] = []
    # Separator() switches warnings off for the whole process; keep that inside this block.
    with warnings.catch_warnings():
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
            _load_model(separator, info, missing[stage], folder)
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


def _load_model(separator: Any, info: ModelInfo, missing: tuple[str, ...], folder: Path) -> None:
    try:
        separator.load_model(info.filename)
    except _DOWNLOAD_ERRORS as exc:
        if not missing:
            raise
        raise ModelMissingError(_missing_message(missing, folder, exc)) from exc


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
    removed_name = next(name for name in stem_names if name != kept_name)
    return StageResult(
        stage=stage,
        model_filename=info.filename,
        kept=_stem(kept_name, expected[kept_name]),
        removed=_stem(removed_name, expected[removed_name]),
    )


def _stem(name: str, path: Path) -> Stem:
    header = soundfile.info(str(path))
    return Stem(name, str(path), int(header.samplerate), int(header.frames), int(header.channels))


def _model_info(arch: str, name: str, entry: dict[str, Any], folder: Path) -> ModelInfo:
    files = tuple(dict.fromkeys(Path(f).name for f in entry.get("download_files", ())))
    scores = {
        stem: {metric: float(value) for metric, value in metrics.items()}
        for stem, metrics in (entry.get("scores") or {}).items()
        if isinstance(metrics, dict)
    }
    files = files or (entry["filename"],)
    return ModelInfo(
        filename=entry["filename"],
        name=name,
        arch=arch,
        stems=tuple(entry.get("stems") or ()),
        target_stem=entry.get("target_stem"),
        scores_db=scores,
        files=files,
        installed=all((folder / f).is_file() for f in _required_files(arch, files)),
    )


def _required_files(arch: str, files: tuple[str, ...]) -> tuple[str, ...]:
    data_files = (MDX_DATA_FILE, VR_DATA_FILE) if arch in _HASHED_ARCHS else ()
    return (DOWNLOAD_CHECKS_FILE, *files, *data_files)


def _missing_message(names: Iterable[str], folder: Path, error: BaseException | None = None) -> str:
    reason = f" Downloading failed ({error})." if error else ""
    return (
        f"Separation needs {', '.join(names)} in the model folder {folder}, and it is not there."
        f"{reason} Download the file(s) on a machine with network (audio-separator's model "
        f"repository) and put them in {folder}, or allow downloads where there is network."
    )


def _slug(text: str) -> str:
    """Return ``text`` with every run of characters other than letters, digits, ``.`` and ``-``
    replaced by ``-`` (safe in file names, and no ``_`` so stage and stem stay separable)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.") or "song"
