"""The so-vits-svc-fork adapter against the real package, offline on CPU with tiny stand-ins."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soundfile as sf
import torch

from svcqa.audio import decode
from svcqa.core.errors import DatasetError, ModelMissingError, SvcqaError
from svcqa.core.settings import ConversionSettings, TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.demo.synth import sung_phrase
from svcqa.demo.tiny_models import (
    TINY_HIDDEN_SIZE,
    TINY_SNAPSHOT_ID,
    build_tiny_contentvec,
    tiny_env,
    tiny_train_settings,
)
from svcqa.engines import svc
from svcqa.engines.svc import CONTENTVEC_REPO_ID
from svcqa.engines.svc import f0 as svc_f0

if TYPE_CHECKING:
    from tests.svc_fixtures import TinyPreprocessed, TinyTraining

pytest_plugins = ["tests.svc_fixtures"]
SPEAKER = "singer"


def _five_clips(folder: Path, write_clip, n_clips: int = 5) -> None:
    for i in range(n_clips):
        write_clip(folder / f"clip_{i}.wav", duration_s=1.0, seed=i)


# -- commands and settings ------------------------------------------------------------------
def test_commands_are_argument_lists_for_the_svc_cli_in_the_workspace_layout():
    assert svc.describe(svc.pre_resample_argv()) == "svc pre-resample -i dataset_raw -o dataset/44k -n 1"
    assert svc.describe(svc.pre_config_argv()) == (
        "svc pre-config -i dataset/44k -f filelists/44k -c configs/44k/config.json -t so-vits-svc-4.0v1"
    )
    assert svc.pre_hubert_argv("harvest")[-4:] == ["-fm", "harvest", "-n", "1"]
    assert svc.train_argv()[:3] == [sys.executable, "-m", "so_vits_svc_fork"]
    assert svc.train_argv(reset_optimizer=True)[-1] == "-r"


def test_unknown_f0_method_is_refused_before_anything_runs():
    with pytest.raises(SvcqaError, match="rmvpe"):
        svc.pre_hubert_argv("rmvpe")


def test_f0_methods_are_read_from_the_installed_package_and_ranked_by_accuracy(monkeypatch):
    assert set(svc.supported_f0_methods()) == {"crepe", "crepe-tiny", "parselmouth", "dio", "harvest"}
    assert "rmvpe" not in svc.supported_f0_methods()
    assert svc.available_f0_methods() == ("crepe", "crepe-tiny", "harvest", "parselmouth", "dio")
    monkeypatch.setattr(svc_f0, "has_cuda", lambda: True)
    assert svc.resolve_f0_method("auto") == "crepe"
    monkeypatch.setattr(svc_f0, "has_cuda", lambda: False)
    assert svc.resolve_f0_method("auto") == "parselmouth"
    assert svc.resolve_f0_method("dio") == "dio"


def test_config_edits_turn_off_rotation_and_name_checkpoints_by_step(tmp_path: Path):
    config_path = tmp_path / "config.json"
    shutil.copy(svc.config_template_path(), config_path)
    train = TrainSettings(batch_size=6, log_interval=7, eval_interval=70, epochs=99, num_workers=2)

    config = svc.edit_config(config_path, train, {"model": {"ssl_dim": 64}})

    on_disk = json.loads(config_path.read_text())
    assert on_disk == config
    assert on_disk["train"]["keep_ckpts"] == 0
    assert on_disk["train"]["ckpt_name_by_step"] is True
    assert (on_disk["train"]["batch_size"], on_disk["train"]["log_interval"]) == (6, 7)
    assert (on_disk["train"]["eval_interval"], on_disk["train"]["epochs"]) == (70, 99)
    assert on_disk["train"]["num_workers"] == 2
    assert on_disk["model"]["ssl_dim"] == 64
    assert on_disk["model"]["gin_channels"] == 256  # untouched keys stay
    assert not list(tmp_path.glob("*.tmp"))


def test_zero_dataloader_workers_are_refused(tmp_path: Path):
    config_path = tmp_path / "config.json"
    shutil.copy(svc.config_template_path(), config_path)
    with pytest.raises(SvcqaError, match="num_workers"):
        svc.edit_config(config_path, TrainSettings(num_workers=0))


# -- dataset checks -------------------------------------------------------------------------
def test_loose_file_at_top_of_dataset_raw_is_refused(tmp_path: Path, write_clip):
    ws = Workspace(tmp_path).ensure_layout()
    _five_clips(ws.dataset_raw / SPEAKER, write_clip)
    (ws.dataset_raw / "manifest.json").write_text("{}")
    with pytest.raises(DatasetError, match=r"manifest\.json"):
        svc.check_dataset_raw(ws)


def test_speaker_with_fewer_than_five_clips_is_refused(tmp_path: Path, write_clip):
    ws = Workspace(tmp_path).ensure_layout()
    _five_clips(ws.dataset_raw / SPEAKER, write_clip, n_clips=4)
    with pytest.raises(DatasetError, match=r"singer \(4\)"):
        svc.check_dataset_raw(ws)


# -- ContentVec -----------------------------------------------------------------------------
def test_stand_in_contentvec_is_found_under_the_model_id_so_vits_svc_fork_loads(tiny_hf_home: Path):
    snapshot = svc.find_contentvec(tiny_env(tiny_hf_home))
    assert snapshot is not None
    assert snapshot.name == TINY_SNAPSHOT_ID
    assert snapshot.parent.parent.name == "models--lengyue233--content-vec-best"
    assert (snapshot.parent.parent / "refs" / "main").read_text() == TINY_SNAPSHOT_ID


def test_stand_in_is_never_written_into_the_default_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(SvcqaError, match="default Hugging Face cache"):
        build_tiny_contentvec(tmp_path / "huggingface")
    assert not (tmp_path / "huggingface").exists()


def test_missing_contentvec_offline_raises_model_missing_error_naming_download_and_place(
    tmp_path: Path, write_clip
):
    ws = Workspace(tmp_path / "ws").ensure_layout()
    _five_clips(ws.dataset_raw / SPEAKER, write_clip)
    empty_home = tmp_path / "empty_hf"

    with pytest.raises(ModelMissingError) as caught:
        svc.preprocess(ws, tiny_train_settings(), env=tiny_env(empty_home))

    message = str(caught.value)
    assert CONTENTVEC_REPO_ID in message
    assert f"hf download {CONTENTVEC_REPO_ID}" in message
    assert str(empty_home / "hub") in message
    assert not any(ws.dataset_44k.iterdir())  # refused before anything ran


def test_failed_pre_hubert_without_contentvec_is_diagnosed_as_missing_model(
    tiny_preprocessed: TinyPreprocessed, tmp_path: Path
):
    # Bypass the preflight: run the real command with an empty cache, offline.
    env = svc.svc_env(tiny_env(tmp_path / "empty_hf"))
    with pytest.raises(ModelMissingError, match="content-vec-best"):
        svc.run_svc(tiny_preprocessed.workspace, svc.pre_hubert_argv("parselmouth"), env)


# -- the real chain -------------------------------------------------------------------------
def test_preprocessing_chain_runs_offline_on_cpu_with_the_tiny_contentvec(
    tiny_preprocessed: TinyPreprocessed,
):
    ws = tiny_preprocessed.workspace
    report = tiny_preprocessed.report
    print("preprocess step durations (s):", report.step_durations_s)

    ((speaker, n_clips),) = report.clips_per_speaker.items()
    assert n_clips >= 5
    assert report.f0_method == "parselmouth"
    assert list(report.step_durations_s) == ["pre-resample", "pre-config", "edit-config", "pre-hubert"]
    resampled = sorted((ws.dataset_44k / speaker).glob("*.wav"))
    assert len(resampled) == n_clips
    assert {sf.info(p).samplerate for p in resampled} == {44_100}
    features = torch.load(Path(str(resampled[0]) + ".data.pt"), weights_only=True)
    assert features["content"].shape[0] == TINY_HIDDEN_SIZE
    assert features["f0"].shape[0] == features["content"].shape[1] == features["spec"].shape[1]
    assert float(features["f0"].max()) > 100.0  # parselmouth found the sung pitch

    config = json.loads(ws.config_path.read_text())
    assert config["train"]["keep_ckpts"] == 0
    assert config["train"]["ckpt_name_by_step"] is True
    assert config["train"]["num_workers"] >= 1
    assert config["train"]["eval_interval"] == tiny_preprocessed.train.eval_interval
    assert config["model"]["ssl_dim"] == TINY_HIDDEN_SIZE
    assert config["spk"] == {speaker: 0}


@pytest.mark.slow
def test_tiny_training_job_writes_a_generator_checkpoint_named_by_step_and_stops(tiny_trained: TinyTraining):
    ws = tiny_trained.workspace
    print(
        f"train: {tiny_trained.seconds_to_checkpoint:.1f} s to G_{tiny_trained.step}.pth, "
        f"stop took {tiny_trained.seconds_to_stop:.1f} s"
    )

    assert tiny_trained.generator_path == ws.logs_44k / f"G_{tiny_trained.step}.pth"
    assert tiny_trained.generator_path.stat().st_size < 20_000_000
    checkpoint = torch.load(tiny_trained.generator_path, map_location="cpu", weights_only=True)
    assert set(checkpoint) == {"model", "iteration", "optimizer", "learning_rate"}
    assert tiny_trained.job.state == "stopped"
    assert tiny_trained.job.exit_code is not None
    assert not list(ws.logs_44k.glob("D_*.pth"))
    assert (ws.logs_44k / "config.json").is_file()  # svc train copies the config it used


@pytest.mark.slow
def test_infer_converts_a_phrase_with_the_tiny_checkpoint(
    tiny_trained: TinyTraining, tiny_svc_env: dict[str, str], tmp_path: Path
):
    source = tmp_path / "song.wav"
    sf.write(source, sung_phrase([60, 62, 64, 65], 0.5, 44_100, seed=3), 44_100)
    output = tmp_path / "converted.wav"
    config_path = tiny_trained.workspace.logs_44k / "config.json"
    (speaker,) = json.loads(config_path.read_text())["spk"]
    argv = svc.infer_argv(
        source, output, tiny_trained.generator_path, config_path, "parselmouth", speaker=speaker, device="cpu"
    )
    svc.run_svc(tiny_trained.workspace, argv, tiny_svc_env)

    info = sf.info(output)
    assert info.samplerate == 44_100
    assert abs(info.duration - 2.0) < 0.1


# -- the conversion engine against svc infer ------------------------------------------------
SEEDED_SVC_INFER = """
import sys
import torch
from so_vits_svc_fork.inference.core import Svc

