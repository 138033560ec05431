"""Objective metrics of the test's renders: measured once and cached, per checkpoint, shortlist, agreement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from svcqa.core.settings import Settings
from svcqa.demo.synth import sung_phrase
from svcqa.listen import checkpoint_metrics, excerpts, render_metrics
from svcqa.listen.checkpoint_metrics import CheckpointMetrics, MetricsReference, agreement, most_promising
from svcqa.listen.ranking import RankedCheckpoint
from svcqa.listen.stimuli import stimuli_from_renders
from tests.app_paths import REPO, page
from tests.listen_workspace import SR, insert_render, make_listen_workspace

NOTES = [60, 64, 67, 65]
NOTE_S = 0.6


@pytest.fixture
def measured_ws(tmp_path: Path):
    """Checkpoints whose render sings the excerpt in tune (24681), a semitone sharp (13579) or a fifth off (35791)."""
    made = make_listen_workspace(tmp_path / "ws")
    ws = made.ws
    song = ws.songs / "song.wav"
    sf.write(song, sung_phrase(NOTES, NOTE_S, 44_100, seed=1), 44_100, subtype="PCM_16")
    excerpt = excerpts.choose(ws, excerpts.make_excerpt(ws, song, 0.0, len(NOTES) * NOTE_S, "all"))
    for step, shift in ((13_579, 1), (24_681, 0), (35_791, 7)):
        notes = [n + shift for n in NOTES]
        insert_render(
            ws,
            made.sha_by_step[step],
            step,
            excerpt.id,
            "m0settings000000",
            sung_phrase(notes, NOTE_S, SR, seed=1),
        )
    stimuli = [s for s in stimuli_from_renders(ws) if s.excerpt_id == excerpt.id]
    return ws, stimuli


def test_renders_are_measured_once_then_read_from_the_cache(
    measured_ws, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, stimuli = measured_ws
    settings = Settings()
    reference = MetricsReference(None, None)
    calls = []
    real = render_metrics.render_metrics
    monkeypatch.setattr(render_metrics, "render_metrics", lambda *a, **k: calls.append(1) or real(*a, **k))

    first = checkpoint_metrics.measure_renders(ws, stimuli, reference, settings)
    assert len(calls) == 3
    again = checkpoint_metrics.measure_renders(ws, stimuli, reference, settings)
    assert len(calls) == 3
    assert again == first
    assert (
        checkpoint_metrics.cached_metrics(ws, stimuli, MetricsReference(None, (55.0, 70.0)), settings) == {}
    )

    rows = {r.checkpoint_step: r.values for r in checkpoint_metrics.per_checkpoint(stimuli, first)}
    assert rows[24_681]["f0_error_cents"] < 20
    assert 70 < rows[13_579]["f0_error_cents"] < 130
    assert rows[35_791]["f0_error_cents"] > 600
    assert rows[24_681]["voice_similarity"] is None  # no dataset: no voice centroid, and it says so
    assert first[stimuli[0].render_id].reasons["voice_similarity"] == "no dataset voice centroid"


def _row(step: int, **values: float) -> CheckpointMetrics:
    return CheckpointMetrics(step, f"{step:064x}", 2, values)


def test_most_promising_takes_the_best_mean_rank_and_puts_unmeasured_last() -> None:
    rows = [
        _row(1, voice_similarity=0.70, f0_error_cents=80.0),
        _row(2, voice_similarity=0.90, f0_error_cents=20.0),
        _row(3, voice_similarity=0.85, f0_error_cents=25.0),
        _row(4, voice_similarity=0.50, f0_error_cents=30.0),
        _row(5),
    ]
    assert [int(sha, 16) for sha in most_promising(rows, 2)] == [2, 3]
    assert int(most_promising(rows, 5)[-1], 16) == 5


def _ranking(scores: dict[int, float]) -> list[RankedCheckpoint]:
    return [RankedCheckpoint(s, f"{s:064x}", v, v - 0.3, v + 0.3, 9) for s, v in scores.items()]


def test_agreement_states_direction_strength_and_uncertainty_honestly() -> None:
    blind = _ranking({1: -1.0, 2: -0.5, 3: 0.0, 4: 0.4, 5: 0.8, 6: 1.2, 7: 1.5})
    rows = [
        _row(
            s, voice_similarity=0.5 + 0.05 * s, f0_error_cents=10.0 * s, dnsmos_ovrl=3.0 + 0.1 * ((s * 3) % 7)
        )
        for s in range(1, 8)
    ]
    rows.append(_row(8, high_note_hnr_db=12.0))
    found = {a.metric: a for a in agreement(rows, blind)}
    assert found["voice_similarity"].rho == pytest.approx(1.0)
    assert found["voice_similarity"].statement.startswith("voice similarity agrees with the listeners")
    assert found["f0_error_cents"].rho == pytest.approx(-1.0)  # more error where the ears heard better
    assert "contradicts the listeners" in found["f0_error_cents"].statement
    assert found["dnsmos_ovrl"].p_value > 0.05
    assert "no reliable agreement" in found["dnsmos_ovrl"].statement
    assert "7 checkpoints" in found["dnsmos_ovrl"].statement
    assert found["high_note_hnr_db"].rho is None  # step 8 has no blind score
    assert "too few" in found["high_note_hnr_db"].statement


def test_metrics_cli_and_train_page_show_metrics_against_step(
    measured_ws, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = measured_ws
    done = subprocess.run(
        [sys.executable, "-m", "svcqa", "metrics", str(ws.root), "--json", "-"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["checkpoint_step"]: row for row in json.loads(done.stdout)["checkpoints"]}
    assert set(rows) >= {13_579, 24_681, 35_791}
    for row in rows.values():
        assert {
            "voice_similarity",
            "f0_error_cents",
            "voicing_mismatch",
            "high_note_hnr_db",
            "dnsmos_ovrl",
        } <= set(row)
    assert (
        rows[24_681]["f0_error_cents"] < 30 < rows[13_579]["f0_error_cents"] < rows[35_791]["f0_error_cents"]
    )
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.switch_page(page("train")).run()
    assert not at.exception
    assert any(chart.proto.spec and "pitch error" in chart.proto.spec for chart in at.get("plotly_chart"))
