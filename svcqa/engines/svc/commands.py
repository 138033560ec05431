"""so-vits-svc-fork's ``svc`` commands as argument lists, and running them in a workspace.

Every command is an argument list for ``python -m so_vits_svc_fork`` (the ``svc`` CLI), run with
the workspace as working directory so so-vits-svc-fork's own relative layout
(``dataset_raw`` -> ``dataset/44k`` -> ``configs/44k`` -> ``logs/44k``) lands inside it.
Nothing here imports torch; these commands only ever run in a subprocess.

Example
-------
>>> pre_hubert_argv("parselmouth")[-4:]
['-fm', 'parselmouth', '-n', '1']
>>> describe(svc_argv("train", "-c", "configs/44k/config.json"))
'svc train -c configs/44k/config.json'
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from svcqa.core.errors import JobError, ModelMissingError
from svcqa.core.settings import ConversionSettings
from svcqa.core.workspace import Workspace
from svcqa.engines.svc.contentvec import CONTENTVEC_REPO_ID, contentvec_missing_message, find_contentvec
from svcqa.engines.svc.f0 import check_f0_method
from svcqa.engines.svc.install import CONFIG_TEMPLATE
from svcqa.engines.svc.overrides import workspace_env

_RELATIVE: dict[str, str] = {
    "dataset_raw": "dataset_raw",
    "dataset_44k": "dataset/44k",
    "filelists": "filelists/44k",
    "config": "configs/44k/config.json",
    "logs": "logs/44k",
}
"""so-vits-svc-fork's layout, relative to the workspace its commands run in."""
_TAIL_LINES = 40


def svc_argv(*args: str) -> list[str]:
    """Return the argument list that runs ``svc ARGS...`` with this interpreter."""
    return [sys.executable, "-m", "so_vits_svc_fork", *args]


def _command(name: str, options: Mapping[str, str]) -> list[str]:
    return svc_argv(name, *(part for option in options.items() for part in option))


def pre_resample_argv(n_jobs: int = 1) -> list[str]:
    """Return ``svc pre-resample``: ``dataset_raw/<speaker>/*`` to 44.1 kHz ``dataset/44k``."""
    return _command(
        "pre-resample",
        {"-i": _RELATIVE["dataset_raw"], "-o": _RELATIVE["dataset_44k"], "-n": str(n_jobs)},
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
            "-fm": check_f0_method(f0_method),
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
    conversion: ConversionSettings | None = None,
) -> list[str]:
    """Return ``svc infer`` converting ``input_path`` with the generator ``model_path``.

    ``config_path`` should be the ``config.json`` beside the checkpoint (``svc train`` copies
    the config it trained with into ``logs/44k``). With ``conversion`` the noise and the slicing
    are passed too; without, ``svc infer`` uses its own command-line defaults.
    """
    options = {
        "-o": str(output_path),
        "-m": str(model_path),
        "-c": str(config_path),
        "-fm": check_f0_method(f0_method),
        "-t": str(int(transpose_semitones)),
    }
    if speaker is not None:
        options["-s"] = speaker
    if device is not None:
        options["-d"] = device
    flags = ["-a" if auto_predict_f0 else "-na"]
    if conversion is not None:
        options.update(
            {
                "-n": str(conversion.noise_scale),
                "-db": str(int(conversion.silence_threshold_db)),
                "-p": str(conversion.pad_s),
                "-ch": str(conversion.chunk_s),
                "-mc": str(conversion.max_chunk_s),
            }
        )
        flags.append("-ab" if conversion.absolute_threshold else "-nab")
    return [*_command("infer", options), *flags, "--", str(input_path)]


def describe(argv: list[str]) -> str:
    """Return ``argv`` as a user would type it (``svc pre-hubert ...`` for so-vits-svc-fork)."""
    if argv[1:3] == ["-m", "so_vits_svc_fork"]:
        return " ".join(["svc", *argv[3:]])
    return " ".join(argv)


def svc_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the variables to add for a so-vits-svc-fork subprocess: ``env`` plus live, unwrapped logs.

    Pass it to :func:`svcqa.core.jobs.start` for ``svc train``.
    """
    # A wide console keeps rich's log lines (so-vits-svc-fork logs through rich) unwrapped.
    return {"PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})}


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

    ``env`` is added after the workspace's own variables
    (:func:`svcqa.engines.svc.overrides.workspace_env`). Raises :class:`JobError` with the last
    output lines when it fails, or :class:`ModelMissingError` when it failed for want of ContentVec.
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