infer_silence = Svc.infer_silence

def seeded(self, *args, **kwargs):
    torch.manual_seed(int(sys.argv[1]))
    return infer_silence(self, *args, **kwargs)

Svc.infer_silence = seeded
from so_vits_svc_fork.__main__ import cli
cli(sys.argv[2:])
"""
"""``svc infer`` itself, with torch's generator seeded just before it converts (it has no seed option)."""

PCM16_STEPS_TOLERANCE = 1
"""The engine may differ from ``svc infer`` by at most one step of 16-bit PCM (3.1e-5 of full
scale), the resolution of the file ``svc infer`` writes; measured: 0 steps (bit-identical)."""


@pytest.mark.slow
def test_engine_output_equals_svc_infer_for_the_same_checkpoint_seed_and_settings(
    tiny_trained: TinyTraining, tiny_svc_env: dict[str, str], tmp_path: Path
):
    ws = tiny_trained.workspace
    source = tmp_path / "song.wav"
    pause = np.zeros(int(0.7 * 44_100), dtype=np.float32)
    phrases = [
        sung_phrase([60, 64, 67], 0.5, 44_100, seed=4),
        pause,
        sung_phrase([62, 59], 0.6, 44_100, seed=5),
    ]
    sf.write(source, np.concatenate(phrases), 44_100)
    # svc infer's own noise scale (0.4) and torch's own thread count, as svc infer runs.
    settings = ConversionSettings(seed=3, device="cpu", cpu_threads=torch.get_num_threads())
    config_path = ws.logs_44k / "config.json"
    expected = tmp_path / "svc_infer.wav"
    argv = svc.infer_argv(
        source, expected, tiny_trained.generator_path, config_path, "parselmouth",
        transpose_semitones=2, device="cpu", conversion=settings,
    )  # fmt: skip
    svc.run_svc(ws, [sys.executable, "-c", SEEDED_SVC_INFER, str(settings.seed), *argv[3:]], tiny_svc_env)

    conversion = svc.resolve_conversion(
        ws, settings, f0_method="parselmouth", transpose_semitones=2, speaker="", env=tiny_svc_env
    )
    audio, _ = decode.read(source, conversion.sample_rate_hz, mono=True)
    sung = svc.SvcConverter(conversion).convert(audio, tiny_trained.generator_path)
    engine = tmp_path / "engine.wav"
    sf.write(engine, sung, conversion.sample_rate_hz)  # the same PCM_16 file svc infer writes

    theirs, ours = sf.read(expected, dtype="int16"), sf.read(engine, dtype="int16")
    assert theirs[1] == ours[1] == 44_100 and theirs[0].shape == ours[0].shape == audio.shape
    steps = int(np.max(np.abs(theirs[0].astype(np.int32) - ours[0].astype(np.int32))))
    print(f"engine vs svc infer: largest difference {steps} PCM_16 steps")
    assert steps <= PCM16_STEPS_TOLERANCE
    assert np.any(theirs[0] != 0)  # it sang: a silent pair would prove nothing
