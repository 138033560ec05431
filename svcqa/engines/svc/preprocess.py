"""so-vits-svc-fork's preprocessing of a workspace: dataset checks, config edits, the three commands.

Example
-------
>>> sorted(config_edits(TrainSettings())["train"])[:3]
['batch_size', 'ckpt_name_by_step', 'epochs']
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.core.errors import DatasetError, SvcqaError
from svcqa.core.files import atomic_write_text
from svcqa.core.records import Record
from svcqa.core.settings import TrainSettings
from svcqa.core.workspace import AUDIO_EXTENSIONS, Workspace
from svcqa.engines.svc.commands import (
    pre_config_argv,
    pre_hubert_argv,
    pre_resample_argv,
    run_svc,
    subprocess_env,
)
from svcqa.engines.svc.contentvec import require_contentvec
from svcqa.engines.svc.f0 import resolve_f0_method
from svcqa.engines.svc.overrides import merge_edits, workspace_config_edits, workspace_env

MIN_CLIPS_PER_SPEAKER = 5
"""``svc pre-config`` puts two clips per speaker in validation and two in test; it refuses fewer."""


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
    atomic_write_text(config_path, json.dumps(config, indent=2))
    return config


@dataclass(frozen=True)
class PreprocessReport(Record):
    """What :func:`preprocess` did: speakers and clips, the f0 method, seconds per step."""

    clips_per_speaker: dict[str, int]
    f0_method: str
    step_durations_s: dict[str, float]
    config_path: str


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
    (:func:`svcqa.engines.svc.overrides.set_workspace_overrides`) apply first, ``env`` and
    ``extra_edits`` after them.
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
    edits = merge_edits(workspace_config_edits(workspace), extra_edits)
    timed("edit-config", lambda: edit_config(workspace.config_path, train, edits))
    timed("pre-hubert", lambda: run_svc(workspace, pre_hubert_argv(f0_method, n_jobs), env, echo))
    return PreprocessReport(clips, f0_method, durations, workspace.relative(workspace.config_path))


def _empty_folder(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
