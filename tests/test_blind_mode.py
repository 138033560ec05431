"""Owner blind mode in Streamlit's AppTest: "I am taking the test too" hides steps and
per-checkpoint figures on the Renders, Train, Listen and Cover pages of that session until reveal.

The workspace is the Listen page's (``tests.listen_workspace``: three checkpoints, tone renders
written straight into the ``renders`` table) plus a test song whose chosen excerpt every
checkpoint rendered, cached objective metrics whose best is the first checkpoint, and a falling
loss curve: so the Renders page has players, the Train page a metrics plot and an overtraining
watch to show, and the Listen page a shortlist basis.
"""

from __future__ import annotations

import re
import time
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from svcqa.core.settings import Settings
from svcqa.core.store import Store
from svcqa.demo.synth import sung_phrase
from svcqa.listen import checkpoint_metrics, excerpts, render
from svcqa.listen.pairs import Pair
from svcqa.listen.ranking import results
from svcqa.listen.render_metrics import METRIC_NAMES, RenderMetrics
from svcqa.listen.stimuli import stimuli_from_renders
from svcqa.train import training
from svcqa.ui import blind_mode, state
from tests.app_paths import APP, page
from tests.app_text import page_text, player_audio
from tests.listen_workspace import (
    STEPS,
    ListenWorkspace,
    _tone,
    better_side,
    insert_render,
    make_listen_workspace,
)

SONG_HASH = "b1settings000000"
PITCH_ERROR_CENTS = {13_579: 20.0, 24_681: 30.0, 35_791: 40.0}
"""The metrics' best is the first checkpoint; the two after it are worse: the watch speaks."""


@dataclass(frozen=True)
class BlindWorkspace:
    made: ListenWorkspace
    song_render_ids: tuple[str, ...]

    def secrets(self) -> set[str]:
        """Every string that tells a checkpoint: steps, hashes, render ids and file names."""
        return (
            self.made.identifying_strings()
            | set(self.song_render_ids)
            | {f"{r}.wav" for r in self.song_render_ids}
        )


@pytest.fixture
def blind_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BlindWorkspace:
    made = make_listen_workspace(tmp_path / "ws")
    ws = made.ws
    ws.save_settings(Settings().with_section("listen", watch_evaluations=2))
    sf.write(
        ws.songs / "song.wav", sung_phrase([60, 64, 67, 65], 0.6, 44_100, seed=1), 44_100, subtype="PCM_16"
    )
    excerpt = excerpts.choose(ws, excerpts.make_excerpt(ws, ws.songs / "song.wav", 0.0, 2.4, "all"))
    ids = tuple(
        insert_render(ws, made.sha_by_step[step], step, excerpt.id, SONG_HASH, _tone(k))
        for k, step in enumerate(STEPS)
    )
    settings = ws.load_settings()
    key = checkpoint_metrics.dataset_reference(ws, settings).key(settings)
    for stim in stimuli_from_renders(ws, use_shortlist=False):
        values = dict.fromkeys(METRIC_NAMES) | {"f0_error_cents": PITCH_ERROR_CENTS[stim.checkpoint_step]}
        ws.store().render_metrics.put(stim.render_id, key, RenderMetrics(**values).to_dict(), time.time())
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(ws.logs_44k / "lightning_logs" / "version_0"))
    for step in range(0, 36_001, 1_000):
        writer.add_scalar("loss/g/mel", 30.0 - step / 4_000, step)
    writer.close()
    # The Renders page resolves the model before it shows players; these renders need no model.
    monkeypatch.setattr(
        render, "render_context", lambda *a, **k: types.SimpleNamespace(settings_hash=SONG_HASH)
    )
    monkeypatch.setenv("SVCQA_WORKSPACE", str(ws.root))
    monkeypatch.delenv("SVCQA_PUBLIC", raising=False)
    return BlindWorkspace(made, ids)


