"""Charts that show the outliers: one bad clip among 1,500 stays visible."""

from __future__ import annotations

from svcqa.core.settings import AuditSettings
from svcqa.ui.charts import length_histogram, loudness_histogram, outliers
from svcqa.ui.pitch_charts import voice_map_chart


def _clips(n_clean: int) -> list[dict]:
    clean = [{"path": f"c{i}.wav", "flags": [], "duration_s": 12.0, "lufs": -20.0} for i in range(n_clean)]
    bad = [
        {"path": "short.wav", "flags": ["too_short"], "duration_s": 0.6, "lufs": -21.0},
        {"path": "quiet.wav", "flags": ["too_quiet"], "duration_s": 11.0, "lufs": -59.0},
    ]
    return clean + bad


def test_histograms_draw_each_flagged_clip_on_its_own_strip() -> None:
    clips = _clips(1500)
    figure = length_histogram(
        [c["duration_s"] for c in clips], AuditSettings(), outliers(clips, "duration_s")
    )
    bars = {t.name: list(t.x) for t in figure.data if t.type == "histogram"}
    assert len(bars["clean"]) == 1500 and sorted(bars["flagged"]) == [0.6, 11.0]
    strip = next(t for t in figure.data if t.type == "scatter")
    assert sorted(strip.x) == [0.6, 11.0] and strip.yaxis == "y2"
    assert {row[0] for row in strip.customdata} == {"short.wav", "quiet.wav"}
    loud = loudness_histogram([c["lufs"] for c in clips], -23.0, outliers(clips, "lufs"))
    assert sorted(next(t for t in loud.data if t.type == "scatter").x) == [-59.0, -21.0]


def test_voice_map_draws_flagged_clips_last_and_larger() -> None:
    clips = [{"path": f"c{i}.wav", "flags": []} for i in range(50)]
    clips += [{"path": "friend.wav", "flags": ["other_voice"]}, {"path": "hiss.wav", "flags": ["noisy"]}]
    xy = {c["path"]: [float(i), 0.0] for i, c in enumerate(clips)}
    figure, paths = voice_map_chart({"summary": {"voice_consistency": {"map_xy": xy}}, "clips": clips})
    names = [t.name for t in figure.data]
    assert names == ["clean (50)", "noisy (1)", "other_voice (1)"]
    assert paths == [[f"c{i}.wav" for i in range(50)], ["hiss.wav"], ["friend.wav"]]
    clean, *flagged = figure.data
    assert all(t.marker.size > clean.marker.size for t in flagged)
    assert clean.marker.opacity < 0.5 <= min(t.marker.opacity for t in flagged)
