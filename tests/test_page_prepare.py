"""The Prepare page in Streamlit's AppTest: preview, plan and run on the demo workspace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from svcqa.core.workspace import Workspace
from svcqa.demo.singer import SPEAKER, create_demo
from svcqa.prepare.execute import manifest_path, renames_path
from tests.audio_files import tree_fingerprint
from tests.audit_wait import run_audited, wait_for_audit

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("demo") / "ws")
    create_demo(ws)
    return ws


def _prepare_page(root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("SVCQA_WORKSPACE", str(root))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    wait_for_audit(root)  # the Dataset page opened first and audited the recordings
    at.switch_page("app_pages/prepare.py")
    run_audited(at, root)
    assert not at.exception, at.exception
    return at


def _table(at: AppTest, column: str):
    """Return the first table on the page that has ``column``."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_preview_plan_and_run_write_safe_clips_and_leave_originals_alone(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    originals = tree_fingerprint(demo_ws.recordings)
    at = _prepare_page(demo_ws.root, monkeypatch)
    assert at.selectbox(key="prep_source").value == SPEAKER
    assert at.text_input(key="prep_speaker").value == SPEAKER

    # The preview opens on the longest take and cuts it into valid pieces before writing anything.
    assert at.selectbox(key="prep_preview_file").value == "long_take.wav"
    pieces = _table(at, "piece")
    kept = pieces[pieces["kept"]]
    assert len(kept) >= 2
    assert kept["duration_s"].between(2.0, 25.0).all()
    assert not (demo_ws.dataset_raw / SPEAKER).exists()

    at.selectbox(key="prep_preset").select("tutorial").run()
    assert at.number_input(key="slicer_min_length_ms").value == 8000
    at.number_input(key="slicer_threshold_db").set_value(-38.0).run()
    assert at.selectbox(key="prep_preset").value == "custom"

    at.text_input(key="prep_speaker").input("bad name!").run()
    assert any("not a safe folder name" in e.value for e in at.error)
    at.text_input(key="prep_speaker").input("demo_prepared").run()
    assert not at.error

    # Override one clean clip out of the set through the include column.
    paths = list(at.data_editor(key="prep_choices").value["path"])
    at.session_state["prep_choices"] = {
        "edited_rows": {paths.index("phrase_08.wav"): {"include": False}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    plan = _table(at, "why").set_index("source")
    assert not plan.loc["phrase_08.wav", "include"]
    assert "your choice" in plan.loc["phrase_08.wav", "why"]
    assert not plan.loc["short_take.wav", "include"]
    assert "rename" in plan.loc["歌声_01.wav", "actions"]
    planned = {name for cell in plan["outputs"] if cell for name in cell.split(", ")}

    at.button(key="prep_run").click().run()
    assert not at.exception, at.exception
    out = demo_ws.dataset_raw / "demo_prepared"
    written = {p.name for p in out.iterdir()}
    assert written == planned
    assert all(SAFE_NAME.fullmatch(name) for name in written)
    assert {"take_with_spaces.wav", "long_take_001.wav", "stereo_take.wav"} <= written
    assert any(name.startswith("Ge_Sheng") for name in written)
    assert not {"phrase_08.wav", "short_take.wav", "silent_take.wav"} & written
    for path in out.iterdir():
        info = sf.info(path)
        assert (info.samplerate, info.channels) == (44_100, 1)
        assert 2.0 <= info.duration <= 25.0
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Written"] == str(len(written))
    assert manifest_path(demo_ws, "demo_prepared").is_file()
    assert "歌声_01.wav" in renames_path(demo_ws, "demo_prepared").read_text(encoding="utf-8")
    assert demo_ws.load_settings().slicer.threshold_db == -38.0
    assert tree_fingerprint(demo_ws.recordings) == originals

    at.button(key="prep_run").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Written"], metrics["Unchanged"]) == ("0", str(len(written)))


def test_workspace_without_recordings_says_where_to_put_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _prepare_page(tmp_path / "empty", monkeypatch)
    assert any("recordings/<speaker>/" in info.value for info in at.info)
    assert "prep_run" not in [b.key for b in at.button]


def test_bulk_choices_filters_and_plan_groups(demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _prepare_page(demo_ws.root, monkeypatch)
    at.text_input(key="prep_speaker").input("demo_bulk").run()
    plan = _table(at, "why").set_index("source")
    assert not plan.loc["short_take.wav", "include"]

    # Use every too_short clip at once, then leave every noisy clip (used by default) out.
    at.selectbox(key="prep_bulk_flag").select("too_short").run()
    at.button(key="prep_bulk_include_flag").click().run()
    plan = _table(at, "why").set_index("source")
    assert plan.loc["short_take.wav", "include"]
    assert "your choice" in plan.loc["short_take.wav", "why"]
    noisy = [
        p for p, f in zip(plan.index, _table(at, "excluded_by")["flags"], strict=True) if "noisy" in f.split()
    ]
    assert noisy and plan.loc[noisy, "include"].all()
    at.selectbox(key="prep_bulk_flag").select("noisy").run()
    at.button(key="prep_bulk_exclude_flag").click().run()
    plan = _table(at, "why").set_index("source")
    assert not plan.loc[noisy, "include"].any()

    # The include table and the plan show only what is asked for.
    at.selectbox(key="prep_choices_show").select("your choices").run()
    assert sorted(at.data_editor(key="prep_choices").value["path"]) == sorted(["short_take.wav", *noisy])
    at.selectbox(key="prep_choices_show").select("left out").run()
    left_out = at.data_editor(key="prep_choices").value
    assert not left_out["include"].any() and "short_take.wav" not in set(left_out["path"])
    at.segmented_control(key="prep_plan_show").set_value("your choices").run()
    assert sorted(_table(at, "why")["source"]) == sorted(["short_take.wav", *noisy])
    assert any(f"{1 + len(noisy)} of " in c.value and "source files shown" in c.value for c in at.caption)
