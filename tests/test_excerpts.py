"""Test songs and excerpts: safe uploads, window checks, and the suggested windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svcqa.core.settings import RenderSettings, UploadSettings
from svcqa.core.uploads import UploadError
from svcqa.core.workspace import Workspace
from svcqa.demo.synth import sung_phrase
from svcqa.listen import excerpts
from svcqa.listen.excerpts import ExcerptError, suggest_windows

SR = 16_000
SETTINGS = RenderSettings()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").ensure_layout()


def _verse(notes: list[int], phrases: int, seed: int = 0) -> np.ndarray:
    """Return ``phrases`` sung phrases of ``notes`` (1.5 s each), each followed by a 0.5 s breath."""
    breath = np.zeros(SR // 2, dtype=np.float32)
    return np.concatenate(
        [part for k in range(phrases) for part in (sung_phrase(notes, 1.5, SR, seed=seed + k), breath)]
    )


def _wav(path: Path, samples: np.ndarray, rate: int = SR) -> Path:
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def test_high_window_holds_the_highest_sustained_notes_and_mid_sits_elsewhere() -> None:
    low, high = _verse([57, 59, 60], 6), _verse([69, 72, 74], 4, seed=10)
    song = np.concatenate([low, high, low, low])
    high_start_s, high_end_s = low.size / SR, (low.size + high.size) / SR
    windows = {w.label: w for w in suggest_windows(song, SR, SETTINGS)}
    assert set(windows) == {"high", "mid"}
    top = windows["high"]
    assert top.start_s <= high_start_s + 0.5 and top.end_s >= high_end_s - 0.5
    assert SETTINGS.excerpt_min_s <= top.end_s - top.start_s <= SETTINGS.excerpt_max_s
    mid = windows["mid"]
    assert mid.start_s >= top.end_s or mid.end_s <= top.start_s
    assert SETTINGS.excerpt_min_s <= mid.end_s - mid.start_s <= SETTINGS.excerpt_max_s


def test_windows_end_in_a_breath_rather_than_mid_note() -> None:
    song = np.concatenate(
        [_verse([57, 59, 60], 8), _verse([69, 72, 74], 4, seed=10), _verse([57, 59, 60], 8)]
    )
    for window in suggest_windows(song, SR, SETTINGS):
        for edge_s in (window.start_s, window.end_s):
            if 0.0 < edge_s < song.size / SR:
                frame = song[int(edge_s * SR) - 80 : int(edge_s * SR) + 80]
                assert np.max(np.abs(frame)) < 0.05, (window, edge_s)


def test_short_song_is_rendered_whole_and_a_song_without_voice_from_its_start() -> None:
    short = _verse([60, 62, 64], 3)
    assert [(w.label, w.start_s) for w in suggest_windows(short, SR, SETTINGS)] == [("whole", 0.0)]
    quiet = np.zeros(40 * SR, dtype=np.float32)
    (window,) = suggest_windows(quiet, SR, SETTINGS)
    assert (window.label, window.start_s, window.end_s) == ("start", 0.0, SETTINGS.excerpt_s)


def test_excerpt_id_changes_with_the_song_content_and_the_window(ws: Workspace) -> None:
    song = _wav(ws.songs / "a.wav", _verse([60, 62, 64], 3))
    first = excerpts.make_excerpt(ws, song, 1.0, 4.0)
    assert first.song == "songs/a.wav" and first.duration_s == 3.0
    assert excerpts.make_excerpt(ws, song, 1.0, 4.0).id == first.id
    assert excerpts.make_excerpt(ws, song, 1.0, 4.5).id != first.id
    other = _wav(ws.songs / "b.wav", _verse([60, 62, 64], 3, seed=5))
    assert excerpts.make_excerpt(ws, other, 1.0, 4.0).id != first.id


@pytest.mark.parametrize(
    ("start_s", "end_s", "words"),
    [(4.0, 1.0, "start must come before"), (0.0, 99.0, "not inside"), (1.0, 1.5, "choose between")],
)
def test_bad_excerpt_windows_are_refused(ws: Workspace, start_s: float, end_s: float, words: str) -> None:
    song = _wav(ws.songs / "a.wav", _verse([60, 62, 64], 3))
    with pytest.raises(ExcerptError, match=words):
        excerpts.make_excerpt(ws, song, start_s, end_s)


def test_uploads_get_safe_new_names_and_oversized_ones_are_refused(ws: Workspace, tmp_path: Path) -> None:
    data = _wav(tmp_path / "x.wav", _verse([60, 62, 64], 1)).read_bytes()
    first = excerpts.save_song(ws, "Mein Lied (live).WAV", data)
    second = excerpts.save_song(ws, "Mein Lied (live).WAV", data)
    assert (first.name, second.name) == ("Mein_Lied_live.wav", "Mein_Lied_live_2.wav")
    assert first.read_bytes() == data and excerpts.list_songs(ws) == [first, second]
    with pytest.raises(UploadError, match="over the"):
        excerpts.save_song(ws, "big.wav", data, UploadSettings(max_song_bytes=len(data) - 1))


def test_importing_the_same_song_twice_reuses_the_copy(ws: Workspace, tmp_path: Path) -> None:
    source = _wav(tmp_path / "take 1.wav", _verse([60, 62, 64], 2))
    copied = excerpts.import_song(ws, source)
    assert copied.parent == ws.songs.resolve() and copied.name == "take_1.wav"
    assert excerpts.import_song(ws, source) == copied
    assert excerpts.import_song(ws, copied) == copied


def test_reading_an_excerpt_of_a_changed_song_is_refused(ws: Workspace) -> None:
    song = _wav(ws.songs / "a.wav", _verse([60, 62, 64], 3))
    excerpt = excerpts.make_excerpt(ws, song, 1.0, 3.0)
    samples = excerpts.read_excerpt(ws, excerpt, 44_100)
    assert samples.dtype == np.float32 and abs(samples.size - 2 * 44_100) <= 1
    _wav(song, _verse([60, 62, 64], 3, seed=9))
    with pytest.raises(ExcerptError, match="changed"):
        excerpts.read_excerpt(ws, excerpt, 44_100)


def test_chosen_excerpts_are_kept_in_the_workspace(ws: Workspace) -> None:
    song = _wav(ws.songs / "a.wav", _verse([60, 62, 64], 3))
    a = excerpts.choose(ws, excerpts.make_excerpt(ws, song, 0.0, 2.0, "high"))
    b = excerpts.choose(ws, excerpts.make_excerpt(ws, song, 2.0, 5.0))
    assert excerpts.chosen_excerpts(ws) == [a, b]
    excerpts.unchoose(ws, a.id)
    assert excerpts.chosen_excerpts(ws) == [b]
    assert set(excerpts.known_excerpts(ws)) == {a.id, b.id}
