"""The Listen page in Streamlit's AppTest: blind voting and rating, reveal, results and export.

Renders are WAV files plus rows written straight into the workspace's ``renders`` table
(``tests.listen_workspace``), each a tone whose pitch tells its checkpoint, so a simulated
listener can vote as a person would. Every test walks the whole element tree (every element's
protobuf: bodies, labels, options, values, help texts, the player's HTML) for strings that
would tell which checkpoint is playing.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from svcqa.core.store import Store
from svcqa.listen.pairs import Pair, pending_pair
from svcqa.listen.ranking import results
from svcqa.listen.stimuli import shortlist, stimuli_from_renders
from svcqa.ui import state
from tests.app_paths import APP, page
from tests.app_text import PAYLOAD, page_text, player_audio, player_pages
from tests.listen_workspace import ListenWorkspace, better_side, heard_step, make_listen_workspace


@pytest.fixture
def listen_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ListenWorkspace:
    made = make_listen_workspace(tmp_path / "ws")
    monkeypatch.setenv("SVCQA_WORKSPACE", str(made.ws.root))
    monkeypatch.delenv("SVCQA_PUBLIC", raising=False)
    return made


def open_listen_page(name: str = "alice") -> AppTest:
    """Return an app session on the Listen page after entering the listener name."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page("listen")).run()
    at.text_input(key=state.LISTEN_NAME_INPUT).input(name)
    at.button(key=state.LISTEN_NAME_SUBMIT).click().run()
    assert not at.exception, at.exception
    return at


def wav_chunks(wav: bytes) -> list[str]:
    """Return the chunk ids of a RIFF/WAVE file."""
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    ids, offset = [], 12
    while offset < len(wav):
        size = int.from_bytes(wav[offset + 4 : offset + 8], "little")
        ids.append(wav[offset : offset + 4].decode("ascii"))
        offset += 8 + size + size % 2
    return ids


def assert_anonymous(at: AppTest, made: ListenWorkspace) -> None:
    text = page_text(at)
    leaked = sorted(s for s in made.identifying_strings() if s in text)
    assert not leaked, f"identifying strings on the page: {leaked}"
    assert str(made.ws.root / "renders") not in text
    for wav in player_audio(at).values():
        assert wav_chunks(wav) == ["fmt ", "data"]


def vote_on_page(at: AppTest, choice: str, tags: tuple[str, ...] = ()) -> None:
    if tags:
        at.multiselect(key=state.LISTEN_TAGS).set_value(list(tags))
    at.button(key=state.LISTEN_VOTE_KEYS[choice]).click().run()
    assert not at.exception, at.exception


def votes(made: ListenWorkspace) -> list[tuple[str, str, str]]:
    with Store(made.ws.db_path).connect() as conn:
        return [
            tuple(row)
            for row in conn.execute("SELECT listener, choice, tags FROM listen_votes ORDER BY rowid")
        ]


def test_nothing_on_the_page_names_a_checkpoint_while_voting_and_rating(listen_ws: ListenWorkspace) -> None:
    at = open_listen_page()
    assert set(player_audio(at)) == {"A", "B"}
    assert_anonymous(at, listen_ws)
    for choice in ("A", "B", "same"):
        vote_on_page(at, choice, tags=("pitch_errors",) if choice == "A" else ())
        assert_anonymous(at, listen_ws)
    assert [c for _, c, _ in votes(listen_ws)] == ["A", "B", "same"]
    assert json.loads(votes(listen_ws)[0][2]) == ["pitch_errors"]
    at.radio(key=state.LISTEN_MODE).set_value("ratings").run()
    assert not at.exception, at.exception
    assert set(player_audio(at)) == {"A", "B", "C", "D"}  # three checkpoints and the hidden copy
    assert_anonymous(at, listen_ws)


def test_a_vote_shows_the_next_pair_and_a_reload_resumes_the_open_one(listen_ws: ListenWorkspace) -> None:
    store = Store(listen_ws.ws.db_path)
    at = open_listen_page()
    first = pending_pair(store, "alice")
    sides = {label: heard_step(wav) for label, wav in player_audio(at).items()}

    reloaded = open_listen_page()  # a new browser session of the same listener
    assert pending_pair(store, "alice") == first
    assert {label: heard_step(wav) for label, wav in player_audio(reloaded).items()} == sides

    vote_on_page(reloaded, "B")
    assert votes(listen_ws) == [("alice", "B", "[]")]
    assert pending_pair(store, "alice") not in (None, first)
    assert reloaded.metric[0].value == "1"  # your votes
    assert any("Vote saved" in s.value for s in reloaded.success)


