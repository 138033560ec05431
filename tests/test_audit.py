"""The audit engine: every flag on generated files, bad input, caching, and read-only access."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from svcqa.core.errors import DatasetError
from svcqa.core.settings import Settings
from svcqa.dataset.run import audit_dataset
from svcqa.demo.synth import sung_phrase
from tests.audio_files import write_clip

SR = 44_100


def _audit(folder: Path, tmp_path: Path, **kwargs):
    return audit_dataset(folder, cache_path=tmp_path / "cache.sqlite", **kwargs)


def _by_path(report) -> dict[str, list[str]]:
    return {c.measurement.path: c.codes for c in report.clips}


@pytest.fixture(scope="module")
def problem_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A speaker folder with one file per flag, nested folders included."""
    ds = tmp_path_factory.mktemp("problems") / "dataset"
    write_clip(ds / "spk" / "good.wav", 12.0, seed=1)
    write_clip(ds / "spk" / "nested" / "deeper" / "good2.wav", 11.0, seed=2)
    write_clip(ds / "spk" / "short.wav", 1.2, seed=3)
    write_clip(ds / "spk" / "long.wav", 27.0, seed=4)
    write_clip(ds / "spk" / "歌声.wav", 8.0, seed=5)
    write_clip(ds / "spk" / "with space.wav", 8.0, seed=6)
    write_clip(ds / "spk" / "low_rate.wav", 8.0, sample_rate_hz=22_050, seed=7)
    stereo = sung_phrase([60, 64, 67], 2.5, 48_000, seed=8)
    write_clip(
        ds / "spk" / "stereo48k.flac", samples=np.stack([stereo, stereo * 0.8], axis=1), sample_rate_hz=48_000
    )
    hot = np.clip(sung_phrase([60, 62, 64], 2.5, SR, seed=9) * 5.0, -1.0, 1.0)
    write_clip(ds / "spk" / "clipped.wav", samples=hot)
    write_clip(ds / "spk" / "silent.wav", samples=np.zeros(SR * 6, dtype=np.float32))
    quiet = sung_phrase([60, 62], 3.0, SR, seed=10) * 10 ** (-28 / 20)
    write_clip(ds / "spk" / "quiet.wav", samples=quiet, subtype="FLOAT")
    shutil.copy(ds / "spk" / "good.wav", ds / "spk" / "good_copy.wav")
    (ds / "spk" / "zero.wav").write_bytes(b"")
    (ds / "spk" / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 10)
    (ds / "spk" / "notes.mp3").write_text("this is not audio")
    (ds / "spk" / "readme.txt").write_text("ignored: not an audio extension")
    return ds


def test_every_flag_is_raised_on_its_planted_file(problem_dataset: Path, tmp_path: Path) -> None:
    flags = _by_path(_audit(problem_dataset, tmp_path))
    assert flags["spk/good.wav"] == []
    assert flags["spk/nested/deeper/good2.wav"] == []
    assert flags["spk/short.wav"] == ["too_short"]
    assert flags["spk/long.wav"] == ["too_long"]
    assert flags["spk/歌声.wav"] == ["non_ascii_name"]
    assert flags["spk/with space.wav"] == ["unsafe_chars"]
    assert flags["spk/low_rate.wav"] == ["low_sample_rate"]
    assert flags["spk/stereo48k.flac"] == ["multichannel"]
    assert flags["spk/clipped.wav"] == ["clipping"]
    assert set(flags["spk/silent.wav"]) == {"mostly_silent", "too_quiet"}
    assert flags["spk/quiet.wav"] == ["too_quiet"]
    assert flags["spk/good_copy.wav"] == ["duplicate"]
    assert flags["spk/zero.wav"] == ["empty"]
    assert flags["spk/corrupt.wav"] == ["unreadable"]
    assert flags["spk/notes.mp3"] == ["unreadable"]
    assert "spk/readme.txt" not in flags


def test_unreadable_rows_carry_the_decoders_message(problem_dataset: Path, tmp_path: Path) -> None:
    report = _audit(problem_dataset, tmp_path)
    rows = {c.measurement.path: c for c in report.clips}
    assert "0 bytes" in rows["spk/zero.wav"].measurement.error
    corrupt = rows["spk/corrupt.wav"].measurement
    assert corrupt.readable is False and corrupt.error
    assert rows["spk/good_copy.wav"].duplicate_of == "spk/good.wav"
    assert report.summary["ignored_files"] == 1


