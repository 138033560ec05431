"""``python -m svcqa slice`` and ``python -m svcqa prepare``: outputs, JSON contract, exit codes.

The main flows run as subprocesses; argument errors run in-process (click's runner) to stay quick.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from svcqa.cli.main import main
from svcqa.demo.synth import silence, sung_phrase
from tests.audio_files import tree_fingerprint, write_clip

REPO = Path(__file__).resolve().parent.parent
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")
SR = 22_050
FAST = ("--no-voice", "--workers", "1")
"""Audit options that keep the subprocess quick: no pitch analysis, no worker pool."""


def _svcqa(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svcqa", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _long_take() -> np.ndarray:
    """Return 30 s of singing with two planted silences, at 22.05 kHz."""
    return np.concatenate(
        [
            sung_phrase([67 + i % 5 for i in range(9)], 1.0, SR, seed=3),
            silence(1.0, SR),
            sung_phrase([69 + i % 4 for i in range(9)], 1.0, SR, seed=4),
            silence(0.8, SR),
            sung_phrase([71 + i % 3 for i in range(9)], 1.0, SR, seed=5),
        ]
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace with one speaker: a long take, unsafe names, a stereo 48 kHz take, a tiny and a broken file."""
    root = tmp_path / "ws"
    speaker = root / "recordings" / "alice"
    write_clip(speaker / "take one.wav", 6.0, seed=1)
    phrase = sung_phrase([64, 66, 68, 69, 71], 1.0, 48_000, seed=2)
    write_clip(speaker / "歌声.wav", sample_rate_hz=48_000, samples=np.stack([phrase, phrase], axis=1))
    write_clip(speaker / "tiny.wav", 1.0, seed=3)
    write_clip(speaker / "long take.wav", sample_rate_hz=SR, samples=_long_take())
    (speaker / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return root


def test_prepare_plan_only_prints_the_plan_and_writes_nothing(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    done = _svcqa(
        "prepare",
        str(workspace),
        "--source",
        "recordings/alice",
        "--plan-only",
        *FAST,
        "--json",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "tiny.wav: excluded (flagged too_short)" in done.stdout
    assert "long take.wav -> slice, resample, normalise, rename -> long_take_001.wav" in done.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report) == {"plan", "result"} and report["result"] is None
    assert set(report["plan"]) == {"source_dir", "speaker", "settings", "slicer", "entries"}
    assert report["plan"]["speaker"] == "alice"
    assert not (workspace / "dataset_raw" / "alice").exists()


def test_prepare_writes_safe_clips_reports_skips_and_reruns_idempotently(
    workspace: Path, tmp_path: Path
) -> None:
    originals = tree_fingerprint(workspace / "recordings")
    out = tmp_path / "run.json"
    done = _svcqa("prepare", str(workspace), "--speaker", "alice_v1", *FAST, "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))["result"]
    assert set(result) == {
        "out_dir",
        "written",
        "unchanged",
        "removed",
        "skipped",
        "conflicts",
        "manifest_path",
        "renames_path",
    }
    prepared = workspace / "dataset_raw" / "alice_v1"
    names = sorted(p.name for p in prepared.iterdir())
    assert names == sorted(r["output"] for r in result["written"])
    assert {"take_one.wav", "long_take_001.wav", "long_take_002.wav"} <= set(names)
    assert all(SAFE_NAME.fullmatch(name) for name in names)
    assert "tiny.wav" not in names
    for name in names:
        info = sf.info(prepared / name)
        assert (info.samplerate, info.channels) == (44_100, 1)
        assert 2.0 <= info.duration <= 25.0
    assert [s["path"] for s in result["skipped"]] == ["broken.wav"]
    assert "skipped broken.wav" in done.stdout
    assert Path(result["manifest_path"]).is_file() and Path(result["renames_path"]).is_file()
    assert tree_fingerprint(workspace / "recordings") == originals

    again = _svcqa("prepare", str(workspace), "--speaker", "alice_v1", *FAST, "--json", "-", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)["result"]
    assert rerun["written"] == [] and sorted(rerun["unchanged"]) == names


def test_slice_folder_writes_valid_pieces_and_reports_unreadable_files(
    workspace: Path, tmp_path: Path
) -> None:
    source = workspace / "recordings" / "alice"
    out = tmp_path / "sliced.json"
    done = _svcqa(
        "slice",
        str(source),
        str(tmp_path / "pieces"),
        "--preset",
        "tutorial",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "long take.wav: 3 pieces" in done.stdout
    assert "broken.wav: skipped:" in done.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report) == {"source", "out_dir", "settings", "results", "problems"}
    assert report["settings"]["min_length_ms"] == 8000
    assert [p["path"] for p in report["problems"]] == ["broken.wav"]
    pieces = sorted((tmp_path / "pieces").iterdir())
    assert [p.name for p in pieces] == sorted(Path(o).name for r in report["results"] for o in r["outputs"])
    for piece in pieces:
        assert 2.0 <= sf.info(piece).duration <= 25.0


def test_prepare_bad_arguments_exit_2(workspace: Path, tmp_path: Path) -> None:
    missing = CliRunner().invoke(main, ["prepare", str(tmp_path / "missing")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    bad_name = CliRunner().invoke(main, ["prepare", str(workspace), "--speaker", "two words"])
    assert bad_name.exit_code == 2 and "not a safe folder name" in bad_name.output
    write_clip(workspace / "recordings" / "bob" / "a.wav", 3.0)
    ambiguous = CliRunner().invoke(main, ["prepare", str(workspace), "--plan-only"])
    assert ambiguous.exit_code == 2 and "recordings/alice, recordings/bob" in ambiguous.output


def test_slice_exit_2_on_bad_arguments_and_1_when_nothing_could_be_sliced(
    workspace: Path, tmp_path: Path
) -> None:
    source = workspace / "recordings" / "alice"
    inside = CliRunner().invoke(main, ["slice", str(source), str(source / "out")])
    assert inside.exit_code == 2 and "originals are never written" in inside.output
    assert (
        CliRunner().invoke(main, ["slice", str(source), str(tmp_path / "x"), "--preset", "nope"]).exit_code
        == 2
    )
    nothing = CliRunner().invoke(main, ["slice", str(source / "broken.wav"), str(tmp_path / "y")])
    assert nothing.exit_code == 1
    assert "broken.wav: skipped:" in nothing.output
