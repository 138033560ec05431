"""The Dataset page in Streamlit's AppTest, on the demo workspace and on an empty one."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from svcqa.core.workspace import Workspace
from svcqa.demo.singer import PLANTED, create_demo
from svcqa.demo.synth import sung_phrase
from tests.audit_wait import run_audited, wait_for_audit

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
PLANTED_FLAGS = set(PLANTED.values())


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = Workspace(tmp_path_factory.mktemp("demo") / "ws")
    create_demo(ws)
    return ws.root


def _run(root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("SVCQA_WORKSPACE", str(root))
    at = run_audited(AppTest.from_file(APP, default_timeout=180), root)
    assert not at.exception, at.exception
    return at


def test_dataset_page_shows_every_planted_problem(demo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(demo_root, monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clips"] == str(len(list((demo_root / "recordings" / "demo_singer").iterdir())))
    assert int(metrics["Clips with problems"]) >= len(PLANTED_FLAGS)
    offered = {option.split(" ")[0] for option in at.multiselect(key="flag_filter").options}
    assert offered >= PLANTED_FLAGS
    table = at.dataframe[0].value
    flagged = {path: flags for path, flags in zip(table["path"], table["flags"], strict=True)}
    for name, code in PLANTED.items():
        if code in PLANTED_FLAGS:
            assert code in flagged[f"demo_singer/{name}"].split(), name


def test_filtering_and_inspecting_a_clip(demo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(demo_root, monkeypatch)
    at.multiselect(key="flag_filter").select("too_short").run()
    table = at.dataframe[0].value
    assert list(table["path"]) == ["demo_singer/short_take.wav"]
    players_before = len(at.get("audio"))
    at.selectbox(key="clip_pick").select("demo_singer/short_take.wav").run()
    assert not at.exception
    assert any("too_short" in w.value for w in at.warning)
    assert len(at.get("audio")) == players_before + 1
    at.text_input(key="clip_search").input("nothing-matches").run()
    assert at.dataframe[0].value.empty


def test_threshold_change_is_saved_and_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path / "ws")
    create_demo(ws)
    at = _run(ws.root, monkeypatch)
    at.number_input(key="th_min_s").set_value(10.0)
    at.button(key="th_save").click().run()
    assert ws.load_settings().audit.min_duration_s == 10.0
    counts = at.multiselect(key="flag_filter").options
    assert any(o.startswith("too_short (") and not o.startswith("too_short (1)") for o in counts)


def test_empty_workspace_offers_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "empty"
    at = _run(root, monkeypatch)
    assert any("No recordings yet" in i.value for i in at.info)
    at.button(key="create_demo").click().run()
    assert not at.exception
    assert wait_for_audit(root) is not None  # the demo's clips are audited in the background
    at.run()
    assert (root / "recordings" / "demo_singer" / "short_take.wav").exists()
    assert at.metric


def test_mixed_verdict_speech_clips_and_pitch_coverage(
    demo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    high_song = sung_phrase([74, 76, 77, 79, 77, 76], 2.0, 44_100, seed=5)
    sf.write(demo_root / "songs" / "high_song.wav", high_song, 44_100)
    at = _run(demo_root, monkeypatch)
    assert any("Mixed dataset" in e.value for e in at.error)
    assert any("Remove these 3 clips" in m.value for m in at.markdown)
    assert any("Usable range" in m.value for m in at.markdown)
    at.selectbox(key="song_pick").select("high_song.wav").run()
    assert not at.exception
    advice = " ".join(w.value for w in at.warning)
    assert "covers thinly" in advice and "transpose **-" in advice


def test_voice_map_and_voice_columns(demo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(demo_root)
    default = ws.load_settings()
    ws.save_settings(default.with_section("voice", score_quality=True))  # DNSMOS is off by default
    try:
        at = _run(demo_root, monkeypatch)
    finally:
        ws.save_settings(default)
    table = at.dataframe[0].value
    assert {"voice_similarity", "noise_floor_db", "dnsmos_bak"} <= set(table.columns)
    flagged = dict(zip(table["path"], table["flags"], strict=True))
    assert "other_voice" in flagged["demo_singer/friend_take.wav"].split()
    assert "noisy" in flagged["demo_singer/noisy_room.wav"].split()
    clean = [p for p in table["path"] if p.startswith("demo_singer/phrase_") and "copy" not in p]
    assert all("other_voice" not in flagged[p] and "noisy" not in flagged[p] for p in clean)
    assert any("Click a point" in c.value for c in at.caption)
    assert any("what was measured" in c.value for c in at.caption)


def test_next_flagged_clip_steps_through_the_flagged_clips(
    demo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(demo_root, monkeypatch)
    table = at.dataframe[0].value
    flagged = [p for p, f in zip(table["path"], table["flags"], strict=True) if f]
    assert any(
        f"{len(table)} of {len(table)} clips shown, {len(flagged)} flagged" in c.value for c in at.caption
    )
    at.button(key="clip_next").click().run()
    assert at.session_state["clip_pick"] == flagged[0]
    assert any(f"(flagged clip 1 of {len(flagged)})" in m.value for m in at.markdown)
    at.button(key="clip_next").click().run()
    assert at.session_state["clip_pick"] == flagged[1]
    assert any(f"(flagged clip 2 of {len(flagged)})" in m.value for m in at.markdown)
    at.button(key="clip_prev").click().run()
    assert at.session_state["clip_pick"] == flagged[0]
    assert len(at.get("audio")) >= 1


def test_an_unreadable_clip_shows_its_error_in_the_problem_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    singer = root / "recordings" / "singer"
    singer.mkdir(parents=True)
    sf.write(singer / "fine.wav", sung_phrase([60, 62, 64], 1.0, 44_100, seed=1), 44_100)
    (singer / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 20)
    at = _run(root, monkeypatch)
    table = at.dataframe[0].value.set_index("path")
    assert table.loc["singer/broken.wav", "problem"].startswith("Cannot decode: ")
    assert table.loc["singer/fine.wav", "flags"] == ""
    assert any("2 of 2 clips shown, 1 flagged" in c.value for c in at.caption)
