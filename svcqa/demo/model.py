"""A demo workspace with a trained (toy) model, made on a CPU in minutes, offline.

:func:`build_demo_model` takes the demo singer (:func:`svcqa.demo.singer.create_demo`) through the
whole chain: audit and prepare into ``dataset_raw``, preprocess with a tiny random stand-in
ContentVec, and a short training of a shrunken model, so Train, Listen and Mix have real
checkpoints to show. The stand-in lives in a Hugging Face cache inside the workspace
(``.svcqa/hf_home``), and the workspace remembers to use it (and the shrunken config) for every
later so-vits-svc-fork run there (:func:`svcqa.engines.svc.set_workspace_overrides`); the user's own
cache is never touched.

The voice is a toy: random features, a tiny network, a few hundred steps.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from svcqa.core.errors import DatasetError, TrainingError
from svcqa.core.settings import TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.demo.singer import SPEAKER, create_demo
from svcqa.demo.tiny_models import build_tiny_contentvec, tiny_config_edits, tiny_env, tiny_train_settings
from svcqa.engines import svc
from svcqa.train import training

TOY_NOTICE = (
    "This demo model is a toy: a tiny network on random stand-in ContentVec features, trained for "
    "a few hundred steps on a CPU. It shows how svcqa works; it does not sound like a singer."
)
DEFAULT_STEPS = 200
_POLL_S = 2.0


@dataclass(frozen=True)
class DemoModel:
    """What :func:`build_demo_model` made: the clips it trained on and the steps it reached."""

    workspace: Workspace
    clips: int
    final_step: int | None
    hf_home: Path
    job_state: str


def demo_train_settings(steps: int, base: TrainSettings | None = None) -> TrainSettings:
    """Return the training settings of the demo: the CPU toy numbers, ``steps`` as the target."""
    return dataclasses.replace(
        tiny_train_settings(base),
        target_steps=steps,
        eval_interval=max(steps // 4, 2),
        log_interval=max(steps // 20, 1),
        keep_ckpts_when_archived=1,
        stop_finish_epoch_s=5.0,
    )


def is_toy(ws: Workspace) -> bool:
    """Return True when ``ws`` runs so-vits-svc-fork with the demo's stand-in ContentVec."""
    return svc.workspace_env(ws).get("HF_HOME") == tiny_env(ws.hf_home)["HF_HOME"]


def build_demo_model(
    ws: Workspace,
    steps: int = DEFAULT_STEPS,
    echo: Callable[[str], None] | None = None,
    timeout_s: float = 3600.0,
) -> DemoModel:
    """Return the demo model after creating, preparing, preprocessing and training ``ws``.

    Training runs as the workspace's background "train" job and this call waits for it; an
    interrupt (Ctrl-C) stops it with a save. Re-running continues where it stopped.
    """
    say = echo or (lambda _line: None)
    ws.ensure_layout()
    source = create_demo(ws, progress=lambda _f, message: say(message))
    clips = _prepare(ws, source, say)
    hf_home = ws.hf_home
    say(f"Building the stand-in ContentVec in {hf_home} (the workspace's own cache)")
    build_tiny_contentvec(hf_home)
    svc.set_workspace_overrides(ws, env=tiny_env(hf_home), config_edits=tiny_config_edits())
    settings = ws.load_settings()
    train = demo_train_settings(steps, settings.train)
    ws.save_settings(dataclasses.replace(settings, train=train))
    try:
        training.check_preprocessed(ws)
    except DatasetError:
        say("Preprocessing (pre-resample, pre-config, pre-hubert)")
        svc.preprocess(ws, train, echo=lambda line: say(f"  {line}"))
    newest = training.check_resumable(ws)
    if newest is None or newest < train.target_steps:
        _train(ws, train, say, timeout_s)
    final = training.status(ws)
    say(TOY_NOTICE)
    return DemoModel(ws, clips, final.step, hf_home, final.state)


def _prepare(ws: Workspace, source: Path, say: Callable[[str], None]) -> int:
    from svcqa.dataset.run import audit_dataset
    from svcqa.dataset.voice_analysis import voice_available
    from svcqa.prepare.execute import execute_plan
    from svcqa.prepare.plan import build_plan

    settings = ws.load_settings()
    say("Auditing the demo recordings")
    report = audit_dataset(source, settings, with_voice=voice_available())
    plan = build_plan(source, report.to_dict()["clips"], SPEAKER, settings)
    result = execute_plan(plan, ws)
    count = len(result.written) + len(result.unchanged)
    if count < svc.MIN_CLIPS_PER_SPEAKER:
        raise DatasetError(f"Preparing the demo left only {count} clips; so-vits-svc-fork needs 5.")
    say(f"Prepared {count} clips into {result.out_dir}")
    return count


def _train(ws: Workspace, train: TrainSettings, say: Callable[[str], None], timeout_s: float) -> None:
    run = training.start(ws, train)
    say(f"Training on CPU to step {train.target_steps} (job {run.job_id}); Ctrl-C stops it with a save")
    deadline = time.monotonic() + timeout_s
    shown = None
    try:
        while True:
            current = training.status(ws)
            if current.progress and current.progress.step != shown:
                shown = current.progress.step
                speed = current.progress.steps_per_s
                say(f"  step {shown}/{train.target_steps}" + (f", {speed:.2f} steps/s" if speed else ""))
            if current.state != "running":
                break
            if time.monotonic() > deadline:
                say("Training takes too long here; stopping it with a save.")
                training.stop(ws)
                break
            time.sleep(_POLL_S)
    except KeyboardInterrupt:
        say("Stopping the training with a save...")
        training.stop(ws)
        raise
    final = training.status(ws)
    if final.state == "failed":
        details = "; ".join(f"{d.title}: {d.fix}" for d in final.diagnoses) or "see its log"
        raise TrainingError(f"The demo training failed ({details}).")
