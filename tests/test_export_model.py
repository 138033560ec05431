"""The exported inference model: so-vits-svc-fork loads it and sings exactly like the training checkpoint.

Uses the tiny model trained by ``tests.svc_fixtures`` (a real ``svc train`` run) and
so-vits-svc-fork's own ``svc infer`` command on both files, run with torch's random generator
seeded so two runs of one model give the same samples.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svcqa.core.workspace import Workspace
from svcqa.demo.synth import sung_phrase
from svcqa.engines import svc
from svcqa.listen.export import export_step
from svcqa.train import checkpoints

pytest_plugins = ["tests.svc_fixtures"]

SEEDED_SVC = (
    "import torch; torch.manual_seed(0); from so_vits_svc_fork.__main__ import cli; cli(prog_name='svc')"
)
"""``svc`` itself, with torch's generator seeded: the decoder's sine source draws random phases and noise."""


def _infer(
    ws: Workspace, source: Path, model: Path, config: Path, out: Path, env: dict[str, str]
) -> np.ndarray:
    (speaker,) = json.loads(config.read_text())["spk"]
    argv = svc.infer_argv(source, out, model, config, "parselmouth", speaker=speaker, device="cpu")
    assert argv[1:3] == ["-m", "so_vits_svc_fork"]
    svc.run_svc(ws, [argv[0], "-c", SEEDED_SVC, *argv[3:]], env)
    samples, _ = sf.read(out)
    return samples


@pytest.mark.slow
def test_exported_model_loads_in_so_vits_svc_fork_and_sings_like_the_checkpoint(
    tiny_trained, tiny_svc_env: dict[str, str], tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws").ensure_layout()
    generator = ws.logs_44k / tiny_trained.generator_path.name
    shutil.copyfile(tiny_trained.generator_path, generator)
    shutil.copyfile(tiny_trained.workspace.logs_44k / "config.json", ws.logs_44k / "config.json")
    checkpoints.register(ws, generator, settle_s=0.01)

    exported = export_step(ws, tiny_trained.step, ws.exports / "model.zip")
    with zipfile.ZipFile(exported.path) as archive:
        assert sorted(archive.namelist()) == [f"G_{tiny_trained.step}.pth", "config.json"]
        archive.extractall(tmp_path / "model")
    assert exported.size_bytes < 0.5 * exported.checkpoint_bytes

    source = tmp_path / "phrase.wav"
    sf.write(source, sung_phrase([60, 62, 64, 65], 0.5, 44_100, seed=3), 44_100)
    original = _infer(
        ws, source, generator, ws.logs_44k / "config.json", tmp_path / "original.wav", tiny_svc_env
    )
    slim = _infer(
        ws,
        source,
        tmp_path / "model" / exported.model_name,
        tmp_path / "model" / "config.json",
        tmp_path / "exported.wav",
        tiny_svc_env,
    )
    assert original.shape == slim.shape and original.size > 0
    assert np.array_equal(original, slim)
