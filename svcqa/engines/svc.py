"""The one adapter to so-vits-svc-fork (4.2.30): its commands, its config, its models.

Every command is an argument list for ``python -m so_vits_svc_fork`` (the ``svc`` CLI), run with
the workspace as working directory so so-vits-svc-fork's own relative layout
(``dataset_raw`` -> ``dataset/44k`` -> ``configs/44k`` -> ``logs/44k``) lands inside it.
Nothing here imports torch; so-vits-svc-fork only ever runs in a subprocess.

Example
-------
>>> pre_hubert_argv("parselmouth")[-4:]
['-fm', 'parselmouth', '-n', '1']
"""

from __future__ import annotations

import ast
import collections
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.core.errors import DatasetError, JobError, ModelMissingError, SvcqaError
from svcqa.core.settings import TrainSettings
from svcqa.core.workspace import AUDIO_EXTENSIONS, Workspace

CONFIG_TEMPLATE = "so-vits-svc-4.0v1"
CONTENTVEC_REPO_ID = "lengyue233/content-vec-best"
"""The Hugging Face model id so-vits-svc-fork 4.2.30 loads ContentVec from (``utils.get_hubert_model``)."""
CONTENTVEC_CACHE_FOLDER = "models--" + CONTENTVEC_REPO_ID.replace("/", "--")
MIN_CLIPS_PER_SPEAKER = 5
"""``svc pre-config`` puts two clips per speaker in validation and two in test; it refuses fewer."""

F0_METHODS_BY_ACCURACY: tuple[str, ...] = ("crepe", "crepe-tiny", "harvest", "parselmouth", "dio")
"""Pitch trackers svcqa knows, most accurate first (rmvpe is not in so-vits-svc-fork 4.2.30)."""

_F0_METHOD_MODULES: dict[str, str] = {
    "crepe": "torchcrepe",
    "crepe-tiny": "torchcrepe",
    "harvest": "pyworld",
    "parselmouth": "parselmouth",
    "dio": "pyworld",
}
_CONTENTVEC_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_RELATIVE = {
    "dataset_raw": "dataset_raw",
    "dataset_44k": "dataset/44k",
    "filelists": "filelists/44k",
    "config": "configs/44k/config.json",
    "logs": "logs/44k",
}
_TAIL_LINES = 40


# -- commands -------------------------------------------------------------------------------
def svc_argv(*args: str) -> list[str]:
    """Return the argument list that runs ``svc ARGS...`` with this interpreter."""
    return [sys.executable, "-m", "so_vits_svc_fork", *args]


def _command(name: str, options: Mapping[str, str]) -> list[str]:
    return svc_argv(name, *(part for option in options.items() for part in option))


def pre_resample_argv(n_jobs: int = 1) -> list[str]:
    """Return ``svc pre-resample``: ``dataset_raw/<speaker>/*`` to 44.1 kHz ``dataset/44k``."""
    return _command(
        "pre-resample", {"-i": _RELATIVE["dataset_raw"], "-o": _RELATIVE["dataset_44k"], "-n": str(n_jobs)}
    )


def pre_config_argv(template: str = CONFIG_TEMPLATE) -> list[str]:
    """Return ``svc pre-config``: file lists and ``configs/44k/config.json`` from ``template``."""
    return _command(
        "pre-config",
        {
            "-i": _RELATIVE["dataset_44k"],
            "-f": _RELATIVE["filelists"],
            "-c": _RELATIVE["config"],
            "-t": template,
        },
    )


def pre_hubert_argv(f0_method: str, n_jobs: int = 1) -> list[str]:
    """Return ``svc pre-hubert``: ContentVec features and f0 with ``f0_method`` per clip."""
    return _command(
        "pre-hubert",
        {
            "-i": _RELATIVE["dataset_44k"],
            "-c": _RELATIVE["config"],
            "-fm": _check_f0_method(f0_method),
            "-n": str(n_jobs),
        },
    )


