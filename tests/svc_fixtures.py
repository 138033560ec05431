"""Session fixtures for so-vits-svc-fork runs: a tiny offline ContentVec, a preprocessed toy
workspace, and one short real training, each built once per test session.

A test module loads them with ``pytest_plugins = ["tests.svc_fixtures"]``; pytest registers
the plugin once, so every module that names it shares the same session fixtures. Take what a
test needs from the fixture objects rather than importing this module (pytest warns when a
plugin was imported before it registered it).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf

from svcqa.core import jobs
from svcqa.core.settings import TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.demo.synth import sung_phrase
from svcqa.demo.tiny_models import build_tiny_contentvec, tiny_config_edits, tiny_env, tiny_train_settings
from svcqa.engines import svc

SPEAKER = "singer"
N_CLIPS = 8
"""pre-config keeps 2 clips for validation and 2 for test, so 4 train: 2 batches of 2 per epoch."""
CLIP_S = 3.0
TINY_TRAIN: TrainSettings = dataclasses.replace(tiny_train_settings(), eval_interval=10, log_interval=5)
FIRST_STEP = TINY_TRAIN.eval_interval
TRAIN_TIMEOUT_S = 480.0
"""About 1 step/s on an idle 2-core CPU, but other work on the machine can slow it tenfold."""


@dataclass(frozen=True)
class TinyPreprocessed:
    """A workspace after pre-resample, pre-config (+ edits) and pre-hubert, and how long it took."""

    workspace: Workspace
    report: svc.PreprocessReport
    train: TrainSettings
    env: dict[str, str]

    def copy_to(self, target: Path) -> Workspace:
        """Return a workspace of the caller's own at ``target`` with this one's preprocessed
        dataset, so checkpoints of other tests' runs do not mix in."""
        ws = Workspace(target).ensure_layout()
        for relative in ("dataset", "filelists", "configs"):
            shutil.copytree(self.workspace.root / relative, ws.root / relative, dirs_exist_ok=True)
        return ws


@dataclass(frozen=True)
class TinyTraining:
    """A stopped tiny ``svc train`` job and the generator checkpoint it wrote."""

    workspace: Workspace
    job: jobs.Job
    step: int
    generator_path: Path
    seconds_to_checkpoint: float
    seconds_to_stop: float


def write_sung_dataset(folder: Path, n_clips: int = N_CLIPS, duration_s: float = CLIP_S) -> list[Path]:
    """Return ``n_clips`` generated 44.1 kHz sung phrases written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_clips):
        notes = [55 + (i * 5) % 12, 59 + (i * 3) % 9, 62 + i % 5]
        path = folder / f"phrase_{i:02d}.wav"
        sf.write(path, sung_phrase(notes, duration_s / len(notes), 44_100, seed=i), 44_100, subtype="PCM_16")
        paths.append(path)
    return paths


def wait_for_checkpoint(workspace: Workspace, job: jobs.Job, step: int, timeout_s: float) -> Path:
    """Return ``G_<step>.pth`` once it and ``D_<step>.pth`` are fully written.

    so-vits-svc-fork writes G then D (about 560 MB) in place; D's size holding still for a
    second means the save is over.
    """
    generator = workspace.logs_44k / f"G_{step}.pth"
    discriminator = workspace.logs_44k / f"D_{step}.pth"
    deadline = time.monotonic() + timeout_s
    last_size = -1
    while time.monotonic() < deadline:
        current = jobs.get(workspace, job.id)
        if not current.running:
            pytest.fail(f"training ended ({current.state}):\n{jobs.log_tail(workspace, job.id, 60)}")
        size = discriminator.stat().st_size if discriminator.exists() else -1
        if generator.exists() and size > 0 and size == last_size:
            return generator
        last_size = size
        time.sleep(1.0)
    jobs.stop(workspace, job.id, timeout_s=10)
    pytest.fail(f"no {generator.name} after {timeout_s} s:\n{jobs.log_tail(workspace, job.id, 60)}")


@pytest.fixture(scope="session")
def tiny_hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face home of the session's own holding the stand-in ContentVec."""
    hf_home = tmp_path_factory.mktemp("hf_home")
    build_tiny_contentvec(hf_home)
    return hf_home


@pytest.fixture(scope="session")
def tiny_svc_env(tiny_hf_home: Path) -> dict[str, str]:
    """Variables for so-vits-svc-fork subprocesses: the tiny HF home, offline, readable logs."""
    return svc.svc_env(tiny_env(tiny_hf_home))


@pytest.fixture(scope="session")
def tiny_preprocessed(
    tmp_path_factory: pytest.TempPathFactory, tiny_svc_env: dict[str, str]
) -> TinyPreprocessed:
    """A toy workspace preprocessed by the real so-vits-svc-fork commands, offline, on CPU."""
    workspace = Workspace(tmp_path_factory.mktemp("svc_ws")).ensure_layout()
    write_sung_dataset(workspace.dataset_raw / SPEAKER)
    report = svc.preprocess(workspace, TINY_TRAIN, extra_edits=tiny_config_edits(), env=tiny_svc_env)
    return TinyPreprocessed(workspace, report, TINY_TRAIN, tiny_svc_env)


@pytest.fixture(scope="session")
def tiny_trained(tiny_preprocessed: TinyPreprocessed) -> TinyTraining:
    """A real ``svc train`` background job run until ``G_10.pth`` exists, then stopped.

    The discriminator checkpoints (about 560 MB each) are deleted; the generator stays.
    """
    workspace = tiny_preprocessed.workspace
    started = time.monotonic()
    job = jobs.start(workspace, "train", svc.train_argv(), env=tiny_preprocessed.env)
    generator = wait_for_checkpoint(workspace, job, FIRST_STEP, TRAIN_TIMEOUT_S)
    seconds_to_checkpoint = time.monotonic() - started
    stopping = time.monotonic()
    stopped = jobs.stop(workspace, job.id, timeout_s=TINY_TRAIN.stop_timeout_s)
    seconds_to_stop = time.monotonic() - stopping
    for discriminator in workspace.logs_44k.glob("D_*.pth"):
        discriminator.unlink()
    return TinyTraining(workspace, stopped, FIRST_STEP, generator, seconds_to_checkpoint, seconds_to_stop)
