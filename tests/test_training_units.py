"""Training pieces without a real training: diagnosis, curves, step naming, the watcher, GPUs,
disk warnings, start-up checks and the train CLI (the real tiny run is in test_training.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from svcqa.cli.main import main
from svcqa.core import gpu, jobs
from svcqa.core.errors import DatasetError, SvcqaError, TrainingError
from svcqa.core.files import file_sha256
from svcqa.core.settings import TrainSettings
from svcqa.core.workspace import Workspace
from svcqa.engines import svc, tb_events
from svcqa.train import checkpoints, training
from svcqa.train.checkpoints import CheckpointWatcher, StepNaming, naming_for
from svcqa.train.diagnosis import diagnose
from svcqa.train.entry import save_on_rank_zero_only, should_stop_now, trainer_options, use_trainer_options
from svcqa.ui import train_view

REPO_ROOT = Path(__file__).resolve().parent.parent
OOM_LINES = textwrap.dedent(
    """\
    Epoch 3/9999 ...
    Traceback (most recent call last):
      File "so_vits_svc_fork/train.py", line 404, in training_step
    torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.02 GiB. GPU 0 has a total capacity of 23.65 GiB
    """
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").ensure_layout()


def _failed_job(exit_code: int | None = 1) -> jobs.Job:
    return jobs.Job(
        id="train-x",
        kind="train",
        argv=("python",),
        cwd=".",
        pid=1,
        pid_start_time=0.0,
        started_at="2026-01-01T00:00:00+00:00",
        state="failed",
        exit_code=exit_code,
        ended_at="2026-01-01T00:01:00+00:00",
    )


# -- diagnosis ------------------------------------------------------------------------------
def test_oom_line_is_diagnosed_with_a_smaller_batch_and_the_long_clips():
    found = diagnose(OOM_LINES, _failed_job(), batch_size=16, count_long_clips=lambda: 3, max_clip_s=25.0)
    assert [d.code for d in found] == ["cuda_oom", "process_died"]
    oom = found[0]
    assert oom.severity == "error"
    assert "to 8" in oom.fix
    assert "3 training clip(s) are over 25 s" in oom.fix
    assert "CUDA out of memory" in oom.evidence
    assert "exited with code 1" in found[1].explanation
    assert "CUDA out of memory" in found[1].evidence  # the last log lines


def test_long_clips_are_counted_only_after_an_oom():
    asked = []
    diagnose("all fine", None, count_long_clips=lambda: asked.append(1) or 0)
    assert asked == []


def test_nan_loss_is_diagnosed_from_the_log_or_from_the_latest_losses():
    assert diagnose("loss/g/total: nan loss/g/mel: 12.0")[0].code == "nan_loss"
    from_losses = diagnose("", losses={"loss/g/total": None, "loss/d/total": 2.0, "lr": 1e-4})
    assert [d.code for d in from_losses] == ["nan_loss"]
    assert "loss/g/total = nan" in from_losses[0].evidence
    assert diagnose("", losses={"loss/g/total": 3.0}) == []


def test_failed_pretrained_download_is_a_warning_only_when_training_started_from_scratch():
    log = (
        "ERROR Failed to download {'D_0.pth': 'https://huggingface.co/x/D_0.pth', 'G_0.pth': '...'}\n"
        "WARNING No checkpoint found. Start from scratch.\n"
    )
    (found,) = diagnose(log)
    assert (found.code, found.severity) == ("pretrained_missing", "warning")
    assert "G_0.pth" in found.fix
    resumed = "ERROR Failed to download {'D_0.pth': 'x'}\nINFO Loaded checkpoint 'logs/44k/G_800.pth'\n"
    assert diagnose(resumed) == []


def test_resume_that_silently_started_from_scratch_is_an_error():
    (found,) = diagnose("WARNING No checkpoint found. Start from scratch.", resumed_from_step=800)
    assert found.code == "restarted_from_scratch"
    assert "800" in found.explanation


def test_contentvec_offline_and_missing_preprocessing_are_diagnosed():
    offline = "OSError: lengyue233/content-vec-best ... LocalEntryNotFoundError: offline mode is enabled"
    assert diagnose(offline)[0].code == "contentvec_missing"
    missing = "FileNotFoundError: [Errno 2] No such file or directory: 'filelists/44k/train.txt'"
    assert diagnose(missing)[0].code == "not_preprocessed"


def test_process_killed_by_a_signal_names_it_and_hints_at_host_memory():
    (died,) = diagnose("step 400\n", _failed_job(exit_code=-9))
    assert "SIGKILL" in died.explanation and "RAM" in died.explanation


def test_oom_in_a_failed_train_jobs_log_shows_in_the_status(ws: Workspace):
    script = f"import sys; print({OOM_LINES!r}); sys.exit(1)"
    job = jobs.start(ws, training.JOB_KIND, [sys.executable, "-c", script])
    jobs.wait(ws, job.id, timeout_s=60)

    status = training.status(ws)

    assert status.state == "failed"
    assert [d.code for d in status.diagnoses] == ["cuda_oom", "process_died"]
    assert status.to_dict()["diagnoses"][0]["code"] == "cuda_oom"


# -- curves ---------------------------------------------------------------------------------
def test_smoothing_matches_tensorboards_debiased_ema():
    values = [1.0, 2.0, 3.0, 4.0]
    weight = 0.6
    expected, last = [], 0.0
    for n, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        expected.append(last / (1 - weight**n))
    assert np.allclose(tb_events.smooth(values, weight), expected)
    assert tb_events.smooth(values, 0.0).tolist() == values
    assert tb_events.smooth([5.0, 5.0, 5.0], 0.9).tolist() == [5.0, 5.0, 5.0]
    with_nan = tb_events.smooth([1.0, float("nan"), 1.0], 0.5)
    assert math.isnan(with_nan[1]) and with_nan[2] == 1.0
    with pytest.raises(ValueError, match="smoothing"):
        tb_events.smooth(values, 1.0)


def test_event_files_are_read_with_all_scalar_tags_and_a_restart_overwrites_later_steps(tmp_path: Path):
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "lightning_logs" / "version_0"
    first = SummaryWriter(str(run))
    for step in range(1, 11):
        first.add_scalar("loss/g/total", 100.0 - step, step)
        first.add_scalar("lr", 1e-4, step)
    first.close()
    time.sleep(1.1)  # the next file name carries a later timestamp
    resumed = SummaryWriter(str(run))
    for step in range(6, 9):
        resumed.add_scalar("loss/g/total", 50.0 - step, step)
    resumed.add_scalar("loss/d/total", 2.0, 8)
    resumed.close()

    reader = tb_events.ScalarReader(tmp_path)
    series = reader.reload()

    assert list(series) == ["loss/g/total", "loss/d/total", "lr"]
    loss = series["loss/g/total"]
    assert loss.steps == (1, 2, 3, 4, 5, 6, 7, 8)
    assert loss.values[4:] == (95.0, 44.0, 43.0, 42.0)
    assert series["lr"].steps == tuple(range(1, 11))
    assert reader.reload()["loss/g/total"].steps == loss.steps  # incremental re-read changes nothing


def test_loss_figure_draws_each_tag_and_only_reached_milestones():
    series = {"loss/g/total": tb_events.ScalarSeries("loss/g/total", (100, 20_000), (3.0, 2.0), (0.0, 1.0))}
    marks = train_view.milestones(TrainSettings())
    figure = train_view.loss_figure(series, ["loss/g/total"], 0.5, marks)
    assert len(figure.data) == 2  # raw and smoothed
    assert {shape.x0 for shape in figure.layout.shapes} == {10_000, 20_000}
    assert train_view.next_milestone(marks, 20_000) == (60_000, "do not go past")
    assert train_view.format_duration(7500) == "2 h 05 min"


# -- stop decision, config edits, start checks ----------------------------------------------
def test_stop_finishes_a_short_epoch_but_saves_at_once_when_the_epoch_is_long():
    assert not should_stop_now(False, 0, 1.0, 20.0)
    assert should_stop_now(True, 0, None, 20.0)  # last batch of the epoch
    assert not should_stop_now(True, 5, None, 20.0)  # speed unknown: one more batch
    assert not should_stop_now(True, 5, 1.0, 20.0)
    assert should_stop_now(True, 50, 1.0, 20.0)
    assert should_stop_now(True, 5, 1.0, 0.0)


def test_config_edits_set_precision_and_turn_rotation_back_on():
    edits = training.training_config_edits(TrainSettings(precision="bf16-mixed", keep_ckpts_when_archived=2))
    assert edits == {"train": {"keep_ckpts": 2, "fp16_run": False, "bf16_run": True}}
    assert (
        training.training_config_edits(TrainSettings(keep_ckpts_when_archived=0))["train"]["keep_ckpts"] == 1
    )
    with pytest.raises(TrainingError, match="Precision"):
        training.training_config_edits(TrainSettings(precision="8"))


def _fake_preprocessed(ws: Workspace) -> None:
    ws.config_path.write_text(
        json.dumps({"data": {"training_files": "filelists/44k/train.txt"}, "train": {}})
    )
    clip = ws.dataset_44k / "singer" / "a.wav"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"")
    Path(str(clip) + ".data.pt").write_bytes(b"")
    (ws.root / "filelists" / "44k").mkdir(parents=True)
    (ws.root / "filelists" / "44k" / "train.txt").write_text("dataset/44k/singer/a.wav\n")


def test_start_refuses_an_unpreprocessed_dataset(ws: Workspace):
    with pytest.raises(DatasetError, match="not preprocessed"):
        training.start(ws, TrainSettings())
    _fake_preprocessed(ws)
    Path(str(ws.dataset_44k / "singer" / "a.wav") + ".data.pt").unlink()
    with pytest.raises(DatasetError, match=r"a\.wav\.data\.pt"):
        training.start(ws, TrainSettings())
    assert jobs.list_jobs(ws) == []


def test_start_refuses_a_generator_without_its_discriminator_and_a_reached_target(ws: Workspace):
    _fake_preprocessed(ws)
    (ws.logs_44k / "G_800.pth").write_bytes(b"g")
    with pytest.raises(TrainingError, match="start from scratch"):
        training.start(ws, TrainSettings())
    (ws.logs_44k / "D_400.pth").write_bytes(b"d")
    with pytest.raises(TrainingError, match="different steps"):
        training.start(ws, TrainSettings())
    (ws.logs_44k / "D_800.pth").write_bytes(b"d")
    assert training.check_resumable(ws) == 800
    with pytest.raises(TrainingError, match="raise the target"):
        training.start(ws, TrainSettings(target_steps=800))
    assert jobs.list_jobs(ws) == []


def _checkpoint(path: Path, cut_at: int | None = None) -> None:
    import torch

    torch.save({"model": {"w": torch.ones(64)}, "iteration": 1}, path)
    if cut_at is not None:  # a save killed part-way: the zip's directory at the end is missing
        path.write_bytes(path.read_bytes()[:cut_at])


def test_newest_pair_cut_off_while_saving_is_set_aside_and_the_pair_before_resumes(ws: Workspace):
    _fake_preprocessed(ws)
    for step in (4, 6):
        _checkpoint(ws.logs_44k / f"G_{step}.pth")
    _checkpoint(ws.logs_44k / "D_4.pth")
    _checkpoint(ws.logs_44k / "D_6.pth", cut_at=300)

    assert training.check_resumable(ws) == 4

    incomplete = ws.logs_44k / training.INCOMPLETE_DIR
    assert sorted(p.name for p in incomplete.iterdir()) == ["D_6.pth", "G_6.pth"]
    assert training.latest_pair(ws) == (4, 4)
    _checkpoint(ws.logs_44k / "G_6.pth")
    (ws.logs_44k / "D_6.pth").write_bytes(b"")  # killed before D's first byte
    assert training.set_aside_truncated(ws) == [incomplete / "G_6.1.pth", incomplete / "D_6.1.pth"]
    assert len(list(incomplete.iterdir())) == 4  # the first pair set aside is kept too


def test_checkpoints_a_killed_run_left_unregistered_are_registered_once_it_has_ended(ws: Workspace):
    """Rank 0 killed within the settle time of its last save never registered it: the status of
    the ended run registers it at once (nothing writes it any more); a file cut off is left out."""
    _checkpoint(ws.logs_44k / "G_4.pth")
    checkpoints.register(ws, ws.logs_44k / "G_4.pth", settle_s=0.0)
    _checkpoint(ws.logs_44k / "G_6.pth")  # written just before the kill
    _checkpoint(ws.logs_44k / "G_8.pth", cut_at=300)  # the kill landed while saving
    job = jobs.start(
        ws,
        training.JOB_KIND,
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
    )
    jobs.wait(ws, job.id, timeout_s=60)

    started = time.monotonic()
    status = training.status(ws)

    assert time.monotonic() - started < ws.load_settings().train.checkpoint_settle_s
    assert [c.step for c in status.checkpoints] == [4, 6]
    assert status.checkpoints[1].available_path is not None
    assert file_sha256(ws.logs_44k / "G_6.pth") == status.checkpoints[1].sha256
    assert [c.step for c in training.status(ws).checkpoints] == [4, 6]  # once


def test_a_running_runs_new_checkpoint_is_left_to_its_own_registration(ws: Workspace):
    _checkpoint(ws.logs_44k / "G_4.pth")
    job = jobs.start(ws, training.JOB_KIND, [sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert training.status(ws).checkpoints == ()
    finally:
        jobs.stop(ws, job.id, timeout_s=10)


def test_a_whole_checkpoint_of_torchs_legacy_format_is_not_taken_for_a_truncated_one(tmp_path: Path):
    import torch

    legacy = tmp_path / "G_8.pth"
    torch.save({"model": {}}, legacy, _use_new_zipfile_serialization=False)
    assert not training.is_truncated(legacy)


def test_devices_resolve_to_cpu_processes_or_the_visible_gpus():
    assert training.resolve_devices(TrainSettings(), gpu_count=0) == ("cpu", 1)
    assert training.resolve_devices(TrainSettings(devices=2), gpu_count=0) == ("cpu", 2)
    assert training.resolve_devices(TrainSettings(devices=2, accelerator="cpu"), gpu_count=4) == ("cpu", 2)
    assert training.resolve_devices(TrainSettings(devices=2), gpu_count=4) == ("gpu", 2)
    assert training.resolve_devices(TrainSettings(accelerator="gpu"), gpu_count=3) == ("gpu", 3)
    with pytest.raises(TrainingError, match="2 GPU"):
        training.resolve_devices(TrainSettings(devices=2, accelerator="gpu"), gpu_count=1)
    with pytest.raises(TrainingError, match="every GPU"):
        training.resolve_devices(TrainSettings(accelerator="gpu"), gpu_count=0)
    argv = training.entry_argv(Workspace(Path("ws")), TrainSettings(), False, "cpu", 2)
    assert argv[argv.index("--accelerator") + 1 :][:3] == ["cpu", "--devices", "2"]


def test_train_start_saves_the_devices_and_refuses_gpus_that_are_not_there(ws: Workspace):
    _fake_preprocessed(ws)
    result = CliRunner().invoke(
        main, ["train", "start", str(ws.root), "--devices", "2", "--accelerator", "gpu"]
    )
    assert isinstance(result.exception, TrainingError)  # `svcqa` prints it as "error: ..." and exits 1
    assert "2 GPU(s), but 0 are visible" in str(result.exception)
    saved = ws.load_settings().train
    assert (saved.devices, saved.accelerator) == (2, "gpu")
    assert jobs.list_jobs(ws) == []
    with pytest.raises(TrainingError, match="accelerator must be one of auto, cpu, gpu"):
        training.check_settings(TrainSettings(accelerator="tpu"))


def test_only_the_global_rank_zero_writes_checkpoints():
    written = []

    class Model:
        def __init__(self, rank: int) -> None:
            self.trainer = types.SimpleNamespace(is_global_zero=rank == 0)

        def save_checkpoints(self, adjust: int = 1) -> None:
            written.append(adjust)

    save_on_rank_zero_only(Model)
    Model(1).save_checkpoints()
    Model(0).save_checkpoints(0)
    assert written == [0]


def test_so_vits_svc_forks_trainer_gets_the_devices_and_lightning_stays_as_it_is(tmp_path: Path):
    import lightning.pytorch as pl

    svc_train = types.SimpleNamespace(pl=pl)
    use_trainer_options(svc_train, trainer_options("cpu", 2))
    # so-vits-svc-fork's own arguments, among them the strategy it would pick: ours win.
    trainer = svc_train.pl.Trainer(strategy="auto", logger=False, default_root_dir=tmp_path, max_epochs=1)
    assert (trainer.num_devices, type(trainer.strategy).__name__) == (2, "DDPStrategy")
    assert trainer.strategy._ddp_kwargs == {"find_unused_parameters": True}
    assert svc_train.pl.LightningModule is pl.LightningModule
    assert pl.Trainer(logger=False, default_root_dir=tmp_path).num_devices == 1


def test_a_rank_whose_rank_zero_was_killed_ends_itself():
    rank_one = (
        "import time; from svcqa.train.ranks import end_with_parent; "
        "end_with_parent(0.1); print('watching', flush=True); time.sleep(120)"
    )
    rank_zero = (
        "import os, subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {rank_one!r}], env={{**os.environ, 'LOCAL_RANK': '1'}}); "
        "time.sleep(120)"
    )
    # Both write into the pipe: it reaches its end once rank 1 has ended too.
    parent = subprocess.Popen(
        [sys.executable, "-c", rank_zero], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    assert parent.stdout.readline() == "watching\n"
    parent.kill()
    parent.wait()
    started = time.monotonic()
    rest = parent.stdout.read()
    assert "svcqa: rank 1: rank 0 has gone; ending." in rest
    assert time.monotonic() - started < 30


def test_disk_warning_for_low_space_and_for_an_archive_that_will_not_fit():
    train = TrainSettings(eval_interval=1000, disk_warn_free_bytes=5_000_000_000)
    low = checkpoints.DiskUsage(0, 0, free_bytes=1_000_000_000, total_bytes=100_000_000_000)
    assert "1.0 GB free" in training.disk_warning(low, train, 0, 60_000, 500_000_000)
    tight = checkpoints.DiskUsage(0, 0, free_bytes=20_000_000_000, total_bytes=100_000_000_000)
    assert "60 more checkpoints" in training.disk_warning(tight, train, 0, 60_000, 500_000_000)
    assert training.disk_warning(tight, train, 59_000, 60_000, 500_000_000) is None


# -- step naming and the watcher ------------------------------------------------------------
def _config(folder: Path, **train: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"train": {"batch_size": 4, **train}, "data": {"training_files": "filelists/44k/train.txt"}}
    (folder / "config.json").write_text(json.dumps(data))


def test_naming_is_read_from_the_run_config(tmp_path: Path):
    fork_by_epoch = tmp_path / "fork" / "logs" / "44k"
    _config(fork_by_epoch, ckpt_name_by_step=False)
    listed = tmp_path / "fork" / "filelists" / "44k" / "train.txt"
    listed.parent.mkdir(parents=True)
    listed.write_text("\n".join(f"dataset/44k/s/{i}.wav" for i in range(10)) + "\n")
    assert naming_for(fork_by_epoch) == StepNaming(by_step=False, steps_per_epoch=3)
    assert naming_for(fork_by_epoch).step_for(Path("G_7.pth")) == (21, True)

    original_41 = tmp_path / "original" / "logs" / "44k"
    _config(original_41)  # no ckpt_name_by_step: the original so-vits-svc, named by step
    assert naming_for(original_41).step_for(Path("G_800.pth")) == (800, False)
    assert naming_for(tmp_path / "nothing").by_step

    unknown = StepNaming(by_step=False)
    with pytest.raises(SvcqaError, match="steps-per-epoch"):
        unknown.step_for(Path("G_3.pth"))


def _write_slowly(path: Path, payload: bytes, chunks: int = 4, pause_s: float = 0.15) -> None:
    with path.open("wb") as f:
        for i in range(chunks):
            f.write(payload[i * len(payload) // chunks : (i + 1) * len(payload) // chunks])
            f.flush()
            time.sleep(pause_s)


def test_watcher_registers_each_finished_generator_once_and_skips_the_pretrained_base(ws: Workspace):
    seen: list[checkpoints.Checkpoint] = []
    with CheckpointWatcher(ws, settle_s=0.3, on_register=seen.append):
        (ws.logs_44k / "G_0.pth").write_bytes(b"pretrained")
        _write_slowly(ws.logs_44k / "G_200.pth", b"a" * 40_000)
        (ws.logs_44k / "D_200.pth").write_bytes(b"d" * 1000)
        _write_slowly(ws.logs_44k / "G_400.pth", b"b" * 40_000)
    steps = [c.step for c in checkpoints.list_checkpoints(ws)]
    assert steps == [200, 400]
    assert [c.step for c in seen] == [200, 400]
    assert all(c.size_bytes == 40_000 for c in seen)
    assert seen[0].sha256 == file_sha256(seen[0].archived_path)


def test_watcher_of_an_epoch_named_folder_derives_steps_and_archives_copies(ws: Workspace, tmp_path: Path):
    folder = tmp_path / "other_run"
    _config(folder, ckpt_name_by_step=False)
    (folder / "G_5.pth").write_bytes(b"epoch five")
    with CheckpointWatcher(
        ws, folder, naming=naming_for(folder, steps_per_epoch=30), settle_s=0.1
    ) as watcher:
        (folder / "G_9.pth").write_bytes(b"epoch nine")
    assert [(c.step, c.step_derived) for c in watcher.registered] == [(150, True), (270, True)]
    for record in watcher.registered:
        assert record.archived_path.stat().st_ino != record.path.stat().st_ino  # a copy, not a link


def test_a_name_rewritten_in_place_is_registered_again_and_the_old_content_stays_archived(ws: Workspace):
    path = ws.logs_44k / "G_7.pth"
    path.write_bytes(b"first epoch seven")
    old = checkpoints.register(ws, path, step=70, step_derived=True, settle_s=0.01, link=False)
    time.sleep(0.05)
    path.write_bytes(b"later epoch seven")  # same name, same size, new content

    new = checkpoints.register(ws, path, step=70, step_derived=True, settle_s=0.01, link=False)

    assert new.sha256 != old.sha256
    kept = {c.sha256: c for c in checkpoints.list_checkpoints(ws)}
    assert set(kept) == {old.sha256, new.sha256}
    assert kept[old.sha256].available_path.read_bytes() == b"first epoch seven"


def test_train_watch_once_registers_an_original_so_vits_svc_run(ws: Workspace, tmp_path: Path):
    folder = tmp_path / "so-vits-svc" / "logs" / "44k"
    _config(folder)
    for step in (800, 1600):
        (folder / f"G_{step}.pth").write_bytes(str(step).encode() * 100)

    result = CliRunner().invoke(
        main, ["train", "watch", str(ws.root), "--folder", str(folder), "--once", "--json"]
    )

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(line["step"], line["step_derived"]) for line in lines] == [(800, False), (1600, False)]
    assert [c.step for c in checkpoints.list_checkpoints(ws)] == [800, 1600]


def test_train_status_json_of_a_workspace_without_training(ws: Workspace):
    result = CliRunner().invoke(main, ["train", "status", str(ws.root), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["state"], data["step"], data["checkpoints"]) == ("none", None, [])
    assert data["world_size"] is None


# -- GPUs and workspace overrides -----------------------------------------------------------
def test_no_gpu_or_driver_gives_an_empty_list(monkeypatch: pytest.MonkeyPatch):
    class NVMLError(Exception):
        pass

    def no_driver() -> None:
        raise NVMLError("Driver Not Loaded")

    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(NVMLError=NVMLError, nvmlInit=no_driver))
    assert gpu.list_gpus() == []


def test_gpus_are_read_from_the_driver_and_filtered_by_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch):
    class NVMLError(Exception):
        pass

    fake = types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=(h + 1) * 10**9, total=80 * 10**9),
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=50 + h),
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}",
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpus = gpu.list_gpus()
    assert [(g.index, g.name, g.utilization_percent) for g in gpus] == [
        (0, "NVIDIA H100 80GB HBM3", 50),
        (1, "NVIDIA H100 80GB HBM3", 51),
    ]
    assert gpus[1].memory_used_bytes == 2 * 10**9
    assert [g.index for g in gpu.gpus_for({"CUDA_VISIBLE_DEVICES": "1"})] == [1]
    assert gpu.visible_indices({"CUDA_VISIBLE_DEVICES": ""}, 2) == []


def test_workspace_overrides_reach_every_so_vits_svc_fork_run(ws: Workspace):
    svc.set_workspace_overrides(
        ws, env={"SVCQA_PROBE": "from-workspace"}, config_edits={"train": {"seed": 7}}
    )
    lines: list[str] = []
    svc.run_svc(ws, [sys.executable, "-c", "import os; print(os.environ['SVCQA_PROBE'])"], echo=lines.append)
    assert lines == ["from-workspace"]
    assert svc.workspace_config_edits(ws) == {"train": {"seed": 7}}


def test_train_page_on_an_unprepared_workspace_explains_what_to_do_first(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    at = AppTest.from_file(
        str(Path(__file__).resolve().parent.parent / "streamlit_app.py"), default_timeout=120
    )
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["State"] == "none"
    assert at.button(key="train_stop").disabled

    at.button(key="train_start").click().run()

    assert not at.exception, at.exception
    assert any("not preprocessed" in e.value for e in at.error)
    assert jobs.list_jobs(ws) == []