def test_measurements_are_right(problem_dataset: Path, tmp_path: Path) -> None:
    rows = {c.measurement.path: c.measurement for c in _audit(problem_dataset, tmp_path).clips}
    good = rows["spk/good.wav"]
    assert good.duration_s == pytest.approx(12.0, abs=0.01)
    assert (good.sample_rate, good.channels) == (SR, 1)
    assert good.peak_dbfs == pytest.approx(-6.0, abs=0.1)
    assert -30 < good.lufs < -5
    assert good.format == "WAV/PCM_16"
    stereo = rows["spk/stereo48k.flac"]
    assert (stereo.sample_rate, stereo.channels, stereo.format) == (48_000, 2, "FLAC/PCM_16")
    assert rows["spk/silent.wav"].silence_share == 1.0
    assert rows["spk/silent.wav"].lufs is None
    assert rows["spk/clipped.wav"].clip_events > 10


def test_leading_and_trailing_silence_are_measured(tmp_path: Path, write_clip) -> None:
    sung = sung_phrase([60, 62], 2.0, SR)
    samples = np.concatenate([np.zeros(SR), sung, np.zeros(SR // 2)])
    write_clip(tmp_path / "ds" / "padded.wav", samples=samples)
    m = _audit(tmp_path / "ds", tmp_path).clips[0].measurement
    assert m.leading_silence_s == pytest.approx(1.0, abs=0.05)
    assert m.trailing_silence_s == pytest.approx(0.5, abs=0.15)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is installed by the bootstrap")
def test_m4a_and_mp3_decode_through_ffmpeg(tmp_path: Path, write_clip) -> None:
    src = write_clip(tmp_path / "src.wav", 5.0)
    ds = tmp_path / "ds"
    ds.mkdir()
    for ext in ("m4a", "mp3"):
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), str(ds / f"take.{ext}")], check=True)
    rows = {c.measurement.path: c.measurement for c in _audit(ds, tmp_path).clips}
    assert rows["take.m4a"].decoder == "ffmpeg"
    for name in ("take.m4a", "take.mp3"):
        assert rows[name].readable, rows[name].error
        assert rows[name].duration_s == pytest.approx(5.0, abs=0.1)


def test_truncated_wav_is_reported_not_fatal(tmp_path: Path, write_clip) -> None:
    full = write_clip(tmp_path / "ds" / "cut.wav", 6.0)
    full.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    write_clip(tmp_path / "ds" / "fine.wav", 6.0, seed=3)
    rows = {c.measurement.path: c for c in _audit(tmp_path / "ds", tmp_path).clips}
    assert rows["fine.wav"].codes == []
    cut = rows["cut.wav"].measurement
    assert cut.readable is False or cut.duration_s == pytest.approx(3.0, abs=0.05)


def test_huge_file_is_not_decoded(tmp_path: Path, write_clip) -> None:
    write_clip(tmp_path / "ds" / "big.wav", 3.0)
    settings = Settings().with_section("audit", max_file_bytes=1000)
    clip = _audit(tmp_path / "ds", tmp_path, settings=settings).clips[0]
    assert clip.codes == ["unreadable"]
    assert "over the" in clip.measurement.error


def test_dataset_folder_is_byte_for_byte_unchanged(
    problem_dataset: Path, tmp_path: Path, fingerprint
) -> None:
    before = fingerprint(problem_dataset)
    _audit(problem_dataset, tmp_path, workers=2)
    audit_dataset(problem_dataset, workers=2)  # default cache location too
    assert fingerprint(problem_dataset) == before
    assert not (problem_dataset / ".svcqa").exists()


