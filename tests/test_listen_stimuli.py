"""The test's stimuli from a workspace's renders, the shortlist, progress, resuming, and the quality curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from svcqa.core.store import Store
from svcqa.listen.pairs import next_pair, pending_pair, vote
from svcqa.listen.ranking import RankedCheckpoint, progress, quality_curve
from svcqa.listen.stimuli import ListeningError, clear_shortlist, set_shortlist, stimuli_from_renders
from svcqa.listen.trials import next_trial, pending_trial, rate
from tests.listen_workspace import (
    EXCERPTS,
    SETTINGS_HASH,
    STEPS,
    ListenWorkspace,
    insert_render,
    make_listen_workspace,
)

TONE = 0.1 * np.sin(np.arange(8000) / 10.0)


@pytest.fixture
def made(tmp_path: Path) -> ListenWorkspace:
    return make_listen_workspace(tmp_path / "ws")


def test_each_checkpoint_appears_once_per_excerpt_with_a_playable_file(made: ListenWorkspace) -> None:
    stimuli = stimuli_from_renders(made.ws)
    assert sorted((s.excerpt_id, s.checkpoint_step) for s in stimuli) == sorted(
        (e, step) for e in EXCERPTS for step in STEPS
    )
    assert {s.render_id for s in stimuli} == set(made.render_ids)
    assert all(s.path.is_file() and made.ws.root in s.path.parents for s in stimuli)


def test_silent_failed_missing_and_outside_renders_are_left_out(made: ListenWorkspace) -> None:
    ws, sha = made.ws, made.sha_by_step
    extra = {
        insert_render(ws, sha[13_579], 13_579, "silent00excerpt", SETTINGS_HASH, TONE, silent=True),
        insert_render(
            ws, sha[24_681], 24_681, "silent00excerpt", SETTINGS_HASH, None, error="truncated checkpoint"
        ),
        insert_render(ws, sha[35_791], 35_791, "silent00excerpt", SETTINGS_HASH, None),  # file never written
    }
    with Store(ws.db_path).connect() as conn:
        conn.execute("UPDATE renders SET path = '../../etc/passwd' WHERE id = ?", (made.render_ids[0],))
    found = {s.render_id for s in stimuli_from_renders(ws)}
    assert not found & extra
    assert made.render_ids[0] not in found
    assert found == set(made.render_ids[1:])


def test_an_excerpt_uses_the_settings_hash_with_most_renders_then_the_newest(made: ListenWorkspace) -> None:
    ws, sha = made.ws, made.sha_by_step
    verse = EXCERPTS[0]
    # Two checkpoints rendered again with another transpose: fewer renders, so not used.
    for step in STEPS[:2]:
        insert_render(
            ws, sha[step], step, verse, "0ther0settings00", TONE, rendered_at="2099-01-01T00:00:00+00:00"
        )
    assert {s.render_id for s in stimuli_from_renders(ws)} == set(made.render_ids)
    # Now all three: a tie, and the newer renders win.
    insert_render(
        ws, sha[STEPS[2]], STEPS[2], verse, "0ther0settings00", TONE, rendered_at="2099-01-01T00:00:00+00:00"
    )
    chosen = [s for s in stimuli_from_renders(ws) if s.excerpt_id == verse]
    assert len(chosen) == 3
    assert all("0ther0settings00" in str(s.path) for s in chosen)


def test_a_shortlist_keeps_only_its_checkpoints_until_cleared(made: ListenWorkspace) -> None:
    ws, sha = made.ws, made.sha_by_step
    assert set_shortlist(ws, [sha[13_579], sha[35_791]]) == 2
    assert {s.checkpoint_step for s in stimuli_from_renders(ws)} == {13_579, 35_791}
    assert len(stimuli_from_renders(ws, use_shortlist=False)) == 6
    with pytest.raises(ListeningError, match="at least two"):
        set_shortlist(ws, [sha[13_579]])
    clear_shortlist(ws)
    assert {s.checkpoint_step for s in stimuli_from_renders(ws)} == set(STEPS)


def test_progress_counts_votes_and_short_checkpoints_without_naming_them(made: ListenWorkspace) -> None:
    store = Store(made.ws.db_path)
    stimuli = stimuli_from_renders(made.ws)
    fresh = progress(store, stimuli, "alice")
    assert (fresh.votes, fresh.checkpoints, fresh.checkpoints_short, fresh.votes_needed) == (0, 3, 3, 5)
    pair = next_pair(store, stimuli, "alice")
    vote(store, pair.id, "alice", "A")
    vote(store, next_pair(store, stimuli, "bob").id, "bob", "same")
    after = progress(store, stimuli, "alice")
    assert (after.votes, after.listener_votes, after.votes_needed) == (2, 1, 3)  # 9 - 4 comparisons, 2 a vote
    text = repr(after.to_dict())
    assert not any(s in text for s in made.identifying_strings())


def test_an_unvoted_pair_and_an_unrated_trial_are_resumed(made: ListenWorkspace) -> None:
    store = Store(made.ws.db_path)
    stimuli = stimuli_from_renders(made.ws)
    assert pending_pair(store, "alice") is None
    pair = next_pair(store, stimuli, "alice")
    assert pending_pair(store, "alice") == pair.id
    assert pending_pair(store, "bob") is None
    vote(store, pair.id, "alice", "B")
    assert pending_pair(store, "alice") is None
    trial = next_trial(store, stimuli, "alice")
    assert pending_trial(store, "alice") == trial.id
    rate(store, trial.id, "alice", dict.fromkeys(trial.letters, 50.0))
    assert pending_trial(store, "alice") is None


def _ranked(step: int, score: float, half: float = 0.3) -> RankedCheckpoint:
    return RankedCheckpoint(step, f"{step:064x}", score, score - half, score + half, 10)


def test_quality_curve_finds_the_peak_the_ties_and_where_overtraining_starts() -> None:
    ranking = [
        _ranked(1_000, -1.5),
        _ranked(2_000, 0.7),
        _ranked(3_000, 0.9),
        _ranked(4_000, 0.4),
        _ranked(5_000, -0.6),
    ]
    curve = quality_curve(ranking)
    assert curve.peak_step == 3_000
    assert curve.tied_steps == (2_000, 3_000, 4_000)
    assert curve.overtraining_step == 5_000
    rising = quality_curve([_ranked(1_000, -1.0), _ranked(2_000, 0.0), _ranked(3_000, 1.0)])
    assert (rising.peak_step, rising.overtraining_step) == (3_000, None)
    with pytest.raises(ListeningError):
        quality_curve([])


def test_charts_plot_score_and_rating_against_step_with_their_intervals() -> None:
    from svcqa.listen.ranking import RatedCheckpoint
    from svcqa.ui import listen_charts

    ranking = [_ranked(3_000, 0.9), _ranked(1_000, -1.5), _ranked(5_000, -0.6)]
    fig = listen_charts.preference_chart(ranking, quality_curve(ranking))
    assert list(fig.data[0].x) == [1_000, 3_000, 5_000]
    assert list(fig.data[0].error_y.array) == pytest.approx([0.3, 0.3, 0.3])
    ratings = [
        RatedCheckpoint(1_000, "a" * 64, 40.0, None, None, 1),
        RatedCheckpoint(2_000, "b" * 64, 70.0, 60.0, 80.0, 3),
    ]
    fig = listen_charts.ratings_chart(ratings)
    assert list(fig.data[0].y) == [40.0, 70.0]
    assert list(fig.data[0].error_y.array) == [0.0, 10.0]
