"""``demo --with-model``: the toy model's stand-in stays inside its workspace and is used there.

Preprocessing and training are stubbed here (the real chain runs in test_svc_pipeline.py and
test_training.py); what is checked is the wiring: the workspace's own Hugging Face cache, the
overrides every later so-vits-svc-fork run of the workspace picks up, and the saved settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from svcqa.cli.main import main
from svcqa.core.workspace import Workspace
from svcqa.dataset import voice_analysis
from svcqa.demo import model as demo_model
from svcqa.demo.singer import SPEAKER
from svcqa.demo.tiny_models import TINY_SNAPSHOT_ID, tiny_config_edits
from svcqa.engines import svc


def test_demo_with_model_builds_its_stand_in_inside_the_workspace_and_trains_a_toy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    calls: dict[str, Any] = {}

    def preprocess(ws: Workspace, train: Any, **_kwargs: Any) -> None:
        calls["preprocess"] = (svc.workspace_env(ws), svc.workspace_config_edits(ws), train)

    def train(ws: Workspace, settings: Any, _say: Any, _timeout_s: float) -> None:
        calls["train"] = settings

    monkeypatch.setattr(voice_analysis, "voice_available", lambda requested=True: False)
    monkeypatch.setattr(svc, "preprocess", preprocess)
    monkeypatch.setattr(demo_model, "_train", train)
    root = tmp_path / "demo"

    result = CliRunner().invoke(main, ["demo", str(root), "--with-model", "--steps", "40"])

    assert result.exit_code == 0, result.output
    assert "toy" in result.stdout
    assert demo_model.TOY_NOTICE in result.stderr
    ws = Workspace(root)
    hf_home = ws.hf_home
    assert hf_home == ws.state_dir / "hf_home"
    assert (
        hf_home / "hub" / "models--lengyue233--content-vec-best" / "snapshots" / TINY_SNAPSHOT_ID
    ).is_dir()
    env, edits, preprocess_settings = calls["preprocess"]
    assert env == {"HF_HOME": str(hf_home.absolute()), "HF_HUB_OFFLINE": "1"}
    assert edits == tiny_config_edits()
    assert preprocess_settings.f0_method == "parselmouth"
    assert demo_model.is_toy(ws)
    saved = ws.load_settings().train
    assert calls["train"] == saved
    assert (saved.target_steps, saved.eval_interval, saved.batch_size, saved.keep_ckpts_when_archived) == (
        40,
        10,
        2,
        1,
    )
    assert len(list((ws.dataset_raw / SPEAKER).glob("*.wav"))) >= svc.MIN_CLIPS_PER_SPEAKER
    assert not (svc.hub_cache_dir() / "models--lengyue233--content-vec-best").exists()  # the user's cache