def test_reaudit_uses_the_cache_and_notices_changes(tmp_path: Path, write_clip) -> None:
    ds = tmp_path / "ds"
    for i in range(6):
        write_clip(ds / f"c{i}.wav", 4.0, seed=i)
    messages: list[str] = []
    _audit(ds, tmp_path, progress=lambda _f, m: messages.append(m))
    assert "6 measured, 0 cached" in messages[-1]
    messages.clear()
    _audit(ds, tmp_path, progress=lambda _f, m: messages.append(m))
    assert "0 measured, 6 cached" in messages[-1]
    write_clip(ds / "c0.wav", 1.0, seed=9)
    messages.clear()
    report = _audit(ds, tmp_path, progress=lambda _f, m: messages.append(m))
    assert "1 measured, 5 cached" in messages[-1]
    assert _by_path(report)["c0.wav"] == ["too_short"]


def test_threshold_change_reflags_without_remeasuring(tmp_path: Path, write_clip) -> None:
    ds = tmp_path / "ds"
    write_clip(ds / "c.wav", 4.0)
    _audit(ds, tmp_path)
    messages: list[str] = []
    settings = Settings().with_section("audit", min_duration_s=5.0)
    report = _audit(ds, tmp_path, settings=settings, progress=lambda _f, m: messages.append(m))
    assert "0 measured, 1 cached" in messages[-1]
    assert _by_path(report)["c.wav"] == ["too_short"]


def test_summary_counts_durations_and_sweet_spot(tmp_path: Path, write_clip) -> None:
    ds = tmp_path / "ds"
    for i, length in enumerate((12.0, 15.0, 5.0, 1.0)):
        write_clip(ds / f"c{i}.wav", length, seed=i)
    s = _audit(ds, tmp_path).summary
    assert s["clip_count"] == 4
    assert s["total_duration_s"] == pytest.approx(33.0, abs=0.05)
    assert s["sweet_spot_share"] == pytest.approx(0.5)
    assert s["flag_counts"] == {"too_short": 1}
    assert s["share_of_recommended"] == pytest.approx(33.0 / 3600, abs=1e-4)
    assert s["lufs"]["spread"] is not None


def test_missing_or_file_dataset_gives_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        audit_dataset(tmp_path / "nope")
    (tmp_path / "f.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="is a file"):
        audit_dataset(tmp_path / "f.wav")


def test_empty_folder_audits_to_an_empty_report(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    report = _audit(tmp_path / "ds", tmp_path)
    assert report.clips == ()
    assert report.summary["clip_count"] == 0 and report.summary["sweet_spot_share"] == 0.0


def test_json_rows_give_the_noise_figures_and_each_flag_its_evidence(tmp_path: Path, write_clip) -> None:
    clean = sung_phrase([57, 60, 64, 62, 60, 57], 1.5, SR, seed=4)
    noise = np.random.default_rng(4).standard_normal(clean.size).astype(np.float32)
    noisy = clean + noise * float(np.sqrt(np.mean(clean**2))) * 10 ** (-5 / 20)
    write_clip(tmp_path / "ds" / "clean.wav", samples=clean)
    write_clip(tmp_path / "ds" / "noisy.wav", samples=0.5 * noisy / float(np.max(np.abs(noisy))))
    write_clip(tmp_path / "ds" / "blip.wav", samples=sung_phrase([60], 0.6, SR))
    rows = {row["path"]: row for row in _audit(tmp_path / "ds", tmp_path, with_voice=True).to_dict()["clips"]}
    for row in rows.values():
        assert {
            "noise_floor_db",
            "hiss_db",
            "hum_db",
            "hum_hz",
            "noise_reason",
            "voice_unjudged_reason",
        } <= set(row)
        assert "unstable_s" in row and "vector" not in row
    assert rows["clean.wav"]["noise_floor_db"] < -30 and "noisy" not in rows["clean.wav"]["flags"]
    assert "noisy" in rows["noisy.wav"]["flags"] and rows["noisy.wav"]["voice_unjudged_reason"].startswith(
        "noisy"
    )
    noisy_flag = next(m for m in rows["noisy.wav"]["messages"] if m["code"] == "noisy")
    assert noisy_flag["evidence"]["noise_floor_db"] == rows["noisy.wav"]["noise_floor_db"] > -15
    blip = rows["blip.wav"]
    assert blip["noise_floor_db"] is None and "too short" in blip["noise_reason"]
    short_flag = next(m for m in blip["messages"] if m["code"] == "too_short")
    assert short_flag["evidence"] == {"duration_s": 0.6, "min_duration_s": 2.0}
