"""audio-separator's models: which exist, which files each needs, which fit a stage, what is missing.

audio-separator downloads what is missing from its model folder and, offline, crashes on a
connection error. Before anything runs, :func:`missing_model_files` checks the folder for each
stage's model file and the three data files the library reads (``download_checks.json`` always,
``mdx_model_data.json`` and ``vr_model_data.json`` for the hash-identified MDX and VR models),
and :func:`missing_models_message` names every missing file and the folder in one message. This
works before ``download_checks.json`` is there: a model is then looked up in the lists bundled
with the audio-separator wheel. ``AUDIO_SEPARATOR_MODEL_DIR``, when set, overrides the folder, as
it does inside the library.

Example
-------
>>> info = ModelInfo("UVR-DeEcho-DeReverb.pth", "VR Arch Single Model v5: UVR-DeEcho-DeReverb",
...                  "VR", ("no reverb", "reverb"), "no reverb", {}, ("UVR-DeEcho-DeReverb.pth",),
...                  False)
>>> info.required_files
('download_checks.json', 'UVR-DeEcho-DeReverb.pth', 'mdx_model_data.json', 'vr_model_data.json')
>>> models_for_stage([info], "dereverb")
('UVR-DeEcho-DeReverb.pth',)
"""

from __future__ import annotations

import functools
import json
import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import requests

from svcqa.core.errors import ModelMissingError, SvcqaError
from svcqa.core.records import Record
from svcqa.core.settings import SeparationSettings

STAGES: tuple[str, ...] = ("vocals", "dereverb", "karaoke")
"""Every separation stage, in the order they run."""

KEPT_STEMS: dict[str, tuple[str, ...]] = {
    "vocals": ("vocals",),
    "dereverb": ("no reverb", "noreverb", "dry", "no echo"),
    "karaoke": ("vocals", "lead vocals"),
}
"""Per stage, the stem names (lower case) of the output handed to the next stage."""

MODEL_ENV_VAR = "AUDIO_SEPARATOR_MODEL_DIR"
DOWNLOAD_CHECKS_FILE = "download_checks.json"
MDX_DATA_FILE = "mdx_model_data.json"
VR_DATA_FILE = "vr_model_data.json"
DATA_FILES: tuple[str, ...] = (DOWNLOAD_CHECKS_FILE, MDX_DATA_FILE, VR_DATA_FILE)
"""The data files audio-separator reads from the model folder (not models themselves)."""

DOWNLOAD_ERRORS = (requests.RequestException, RuntimeError, OSError)
"""What a failed download raises inside audio-separator (requests errors, RuntimeError for an
HTTP error status, or OSError when the model folder named by the env variable is missing)."""

# Architectures whose parameters audio-separator looks up by model hash in the two data files.
_HASHED_ARCHS = frozenset({"MDX", "VR"})
_KARAOKE_WORDS = ("karaoke", "kara")
# Friendly-name prefixes of audio-separator's bundled scores, and file suffixes, to architectures.
_NAME_ARCHS = (
    ("VR Arch", "VR"),
    ("MDX-Net", "MDX"),
    ("MDX23C", "MDXC"),
    ("Roformer", "MDXC"),
    ("Demucs", "Demucs"),
)
_SUFFIX_ARCHS = {".pth": "VR", ".onnx": "MDX", ".ckpt": "MDXC", ".yaml": "Demucs"}
_REASON_CHARS = 200


@dataclass(frozen=True)
class ModelInfo(Record):
    """One model of audio-separator's supported list, with its published scores."""

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
        return required_files(self.arch, self.files)


def model_folder(model_dir: Path) -> Path:
    """Return the folder audio-separator will use: ``AUDIO_SEPARATOR_MODEL_DIR`` or ``model_dir``."""
    return Path(os.environ.get(MODEL_ENV_VAR) or model_dir).expanduser().absolute()


def required_files(arch: str, files: Iterable[str]) -> tuple[str, ...]:
    """Return the files audio-separator reads for a model of ``arch`` made of ``files``."""
    data_files = (MDX_DATA_FILE, VR_DATA_FILE) if arch in _HASHED_ARCHS else ()
    return (DOWNLOAD_CHECKS_FILE, *files, *data_files)


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
        raise ModelMissingError(missing_models_message({"": (DOWNLOAD_CHECKS_FILE,)}, folder))
    try:
        # Separator() switches warnings off for the whole process; keep that inside this block.
        # audio-separator imports torch (seconds), so it is imported only when needed.
        with warnings.catch_warnings():
            from audio_separator.separator import Separator

            listing = Separator(
                log_level=logging.WARNING, model_file_dir=str(folder), info_only=True
            ).list_supported_model_files()
    except DOWNLOAD_ERRORS as exc:
        if not needs_download:
            raise
        raise ModelMissingError(missing_models_message({"": (DOWNLOAD_CHECKS_FILE,)}, folder, exc)) from exc
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