def train_argv(reset_optimizer: bool = False) -> list[str]:
    """Return ``svc train``; it resumes from the newest ``logs/44k/G_*.pth``/``D_*.pth`` pair."""
    argv = svc_argv("train", "-c", _RELATIVE["config"], "-m", _RELATIVE["logs"])
    return [*argv, "-r"] if reset_optimizer else argv


def infer_argv(
    input_path: Path,
    output_path: Path,
    model_path: Path,
    config_path: Path,
    f0_method: str,
    speaker: str | None = None,
    transpose_semitones: int = 0,
    auto_predict_f0: bool = False,
    device: str | None = None,
) -> list[str]:
    """Return ``svc infer`` converting ``input_path`` with the generator ``model_path``.

    ``config_path`` should be the ``config.json`` beside the checkpoint (``svc train`` copies
    the config it trained with into ``logs/44k``).
    """
    options = {
        "-o": str(output_path),
        "-m": str(model_path),
        "-c": str(config_path),
        "-fm": _check_f0_method(f0_method),
        "-t": str(int(transpose_semitones)),
    }
    if speaker is not None:
        options["-s"] = speaker
    if device is not None:
        options["-d"] = device
    return [*_command("infer", options), "-a" if auto_predict_f0 else "-na", "--", str(input_path)]


def describe(argv: list[str]) -> str:
    """Return ``argv`` as a user would type it (``svc pre-hubert ...`` for so-vits-svc-fork)."""
    if argv[1:3] == ["-m", "so_vits_svc_fork"]:
        return " ".join(["svc", *argv[3:]])
    return " ".join(argv)


# -- f0 methods -----------------------------------------------------------------------------
def package_dir() -> Path:
    """Return the folder of the installed so_vits_svc_fork package, without importing it."""
    spec = importlib.util.find_spec("so_vits_svc_fork")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            "so-vits-svc-fork is not installed. Install the project's requirements "
            "(pip install so-vits-svc-fork==4.2.30)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def config_template_path(template: str = CONFIG_TEMPLATE) -> Path:
    """Return the config template ``svc pre-config -t template`` starts from."""
    return package_dir() / "preprocessing" / "config_templates" / f"{template}.json"


def supported_f0_methods() -> tuple[str, ...]:
    """Return the f0 methods the installed so-vits-svc-fork accepts, read from its source.

    The list is the ``Literal`` of ``so_vits_svc_fork.f0.compute_f0``'s ``method`` argument,
    parsed without importing the package (which would import torch).
    """
    source = package_dir() / "f0.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "compute_f0":
            for arg in node.args.args:
                if arg.arg == "method" and isinstance(arg.annotation, ast.Subscript):
                    return tuple(ast.literal_eval(arg.annotation.slice))
    raise SvcqaError(f"Could not read the f0 methods from {source}; is so-vits-svc-fork 4.2.30?")


def available_f0_methods() -> tuple[str, ...]:
    """Return the f0 methods that so-vits-svc-fork supports and can run here, most accurate first."""
    supported = set(supported_f0_methods())
    return tuple(
        method
        for method in F0_METHODS_BY_ACCURACY
        if method in supported and importlib.util.find_spec(_F0_METHOD_MODULES[method]) is not None
    )


CPU_F0_METHOD = "parselmouth"
"""What ``auto`` picks without a CUDA GPU: crepe is the most accurate but takes many minutes per
minute of audio on a CPU, while Praat's tracker runs hundreds of times faster than real time."""


def resolve_f0_method(name: str) -> str:
    """Return ``name``, or for ``"auto"`` the most accurate method this machine runs in reasonable
    time: crepe with a CUDA GPU, else :data:`CPU_F0_METHOD` when installed."""
    available = available_f0_methods()
    if name == "auto":
        if not available:
            raise ModelMissingError(
                "No pitch tracker for so-vits-svc-fork is installed "
                "(install torchcrepe, praat-parselmouth or pyworld)."
            )
        if CPU_F0_METHOD in available and not _has_cuda():
            return CPU_F0_METHOD
        return available[0]
    if name not in available:
        raise SvcqaError(f"f0 method {name!r} is not available here; choose one of {', '.join(available)}.")
    return name