def _open(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    return at


def _go(at: AppTest, name: str) -> None:
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception


def _leaks(at: AppTest, found: BlindWorkspace) -> list[str]:
    text = page_text(at)
    return sorted(s for s in found.secrets() if s in text)


def _metrics_plotted(at: AppTest) -> bool:
    return any(chart.proto.spec and "pitch error" in chart.proto.spec for chart in at.get("plotly_chart"))


def _vote_until_reveal(at: AppTest, found: BlindWorkspace) -> None:
    at.text_input(key=state.LISTEN_NAME_INPUT).input("owner")
    at.button(key=state.LISTEN_NAME_SUBMIT).click().run()
    store = Store(found.made.ws.db_path)
    for _ in range(40):
        if results(store, stimuli_from_renders(found.made.ws)).refusal is None:
            break
        audio = player_audio(at)
        at.button(key=state.LISTEN_VOTE_KEYS[better_side(Pair("", audio["A"], audio["B"]))]).click().run()
        assert not at.exception, at.exception
        assert not _leaks(at, found)
    at.button(key=state.LISTEN_REVEAL).click().run()
    assert not at.exception, at.exception


def test_blind_mode_hides_steps_and_figures_on_every_page_of_the_session_until_reveal(
    blind_ws: BlindWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    stops = []
    monkeypatch.setattr(training, "request_stop", lambda *a, **k: stops.append(a))
    at = _open("render")
    shown = {m.value for m in at.markdown}
    assert {"**step 13,579**", "**step 24,681**", "**step 35,791**"} <= shown  # the owner sees steps
    assert _leaks(at, blind_ws)  # and the walk does see them

    at.toggle(key=state.OWNER_BLIND_TOGGLE).set_value(True).run()
    assert not at.exception, at.exception
    assert _leaks(at, blind_ws) == []
    assert [m.value for m in at.markdown if m.value.startswith("**render")] == [
        "**render 1**",
        "**render 2**",
        "**render 3**",
    ]
    assert len(at.get("audio")) == 1 + len(STEPS)  # the source and every render, numbered
    assert any("Blind mode: the renders play in a random order" in c.value for c in at.caption)

    _go(at, "train")  # the switch holds for the whole session
    assert at.toggle(key=state.OWNER_BLIND_TOGGLE).value is True
    assert not _metrics_plotted(at)
    assert any("objective metrics of 3 checkpoints stay hidden" in c.value for c in at.caption)
    (warning,) = [w.value for w in at.warning if "Overtraining watch" in w.value]
    assert "start the blind listening test" in warning and not re.search(r"\d", warning)
    assert stops == []  # the watch never stops a run

    _go(at, "cover")
    assert any(w.value == blind_mode.COVER_WARNING for w in at.warning)

    _go(at, "listen")
    assert at.toggle(key=state.OWNER_BLIND_TOGGLE).value is True
    _vote_until_reveal(at, blind_ws)
    assert [s.value for s in at.subheader][:1] == ["Results"]
    assert not [t for t in at.toggle if t.key == state.OWNER_BLIND_TOGGLE]  # nothing left to hide

    _go(at, "render")
    assert "**step 24,681**" in {m.value for m in at.markdown}
    _go(at, "train")
    assert _metrics_plotted(at)


def test_without_blind_mode_the_owner_sees_the_watch_with_steps_and_the_shortlist_basis_on_request(
    blind_ws: BlindWorkspace,
) -> None:
    at = _open("train")
    (warning,) = [w.value for w in at.warning if "Overtraining watch" in w.value]
    assert "since step 13,579" in warning
    assert _metrics_plotted(at)

    _go(at, "listen")
    at.text_input(key=state.LISTEN_NAME_INPUT).input("owner")
    at.button(key=state.LISTEN_NAME_SUBMIT).click().run()
    assert _leaks(at, blind_ws) == []  # voting is blind for everyone, the basis is off until asked
    at.toggle(key=state.LISTEN_SHORTLIST_BASIS).set_value(True).run()
    assert not at.exception, at.exception
    assert "#### Shortlist basis: step 13,579" in {m.value for m in at.markdown}
    assert any(
        c.value.startswith("Not the answer: shortlist basis (objective metrics and loss)") for c in at.caption
    )
    assert not any(m.value.startswith("#### Use step") for m in at.markdown)

    at.toggle(key=state.OWNER_BLIND_TOGGLE).set_value(True).run()
    assert not [t for t in at.toggle if t.key == state.LISTEN_SHORTLIST_BASIS]
    assert _leaks(at, blind_ws) == []