def missing_model_files(
    model_dir: Path, settings: SeparationSettings, stages: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Return, per stage, the files its model needs (data files included) that are not in the folder.

    With ``download_checks.json`` in the folder the exact list is read from it, and a model
    audio-separator does not support raises :class:`SvcqaError`; without it, the model is looked
    up in the lists bundled with audio-separator (a model listed nowhere is taken as its own file
    plus the data files its file type needs).
    """
    folder = model_folder(model_dir)
    names = {stage: str(getattr(settings, f"{stage}_model")) for stage in stages}
    if (folder / DOWNLOAD_CHECKS_FILE).is_file():
        catalogue = supported_models(folder)
        return {stage: missing_files(find_model(catalogue, name), folder) for stage, name in names.items()}
    return {
        stage: tuple(f for f in required_files(*_bundled_model(name)) if not (folder / f).is_file())
        for stage, name in names.items()
    }


def missing_models_message(
    missing: Mapping[str, Iterable[str]], model_dir: Path, error: BaseException | None = None
) -> str:
    """Return one plain message naming every missing file (data files, then each stage's model
    files) and the folder they go in; ``error`` is why downloading them failed, if it was tried."""
    folder = model_folder(model_dir)
    files = {stage: tuple(names) for stage, names in missing.items()}
    data = [name for name in DATA_FILES if any(name in names for names in files.values())]
    parts = [f"{', '.join(data)} (audio-separator's data files)"] if data else []
    for stage, names in files.items():
        models = [name for name in names if name not in DATA_FILES]
        if models:
            parts.append(f"{', '.join(models)} (the {stage} model)")
    reason = f" Downloading them failed: {_short(error)}." if error is not None else ""
    return (
        f"Separation needs files that are not in the model folder {folder}: {'; '.join(parts)}.{reason} "
        f"Download them on a machine with network (audio-separator's model repository) and put them in "
        f"{folder}, or allow downloads where there is network."
    )


def check_models(model_dir: Path, settings: SeparationSettings, stages: Iterable[str]) -> None:
    """Raise :class:`ModelMissingError` naming every missing file and the folder, if any is missing."""
    missing = missing_model_files(model_dir, settings, stages)
    if any(missing.values()):
        raise ModelMissingError(missing_models_message(missing, model_dir))


def models_for_stage(models: Iterable[ModelInfo], stage: str, current: str | None = None) -> tuple[str, ...]:
    """Return the file names of the models fit for separation ``stage``, best first.

    A model fits when it writes exactly two stems, one of which the stage hands on; karaoke
    models (by name) go to the ``karaoke`` stage only. Installed models come first, then by
    the published SDR of the kept stem. ``current`` is always included, first.
    """
    kept = KEPT_STEMS[stage]
    fitting = []
    for info in models:
        stems = [s.lower() for s in info.stems]
        is_karaoke = any(word in f"{info.name} {info.filename}".lower() for word in _KARAOKE_WORDS)
        if len(stems) != 2 or not set(stems) & set(kept) or is_karaoke != (stage == "karaoke"):
            continue
        fitting.append(info)

    def rank(info: ModelInfo) -> tuple[bool, float, str]:
        kept_stem = next((s for s in info.stems if s.lower() in kept), "")
        sdr = info.scores_db.get(kept_stem, {}).get("SDR", float("-inf"))
        return (not info.installed, -sdr, info.name)

    names = [info.filename for info in sorted(fitting, key=rank)]
    if current:
        names = [current, *(n for n in names if n != current)]
    return tuple(names)


def _model_info(arch: str, name: str, entry: dict[str, Any], folder: Path) -> ModelInfo:
    files = tuple(dict.fromkeys(Path(f).name for f in entry.get("download_files", ()))) or (
        entry["filename"],
    )
    scores = {
        stem: {metric: float(value) for metric, value in metrics.items()}
        for stem, metrics in (entry.get("scores") or {}).items()
        if isinstance(metrics, dict)
    }
    return ModelInfo(
        filename=entry["filename"],
        name=name,
        arch=arch,
        stems=tuple(entry.get("stems") or ()),
        target_stem=entry.get("target_stem"),
        scores_db=scores,
        files=files,
        installed=all((folder / f).is_file() for f in required_files(arch, files)),
    )


def _bundled_model(filename: str) -> tuple[str, tuple[str, ...]]:
    """Return the architecture and files of ``filename`` from audio-separator's bundled lists,
    else from its file type."""
    known = _bundled_models().get(filename)
    if known is not None:
        return known
    return _SUFFIX_ARCHS.get(Path(filename).suffix.lower(), "VR"), (filename,)


@functools.cache
def _bundled_models() -> dict[str, tuple[str, tuple[str, ...]]]:
    package = resources.files("audio_separator")
    scores = json.loads(package.joinpath("models-scores.json").read_text(encoding="utf-8"))
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for filename, entry in scores.items():
        name = str(entry.get("model_name", "")) if isinstance(entry, dict) else ""
        arch = next((arch for prefix, arch in _NAME_ARCHS if name.startswith(prefix)), None)
        if arch is not None:
            found[filename] = (arch, (filename,))
    lists = json.loads(package.joinpath("models.json").read_text(encoding="utf-8"))
    for key, arch in (("vr_download_list", "VR"), ("mdx_download_list", "MDX")):
        for filename in lists.get(key, {}).values():
            found[filename] = (arch, (filename,))
    for key in ("mdx23c_download_list", "roformer_download_list"):
        for files in lists.get(key, {}).values():
            # The weights are the keys, their configs the values.
            names = tuple(dict.fromkeys([*files.keys(), *files.values()]))
            found[names[0]] = ("MDXC", names)
    return found


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    return first if len(first) <= _REASON_CHARS else f"{first[:_REASON_CHARS]}..."