def _has_cuda() -> bool:
    """Return True when torch sees a CUDA GPU (imports torch only when asked)."""
    import torch

    return bool(torch.cuda.is_available())


def _check_f0_method(name: str) -> str:
    if name not in F0_METHODS_BY_ACCURACY:
        raise SvcqaError(
            f"Unknown f0 method {name!r}; so-vits-svc-fork 4.2.30 knows {', '.join(F0_METHODS_BY_ACCURACY)}."
        )
    return name


# -- ContentVec -----------------------------------------------------------------------------
def hub_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the Hugging Face hub cache a subprocess with ``env`` (default: ours) reads."""
    env = os.environ if env is None else env
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return Path(os.path.expandvars(env[name])).expanduser()
    if env.get("HF_HOME"):
        return Path(os.path.expandvars(env["HF_HOME"])).expanduser() / "hub"
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "huggingface" / "hub"


def find_contentvec(env: Mapping[str, str] | None = None) -> Path | None:
    """Return the cached ContentVec snapshot folder so-vits-svc-fork would load, or None."""
    from huggingface_hub import try_to_load_from_cache

    cache_dir = hub_cache_dir(env)
    config = try_to_load_from_cache(CONTENTVEC_REPO_ID, "config.json", cache_dir=cache_dir)
    if not isinstance(config, str):
        return None
    snapshot = Path(config).parent
    if not any((snapshot / name).is_file() for name in _CONTENTVEC_WEIGHT_FILES):
        return None
    return snapshot


def is_offline(env: Mapping[str, str] | None = None) -> bool:
    """Return True when ``env`` tells Hugging Face libraries not to download (HF_HUB_OFFLINE)."""
    env = os.environ if env is None else env
    return env.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def require_contentvec(env: Mapping[str, str] | None = None) -> Path | None:
    """Return the cached ContentVec snapshot, or None when it is absent but may be downloaded.

    Raises :class:`ModelMissingError` when it is absent and ``env`` is offline, with a message
    that says what to download and where it goes.
    """
    snapshot = find_contentvec(env)
    if snapshot is None and is_offline(env):
        raise ModelMissingError(contentvec_missing_message(env))
    return snapshot


def contentvec_missing_message(env: Mapping[str, str] | None = None) -> str:
    """Return what to download, and where to put it, when ContentVec is not cached."""
    cache_dir = hub_cache_dir(env)
    return (
        f"ContentVec weights are missing: so-vits-svc-fork loads the Hugging Face model "
        f"{CONTENTVEC_REPO_ID} (config.json and pytorch_model.bin) for pre-hubert and infer, and "
        f"it is not in the Hugging Face cache {cache_dir}. On a machine with internet run "
        f"`hf download {CONTENTVEC_REPO_ID}` with HF_HUB_CACHE={cache_dir}, or copy a downloaded "
        f"{CONTENTVEC_CACHE_FOLDER} folder into {cache_dir}, then run this step again."
    )


# -- dataset and config ---------------------------------------------------------------------
def check_dataset_raw(workspace: Workspace) -> dict[str, int]:
    """Return the number of audio clips per speaker in ``dataset_raw``, checked for so-vits-svc-fork.

    Raises :class:`DatasetError` when there is no speaker folder, a speaker has fewer than
    :data:`MIN_CLIPS_PER_SPEAKER` clips, or ``dataset_raw`` holds a file or a dotted folder
    name at its top level: ``svc pre-resample`` 4.2.30 then pairs every later input with the
    wrong output name.
    """
    root = workspace.dataset_raw
    if not root.is_dir():
        raise DatasetError(f"{root} does not exist: prepare the dataset first.")
    misplaced = sorted(p.name for p in root.iterdir() if p.is_file() or "." in p.name)
    if misplaced:
        raise DatasetError(
            f"{root} must hold only speaker folders (without dots in their names), but it holds "
            f"{', '.join(misplaced)}. Move or rename these, then run preprocessing again."
        )
    counts = {
        speaker: sum(
            1 for p in (root / speaker).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
        )
        for speaker in workspace.speakers()
    }
    if not counts:
        raise DatasetError(f"{root} has no speaker folder: prepare the dataset first.")
    short = {speaker: n for speaker, n in counts.items() if n < MIN_CLIPS_PER_SPEAKER}
    if short:
        listed = ", ".join(f"{speaker} ({n})" for speaker, n in short.items())
        raise DatasetError(
            f"so-vits-svc-fork needs at least {MIN_CLIPS_PER_SPEAKER} clips per speaker; too few in {listed}."
        )
    return counts


def config_edits(train: TrainSettings) -> dict[str, dict[str, Any]]:
    """Return the edits svcqa makes to the generated config, per section, from ``train``.

    ``keep_ckpts`` 0 so no checkpoint is rotated away before it is compared, and
    ``ckpt_name_by_step`` so files are named ``G_<step>.pth``.
    """
    if train.num_workers < 1:
        raise SvcqaError(
            "num_workers must be at least 1: so-vits-svc-fork 4.2.30 uses persistent DataLoader "
            "workers, which fail with 0."
        )
    return {
        "train": {
            "keep_ckpts": 0,
            "ckpt_name_by_step": True,
            "batch_size": train.batch_size,
            "log_interval": train.log_interval,
            "eval_interval": train.eval_interval,
            "epochs": train.epochs,
            "num_workers": train.num_workers,
        }
    }


def edit_config(
    config_path: Path, train: TrainSettings, extra: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Return the config at ``config_path`` after applying :func:`config_edits` then ``extra``.

    ``extra`` maps a section (``train``, ``model``, ``data``) to keys to set, applied last
    (e.g. :data:`svcqa.demo.tiny_models.TINY_CONFIG_EDITS`). The file is replaced atomically.
    """
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"Config {config_path} is unreadable ({exc}): run `svc pre-config` again."
        ) from exc
    for edits in (config_edits(train), extra or {}):
        for section, values in edits.items():
            config.setdefault(section, {}).update(values)
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2), encoding="utf-8")
    tmp.replace(config_path)
    return config


