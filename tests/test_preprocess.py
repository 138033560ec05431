"""so-vits-svc-fork preprocessing from the CLI and as a background job (tiny offline models)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from svcqa.core import jobs
from svcqa.core.workspace import Workspace
from svcqa.demo.tiny_models import tiny_config_edits
from svcqa.engines import svc
from svcqa.prepare import preprocess
from tests.audio_files import write_clip

pytest_plugins = ["tests.svc_fixtures"]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def prepared(tmp_path: Path, tiny_hf_home: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    for i in range(6):
        write_clip(ws.dataset_raw / "singer" / f"clip_{i}.wav", 3.0, seed=i)
    svc.set_workspace_overrides(
        ws, env={"HF_HOME": str(tiny_hf_home), "HF_HUB_OFFLINE": "1"}, config_edits=tiny_config_edits()
    )
    return ws


def test_preflight_names_missing_contentvec_and_too_few_clips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ws = Workspace(tmp_path / "ws").ensure_layout()
    for i in range(2):
        write_clip(ws.dataset_raw / "singer" / f"c{i}.wav", 2.5, seed=i)
    problems = " ".join(preprocess.preflight(ws))
    assert "at least 5 clips" in problems
    assert "lengyue233/content-vec-best" in problems


def test_preprocess_job_runs_offline_and_reports_progress(prepared: Workspace) -> None:
    job = preprocess.start(prepared, "parselmouth")
    finished = jobs.wait(prepared, job.id, timeout_s=600)
    assert finished.state == "succeeded", jobs.log_tail(prepared, job.id)
    now = preprocess.progress(prepared, finished)
    assert (now.state, now.step, now.fraction) == ("succeeded", "pre-hubert", 1.0)
    config = json.loads(prepared.config_path.read_text())
    assert config["train"]["keep_ckpts"] == 0 and config["train"]["ckpt_name_by_step"] is True
    assert config["model"]["ssl_dim"] == 64  # the workspace's tiny-model edits were applied
    assert len(list((prepared.dataset_44k / "singer").glob("*.wav"))) == 6


def test_cli_preprocess_refuses_a_workspace_without_dataset(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "svcqa", "preprocess", str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 2
    assert "prepare the dataset first" in done.stderr
    shutil.rmtree(tmp_path / "ws")
