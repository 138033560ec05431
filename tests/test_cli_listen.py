"""``python -m svcqa listen ...`` and ``export``: a scripted listener from first pair to exported model.

The workspace holds real WAV renders and rows written directly (``tests.listen_workspace``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from svcqa.core.store import Store
from svcqa.listen.ranking import results as listen_results
from svcqa.listen.stimuli import stimuli_from_renders
from tests.listen_workspace import QUALITY, ListenWorkspace, heard_step, make_listen_workspace

REPO = Path(__file__).resolve().parent.parent


def _svcqa(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svcqa", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _json(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def listen_ws(tmp_path_factory: pytest.TempPathFactory) -> ListenWorkspace:
    return make_listen_workspace(tmp_path_factory.mktemp("cli_listen") / "ws")


def test_scripted_listener_votes_until_reveal_and_exports_the_best(
    listen_ws: ListenWorkspace, tmp_path: Path
) -> None:
    ws = str(listen_ws.ws.root)
    store = Store(listen_ws.ws.db_path)
    before = _json(_svcqa("listen", "results", ws, "--json", cwd=tmp_path))
    assert before["votes"] == 0 and before["revealed"] is False and before["ranking"] == []
    assert before["recommendation"]["basis"] == "none" and before["recommendation"]["checkpoint_step"] is None
    assert before["overtraining_from_step"] is None
    blind = _json(_svcqa("listen", "results", ws, "--blind", "--json", cwd=tmp_path))
    assert blind["recommendation"] is None and blind["overtraining_from_step"] is None

    pair = _json(
        _svcqa(
            "listen", "next", ws, "--listener", "bot", "--json", "--out", str(tmp_path / "p"), cwd=tmp_path
        )
    )
    assert sorted(Path(pair[s]).name for s in ("a", "b")) == ["a.wav", "b.wav"]
    again = _json(_svcqa("listen", "next", ws, "--listener", "bot", "--json", cwd=tmp_path))
    assert again["pair_id"] == pair["pair_id"]  # not voted yet: the same pair again

    refused = _svcqa("listen", "reveal", ws, cwd=tmp_path)
    assert refused.returncode == 1
    assert "Reveal needs every checkpoint in at least 3 comparisons" in refused.stderr

    for _ in range(12):
        a, b = (heard_step(Path(pair[s]).read_bytes()) for s in ("a", "b"))
        choice = "A" if QUALITY[a] > QUALITY[b] else "B"
        cast = _json(
            _svcqa(
                "listen",
                "vote",
                ws,
                "--listener",
                "bot",
                "--pair",
                pair["pair_id"],
                "--choice",
                choice,
                "--tag",
                "noise",
                "--json",
                cwd=tmp_path,
            )
        )
        assert cast["choice"] == choice and cast["tags"] == ["noise"]
        if listen_results(store, stimuli_from_renders(listen_ws.ws)).refusal is None:
            break
        pair = _json(_svcqa("listen", "next", ws, "--listener", "bot", "--json", cwd=tmp_path))

    still_hidden = _json(_svcqa("listen", "results", ws, "--json", cwd=tmp_path))
    assert still_hidden["ranking"] == [] and still_hidden["votes"] >= 5
    assert not any(sha in json.dumps(still_hidden) for sha in listen_ws.sha_by_step.values())

    revealed = _svcqa("listen", "reveal", ws, cwd=tmp_path)
    assert revealed.returncode == 0, revealed.stderr
    assert "peak: step 24681" in revealed.stdout
    assert "Use step 24681 (from the blind paired votes; confidence" in revealed.stdout
    results = _json(_svcqa("listen", "results", ws, "--json", cwd=tmp_path))
    assert results["revealed"] is True
    ranking = results["ranking"]
    assert ranking[0]["checkpoint_step"] == 24_681
    assert all(r["ci_low"] <= r["score"] <= r["ci_high"] for r in ranking)
    recommended = results["recommendation"]
    assert recommended.keys() == {"checkpoint_step", "basis", "confidence", "reasons"}
    assert (recommended["checkpoint_step"], recommended["basis"]) == (24_681, "blind_ranking")
    assert 0 < recommended["confidence"] <= 1 and recommended["reasons"]
    assert "overtraining_from_step" in results and results["overtraining_from_step"] in (None, 35_791)
    assert (
        _json(_svcqa("listen", "results", ws, "--blind", "--json", cwd=tmp_path))["recommendation"]
        == recommended
    )

    out = tmp_path / "best.zip"
    exported = _json(_svcqa("export", ws, "--step", "24681", str(out), "--json", cwd=tmp_path))
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["G_24681.pth", "config.json"]
    assert exported["size_bytes"] < 0.5 * exported["checkpoint_bytes"]


def test_bad_votes_and_unknown_steps_exit_1_with_the_reason(
    listen_ws: ListenWorkspace, tmp_path: Path
) -> None:
    ws = str(listen_ws.ws.root)
    unknown = _svcqa(
        "listen", "vote", ws, "--listener", "bot", "--pair", "nope", "--choice", "A", cwd=tmp_path
    )
    assert unknown.returncode == 1 and "Unknown pair" in unknown.stderr
    bad_choice = _svcqa(
        "listen", "vote", ws, "--listener", "bot", "--pair", "x", "--choice", "C", cwd=tmp_path
    )
    assert bad_choice.returncode == 2
    missing = _svcqa("export", ws, "--step", "7", str(tmp_path / "x.zip"), cwd=tmp_path)
    assert missing.returncode == 1 and "No registered checkpoint of step 7" in missing.stderr
    assert not (tmp_path / "x.zip").exists()


def test_invite_list_and_revoke_from_the_command_line(listen_ws: ListenWorkspace, tmp_path: Path) -> None:
    from svcqa.listen import invites

    ws = str(listen_ws.ws.root)
    made = _json(
        _svcqa("listen", "invite", ws, "--label", "Sam", "--url", "http://box:8600/", "--json", cwd=tmp_path)
    )
    assert made["link"].startswith("http://box:8600/?listen=")
    token = made["link"].split("=", 1)[1]
    assert invites.check_token(listen_ws.ws, token).label == "Sam"
    listed = _json(_svcqa("listen", "invites", ws, "--json", cwd=tmp_path))
    assert [i["label"] for i in listed if not i["revoked"]] == ["Sam"]
    done = _svcqa("listen", "revoke", ws, made["invite"]["id"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert invites.check_token(listen_ws.ws, token) is None