# -- running --------------------------------------------------------------------------------
def svc_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the variables to add for a so-vits-svc-fork subprocess: ``env`` plus live, unwrapped logs.

    Pass it to :func:`svcqa.core.jobs.start` for ``svc train``.
    """
    # A wide console keeps rich's log lines (so-vits-svc-fork logs through rich) unwrapped.
    return {"PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})}


def workspace_overrides_path(workspace: Workspace) -> Path:
    """Return the file of what every so-vits-svc-fork run of ``workspace`` gets (env, config edits)."""
    return workspace.svc_overrides_path


def _workspace_overrides(workspace: Workspace) -> dict[str, Any]:
    path = workspace_overrides_path(workspace)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SvcqaError(f"{path} is unreadable ({exc}); fix or delete it.") from exc
    return data if isinstance(data, dict) else {}


def workspace_env(workspace: Workspace) -> dict[str, str]:
    """Return the variables every so-vits-svc-fork run of ``workspace`` gets ({} when none are set).

    The demo workspace keeps its own offline Hugging Face cache here, so its stand-in
    ContentVec is used for its preprocessing, training and rendering, and nowhere else.
    """
    env = _workspace_overrides(workspace).get("env") or {}
    return {str(key): str(value) for key, value in env.items()}


def workspace_config_edits(workspace: Workspace) -> dict[str, dict[str, Any]]:
    """Return the config edits every preprocessing of ``workspace`` applies ({} when none are set)."""
    edits = _workspace_overrides(workspace).get("config_edits") or {}
    return {str(section): dict(values) for section, values in edits.items()}


def set_workspace_overrides(
    workspace: Workspace,
    env: Mapping[str, str] | None = None,
    config_edits: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Store what every later so-vits-svc-fork run of ``workspace`` gets: ``env`` and ``config_edits``."""
    path = workspace_overrides_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "env": dict(env or {}),
        "config_edits": {section: dict(values) for section, values in (config_edits or {}).items()},
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def _merge_edits(*edits: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for group in edits:
        for section, values in (group or {}).items():
            merged.setdefault(section, {}).update(values)
    return merged


def subprocess_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the full environment of a so-vits-svc-fork subprocess: ours plus :func:`svc_env`."""
    return {**os.environ, **svc_env(env)}


def run_svc(
    workspace: Workspace,
    argv: list[str],
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Run ``argv`` in the workspace until it ends, passing each output line to ``echo``.

    ``env`` is added after the workspace's own variables (:func:`workspace_env`). Raises
    :class:`JobError` with the last output lines when it fails, or :class:`ModelMissingError`
    when it failed for want of ContentVec.
    """
    full_env = subprocess_env({**workspace_env(workspace), **(env or {})})
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    try:
        process = subprocess.Popen(
            argv,
            cwd=workspace.root,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise JobError(f"Could not start `{describe(argv)}`: {exc}") from exc
    assert process.stdout is not None
    mentions_contentvec = False
    with process:
        for raw in process.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            mentions_contentvec = mentions_contentvec or CONTENTVEC_REPO_ID in line
            if echo is not None:
                echo(line)
    if process.returncode == 0:
        return
    output = "\n".join(tail)
    if mentions_contentvec and find_contentvec(full_env) is None:
        raise ModelMissingError(contentvec_missing_message(full_env))
    raise JobError(f"`{describe(argv)}` failed with exit code {process.returncode}. Last lines:\n{output}")


@dataclass(frozen=True)
class PreprocessReport:
    """What :func:`preprocess` did: speakers and clips, the f0 method, seconds per step."""

    clips_per_speaker: dict[str, int]
    f0_method: str
    step_durations_s: dict[str, float]
    config_path: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "clips_per_speaker": dict(self.clips_per_speaker),
            "f0_method": self.f0_method,
            "step_durations_s": dict(self.step_durations_s),
            "config_path": self.config_path,
        }


def preprocess(
    workspace: Workspace,
    train: TrainSettings,
    *,
    extra_edits: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
    n_jobs: int = 1,
    echo: Callable[[str], None] | None = None,
) -> PreprocessReport:
    """Return the report of running pre-resample, pre-config, the config edits and pre-hubert.

    ``dataset/44k`` and ``filelists/44k`` are derived data and are emptied first, so a clip
    removed from ``dataset_raw`` does not linger in training. ContentVec is checked before
    anything runs. The workspace's own variables and config edits
    (:func:`set_workspace_overrides`) apply first, ``env`` and ``extra_edits`` after them.
    """
    clips = check_dataset_raw(workspace)
    f0_method = resolve_f0_method(train.f0_method)
    require_contentvec(subprocess_env({**workspace_env(workspace), **(env or {})}))
    for derived in (workspace.dataset_44k, workspace.filelists_44k):
        _empty_folder(derived)
    durations: dict[str, float] = {}

    def timed(step: str, action: Callable[[], object]) -> None:
        started = time.perf_counter()
        if echo is not None:
            echo(f"== {step}")
        action()
        durations[step] = round(time.perf_counter() - started, 2)

    timed("pre-resample", lambda: run_svc(workspace, pre_resample_argv(n_jobs), env, echo))
    timed("pre-config", lambda: run_svc(workspace, pre_config_argv(), env, echo))
    edits = _merge_edits(workspace_config_edits(workspace), extra_edits)
    timed("edit-config", lambda: edit_config(workspace.config_path, train, edits))
    timed("pre-hubert", lambda: run_svc(workspace, pre_hubert_argv(f0_method, n_jobs), env, echo))
    return PreprocessReport(clips, f0_method, durations, workspace.relative(workspace.config_path))


def _empty_folder(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
