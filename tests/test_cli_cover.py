"""``python -m svcqa separate | mix | cover``: JSON contracts and exit codes, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svcqa.demo.tiny_separation_model import TINY_MODELS, build_tiny_separation_models
from svcqa.engines.separation_models import MODEL_ENV_VAR
from tests.audio_files import tree_fingerprint

REPO = Path(__file__).resolve().parent.parent
SR = 44_100


def _svcqa(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != MODEL_ENV_VAR}
    return subprocess.run(
        [sys.executable, "-m", "svcqa", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**env, "PYTHONPATH": str(REPO)},
    )


def _tone(
    path: Path, freq_hz: float, seconds: float, amplitude: float, rate_hz: int = SR, stereo: bool = True
) -> Path:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    mono = amplitude * np.sin(2 * np.pi * freq_hz * t)
    sf.write(path, np.stack([mono, 0.9 * mono], axis=1) if stereo else mono, rate_hz)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    build_tiny_separation_models(folder)
    return folder


def _model_args(models: Path) -> list[str]:
    return [
        "--model-dir",
        str(models),
        "--no-download",
        *(arg for stage, tiny in TINY_MODELS.items() for arg in (f"--{stage}-model", tiny.filename)),
    ]


def test_separate_writes_stems_and_json_and_leaves_the_song(models: Path, tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    songs.mkdir()
    song = _tone(songs / "song.wav", 440.0, 2.0, 0.4)
    before = tree_fingerprint(songs)
    report = tmp_path / "stems.json"

    done = _svcqa(
        "separate", str(song), "--out", str(tmp_path / "stems"), "--stages", "vocals,dereverb",
        *_model_args(models), "--json", str(report), cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert [s["stage"] for s in data["stages"]] == ["vocals", "dereverb"]
    assert Path(data["vocals"]["path"]).name == "song_dereverb_no-reverb.wav"
    assert Path(data["instrumental"]["path"]).name == "song_vocals_instrumental.wav"
    assert data["vocals"]["sample_rate_hz"] == SR and data["vocals"]["num_samples"] == 2 * SR
    assert sorted(p.name for p in (tmp_path / "stems").iterdir()) == [
        "song_dereverb_no-reverb.wav",
        "song_dereverb_reverb.wav",
        "song_vocals_instrumental.wav",
        "song_vocals_vocals.wav",
    ]
    assert "Vocals for conversion" in done.stdout
    assert tree_fingerprint(songs) == before


def test_separate_with_a_missing_model_exits_1_naming_file_and_folder(models: Path, tmp_path: Path) -> None:
    song = _tone(tmp_path / "song.wav", 440.0, 1.0, 0.4)
    done = _svcqa(
        "separate", str(song), "--out", str(tmp_path / "stems"), "--model-dir", str(tmp_path / "empty"),
        "--no-download", "--stages", "vocals", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "download_checks.json" in done.stderr and str(tmp_path / "empty") in done.stderr


def test_separate_unknown_stage_is_a_bad_argument(tmp_path: Path) -> None:
    song = _tone(tmp_path / "song.wav", 440.0, 1.0, 0.4)
    done = _svcqa(
        "separate", str(song), "--out", str(tmp_path / "o"), "--stages", "vocals,drums", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "drums" in done.stderr


def test_mix_hits_the_loudness_target_under_the_ceiling_on_mismatched_inputs(tmp_path: Path) -> None:
    vocals = _tone(tmp_path / "vocals.wav", 330.0, 3.0, 0.99, rate_hz=48_000, stereo=False)
    instrumental = _tone(tmp_path / "inst.wav", 110.0, 2.5, 0.9)
    report = tmp_path / "mix.json"

    done = _svcqa(
        "mix", "--vocals", str(vocals), "--instrumental", str(instrumental), "--out", str(tmp_path / "cover.flac"),
        "--balance-db", "2", "--lufs", "-16", "--json", str(report), cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert {"out", "lufs", "true_peak_dbtp", "duration_s"} <= set(data)
    assert abs(data["lufs"] - -16.0) <= 0.5
    assert data["true_peak_dbtp"] <= -1.0
    assert data["duration_s"] == pytest.approx(3.0)
    assert sf.info(data["out"]).format == "FLAC"
    assert "LUFS" in done.stdout


def test_mix_json_to_stdout_is_pure_json(tmp_path: Path) -> None:
    vocals = _tone(tmp_path / "v.wav", 330.0, 1.0, 0.3)
    inst = _tone(tmp_path / "i.wav", 110.0, 1.0, 0.3)
    done = _svcqa(
        "mix", "--vocals", str(vocals), "--instrumental", str(inst), "--out", str(tmp_path / "m.wav"), "--json", "-",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["out"] == str(tmp_path / "m.wav")


def test_mix_bad_output_suffix_and_silent_vocals(tmp_path: Path) -> None:
    vocals = _tone(tmp_path / "v.wav", 330.0, 1.0, 0.0)
    inst = _tone(tmp_path / "i.wav", 110.0, 1.0, 0.3)
    bad_suffix = _svcqa(
        "mix", "--vocals", str(vocals), "--instrumental", str(inst), "--out", "m.ogg", cwd=tmp_path
    )
    assert bad_suffix.returncode == 2 and ".wav" in bad_suffix.stderr
    silent = _svcqa(
        "mix", "--vocals", str(vocals), "--instrumental", str(inst), "--out", "m.wav", cwd=tmp_path
    )
    assert silent.returncode == 1 and "silent" in silent.stderr


def test_cover_without_that_checkpoint_is_a_bad_argument(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "songs").mkdir(parents=True)
    _tone(ws / "songs" / "song.wav", 440.0, 1.0, 0.4)
    done = _svcqa(
        "cover", str(ws), "--song", "songs/song.wav", "--step", "500", "--out", "c.wav", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "step 500" in done.stderr
    into_songs = _svcqa(
        "cover", str(ws), "--song", "songs/song.wav", "--step", "500", "--out", str(ws / "songs" / "c.wav"),
        cwd=tmp_path,
    )  # fmt: skip
    assert into_songs.returncode == 2 and "songs/" in into_songs.stderr