def test_ratings_are_saved_for_every_letter(listen_ws: ListenWorkspace) -> None:
    at = open_listen_page()
    at.radio(key=state.LISTEN_MODE).set_value("ratings").run()
    letters = list(player_audio(at))
    for k, letter in enumerate(letters):
        at.slider(key=state.LISTEN_SCORE_KEYS[letter]).set_value(10 * (k + 1))
    at.button(key=state.LISTEN_RATE_SUBMIT).click().run()
    assert not at.exception, at.exception
    with Store(listen_ws.ws.db_path).connect() as conn:
        scores = {
            row["letter"]: row["score"] for row in conn.execute("SELECT letter, score FROM listen_ratings")
        }
    assert scores == {letter: 10.0 * (k + 1) for k, letter in enumerate(letters)}
    assert_anonymous(at, listen_ws)


def test_reveal_is_refused_until_enough_votes_then_shows_the_curve_and_exports(
    listen_ws: ListenWorkspace,
) -> None:
    at = open_listen_page()
    vote_on_page(at, better_side_of(at))
    at.button(key=state.LISTEN_REVEAL).click().run()
    assert any("Reveal needs every checkpoint in at least 3 comparisons" in w.value for w in at.warning)
    assert not results(Store(listen_ws.ws.db_path), stimuli_from_renders(listen_ws.ws)).revealed
    assert_anonymous(at, listen_ws)

    for _ in range(30):
        if not any(c.value.startswith("Reveal needs") for c in at.caption):
            break
        vote_on_page(at, better_side_of(at))
    assert_anonymous(at, listen_ws)
    at.button(key=state.LISTEN_REVEAL).click().run()
    assert not at.exception, at.exception

    assert [s.value for s in at.subheader][:1] == ["Results"]
    assert "#### Use step 24,681" in {m.value for m in at.markdown}
    assert any(c.value.startswith("From the blind paired votes; confidence") for c in at.caption)
    assert any("The blind paired votes rank it first of 3" in m.value for m in at.markdown)
    assert (
        at.selectbox(key=state.LISTEN_EXPORT_STEP)
        .format_func(listen_ws.sha_by_step[24_681])
        .endswith("(recommended)")
    )
    assert any("Quality peaks at step **24,681**" in m.value for m in at.markdown)
    assert "24,681" in page_text(at)  # the walk does see what the page shows
    assert at.get("plotly_chart")
    assert at.selectbox(key=state.LISTEN_EXPORT_STEP).value == listen_ws.sha_by_step[24_681]
    at.button(key=state.LISTEN_EXPORT).click().run()
    assert not at.exception, at.exception
    exported = listen_ws.ws.exports / f"{listen_ws.ws.root.name}_G_24681.zip"
    with zipfile.ZipFile(exported) as archive:
        assert sorted(archive.namelist()) == ["G_24681.pth", "config.json"]
    checkpoint_bytes = (listen_ws.ws.logs_44k / "G_24681.pth").stat().st_size
    assert exported.stat().st_size < 0.5 * checkpoint_bytes
    assert at.get("download_button")

    at.button(key=state.LISTEN_METRICS).click().run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "pitch error (cents)" in d.value.columns)
    assert sorted(table["step"]) == sorted(listen_ws.sha_by_step)


def better_side_of(at: AppTest) -> str:
    """Return the side a listener who hears the better render would vote for."""
    audio = player_audio(at)
    return better_side(Pair("", audio["A"], audio["B"]))


def test_without_two_rendered_checkpoints_the_page_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make_listen_workspace(tmp_path / "ws", steps=(13_579,))
    monkeypatch.setenv("SVCQA_WORKSPACE", str(made.ws.root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page("listen")).run()
    assert not at.exception, at.exception
    assert any("at least two checkpoints" in i.value for i in at.info)
    assert not player_pages(at)


def test_player_page_holds_the_audio_and_keys_but_no_url(listen_ws: ListenWorkspace) -> None:
    at = open_listen_page()
    (html,) = player_pages(at)
    without_audio = PAYLOAD.sub("", html)
    assert "http" not in without_audio and "src=" not in without_audio
    assert "setTargetAtTime" in html and "keydown" in html and "loopStart" in html
    wav = player_audio(at)["A"]
    assert io.BytesIO(wav).read(4) == b"RIFF"


def test_shortlisting_keeps_the_most_promising_without_showing_their_numbers(
    listen_ws: ListenWorkspace,
) -> None:
    at = open_listen_page()
    at.number_input(key=state.LISTEN_SHORTLIST_SIZE).set_value(2)
    at.button(key=state.LISTEN_SHORTLIST).click().run()
    assert not at.exception, at.exception
    assert len(shortlist(listen_ws.ws)) == 2
    assert {heard_step(wav) for wav in player_audio(at).values()} <= {24_681, 35_791}
    assert any("2 shortlisted checkpoints of 3" in i.value for i in at.info)
    assert not at.dataframe
    assert_anonymous(at, listen_ws)
