"""``python -m svcqa``: the audit command's JSON contract and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.audio_files import write_clip

REPO = Path(__file__).resolve().parent.parent
CLIP_KEYS = {"path", "duration_s", "sample_rate", "channels", "lufs", "peak_dbfs", "flags", "error"}


def _svcqa(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svcqa", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_audit_json_contract_and_summary(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    write_clip(ds / "spk" / "ok.wav", 11.0)
    write_clip(ds / "spk" / "sub dir" / "tiny.wav", 1.0, seed=2)
    (ds / "spk" / "broken.flac").write_bytes(b"fLaC-not-really")
    out = tmp_path / "report.json"
    done = _svcqa("audit", str(ds), "--json", str(out), "--workers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 audio files" in done.stdout
    assert "spk/sub dir/tiny.wav: [too_short]" in done.stdout
    report = json.loads(out.read_text())
    assert set(report) >= {"dataset", "summary", "clips"}
    assert {"clip_count", "total_duration_s", "flag_counts", "sweet_spot_share"} <= set(report["summary"])
    rows = {c["path"]: c for c in report["clips"]}
    assert set(rows) == {"spk/ok.wav", "spk/sub dir/tiny.wav", "spk/broken.flac"}
    for row in rows.values():
        assert set(row) >= CLIP_KEYS
    assert rows["spk/ok.wav"]["flags"] == [] and rows["spk/ok.wav"]["error"] is None
    assert rows["spk/ok.wav"]["sample_rate"] == 44_100
    assert set(rows["spk/sub dir/tiny.wav"]["flags"]) == {"too_short", "unsafe_chars"}
    assert rows["spk/broken.flac"]["flags"] == ["unreadable"]
    assert rows["spk/broken.flac"]["error"]


def test_audit_json_to_stdout_is_pure_json(tmp_path: Path) -> None:
    write_clip(tmp_path / "ds" / "a.wav", 3.0)
    done = _svcqa("audit", str(tmp_path / "ds"), "--json", "-", cwd=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout)["summary"]["clip_count"] == 1


def test_audit_bad_arguments_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    done = _svcqa("audit", str(tmp_path / "missing"), cwd=tmp_path)
    assert done.returncode == 2
    assert "does not exist" in done.stderr
    assert _svcqa("audit", str(tmp_path), "--workers", "0", cwd=tmp_path).returncode == 2
    assert _svcqa("audit", cwd=tmp_path).returncode == 2


def test_demo_command_builds_the_demo_speaker(tmp_path: Path) -> None:
    done = _svcqa("demo", str(tmp_path / "ws"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ws" / "recordings" / "demo_singer" / "short_take.wav").exists()
    assert (tmp_path / "ws" / "configs" / "44k").is_dir()


def test_serve_refuses_public_mode_without_a_password(tmp_path: Path) -> None:
    done = _svcqa("serve", "--public", "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert done.returncode != 0
    assert "password" in done.stderr
