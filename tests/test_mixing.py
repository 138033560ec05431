"""The final mix: loudness target, true-peak ceiling, mismatched and bad inputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf
from pedalboard.io import AudioFile

from svcqa.audio.true_peak import limit_true_peak, true_peak_dbtp
from svcqa.core.errors import AudioError, SvcqaError
from svcqa.core.settings import MixSettings
from svcqa.cover.mixing import mix
from svcqa.demo.synth import sung_phrase

SR = 44_100


def _measure(path: Path) -> tuple[np.ndarray, int, float, float]:
    """Return (audio [channels, samples], rate, LUFS, dBTP) of a written file, measured here."""
    with AudioFile(io.BytesIO(path.read_bytes())) as handle:
        audio, rate = handle.read(handle.frames), int(handle.samplerate)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64))
    upsampled = scipy.signal.resample_poly(audio, 4, 1, axis=-1)
    return audio, rate, float(lufs), float(20 * np.log10(np.abs(upsampled).max()))


def _drums(duration_s: float, sample_rate_hz: int, seed: int = 0) -> np.ndarray:
    """Return mono noise hits every 250 ms over a quiet bass tone: high crest factor."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate_hz)
    out = 0.05 * np.sin(2 * np.pi * 55 * np.arange(n) / sample_rate_hz)
    decay = np.exp(-np.arange(2000) / 200)
    for start in range(0, n - 2000, sample_rate_hz // 4):
        out[start : start + 2000] += 3.0 * rng.standard_normal(2000) * decay
    return out


@pytest.fixture
def hot_vocals(tmp_path: Path) -> Path:
    """5 s mono 48 kHz float WAV peaking at +6 dBFS (over full scale)."""
    voice = sung_phrase([60, 62, 64, 65, 67], 1.0, 48_000, peak=2.0, seed=3)
    path = tmp_path / "in" / "vocals.wav"
    path.parent.mkdir(exist_ok=True)
    sf.write(path, voice, 48_000, subtype="FLOAT")
    return path


@pytest.fixture
def clipped_accompaniment(tmp_path: Path) -> Path:
    """6 s stereo 22.05 kHz 16-bit accompaniment, hard-clipped: drums left, a square bass right."""
    sr = 22_050
    t = np.arange(6 * sr) / sr
    left = _drums(6.0, sr)
    right = 1.5 * np.sign(np.sin(2 * np.pi * 55 * t))
    path = tmp_path / "in" / "accompaniment.wav"
    path.parent.mkdir(exist_ok=True)
    sf.write(path, np.clip(np.stack([left, right], axis=1), -1, 1), sr, subtype="PCM_16")
    return path


@pytest.fixture
def quiet_vocals(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "quiet_vocals.wav"
    path.parent.mkdir(exist_ok=True)
    sf.write(path, sung_phrase([57, 59, 60], 1.0, SR, peak=0.1, seed=1), SR)
    return path


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3"])
def test_hot_mismatched_inputs_hit_target_and_stay_under_ceiling(
    hot_vocals: Path, clipped_accompaniment: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"cover{suffix}"
    result = mix(hot_vocals, clipped_accompaniment, out)
    audio, rate, lufs, peak_dbtp = _measure(out)
    assert abs(lufs - -14.0) <= 0.5
    assert peak_dbtp <= -1.0
    assert abs(result.lufs - lufs) < 0.05 and abs(result.true_peak_dbtp - peak_dbtp) < 0.05
    assert (rate, audio.shape[0], result.channels) == (44_100, 2, 2)
    assert result.duration_s == pytest.approx(6.0)  # the longer stem; the vocals are padded
    if suffix != ".mp3":  # MP3 adds encoder padding frames
        assert audio.shape[1] == 6 * 44_100


def test_loud_target_is_limited_and_still_under_ceiling(
    quiet_vocals: Path, clipped_accompaniment: Path, tmp_path: Path
) -> None:
    settings = MixSettings(target_lufs=-9.0, true_peak_ceiling_dbtp=-1.0)
    result = mix(quiet_vocals, clipped_accompaniment, tmp_path / "loud.wav", settings)
    _, _, lufs, peak_dbtp = _measure(tmp_path / "loud.wav")
    assert result.limiter_reduction_db > 3.0
    assert abs(lufs - -9.0) <= 0.5
    assert peak_dbtp <= -1.0


def test_result_json_has_the_cli_keys(hot_vocals: Path, clipped_accompaniment: Path, tmp_path: Path) -> None:
    result = mix(hot_vocals, clipped_accompaniment, tmp_path / "cover.wav")
    data = json.loads(json.dumps(result.to_dict()))
    assert {"out", "lufs", "true_peak_dbtp", "duration_s"} <= set(data)
    assert data["out"] == str(tmp_path / "cover.wav")


def test_clipping_inputs_are_reported_in_notes(
    hot_vocals: Path, clipped_accompaniment: Path, tmp_path: Path
) -> None:
    notes = mix(hot_vocals, clipped_accompaniment, tmp_path / "cover.wav").notes
    assert any(note.startswith("vocals.wav has") and "clipped" in note for note in notes)
    assert any(note.startswith("accompaniment.wav has") for note in notes)


def test_balance_puts_vocals_that_many_lu_above_accompaniment(tmp_path: Path) -> None:
    vocals = sung_phrase([60, 64, 67], 1.0, SR, peak=0.3, seed=2)
    backing = 0.2 * np.sin(2 * np.pi * 110 * np.arange(3 * SR) / SR)
    sf.write(tmp_path / "v.wav", vocals, SR, subtype="FLOAT")
    sf.write(tmp_path / "a.wav", backing, SR, subtype="FLOAT")
    meter = pyloudnorm.Meter(SR)
    gap_lu = meter.integrated_loudness(backing) - meter.integrated_loudness(vocals.astype(np.float64))
    result = mix(tmp_path / "v.wav", tmp_path / "a.wav", tmp_path / "m.wav", MixSettings(balance_db=3.0))
    assert result.vocals_gain_db - result.accompaniment_gain_db == pytest.approx(gap_lu + 3.0, abs=0.05)


def test_mono_inputs_give_a_mono_mix(quiet_vocals: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", _drums(3.0, SR) * 0.2, SR)
    result = mix(quiet_vocals, tmp_path / "a.wav", tmp_path / "m.flac")
    audio, _, lufs, _ = _measure(tmp_path / "m.flac")
    assert result.channels == 1 and audio.shape[0] == 1
    assert abs(lufs - -14.0) <= 0.5


def test_offset_delays_the_vocals(tmp_path: Path) -> None:
    burst = np.zeros(3 * SR)
    burst[SR : SR + 4410] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(4410) / SR)
    sf.write(tmp_path / "v.wav", burst, SR)
    sf.write(tmp_path / "a.wav", np.zeros(3 * SR), SR)
    result = mix(tmp_path / "v.wav", tmp_path / "a.wav", tmp_path / "m.wav", MixSettings(offset_ms=250.0))
    audio, _, _, _ = _measure(tmp_path / "m.wav")
    onset = int(np.argmax(np.abs(audio[0]) > 0.01))
    assert abs(onset - int(1.25 * SR)) < 10
    assert result.duration_s == pytest.approx(3.25)


def test_silent_vocals_stop_with_a_plain_message(clipped_accompaniment: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "silent.wav", np.zeros(3 * SR), SR)
    with pytest.raises(SvcqaError, match=r"vocal stem silent\.wav is silent"):
        mix(tmp_path / "silent.wav", clipped_accompaniment, tmp_path / "m.wav")
    assert not (tmp_path / "m.wav").exists()


def test_silent_accompaniment_gives_vocals_alone_at_target(quiet_vocals: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "silent.wav", np.zeros((3 * SR, 2)), SR)
    result = mix(quiet_vocals, tmp_path / "silent.wav", tmp_path / "m.wav")
    _, _, lufs, peak_dbtp = _measure(tmp_path / "m.wav")
    assert abs(lufs - -14.0) <= 0.5 and peak_dbtp <= -1.0
    assert any("silent.wav is silent; the mix is the vocals alone" in note for note in result.notes)


def test_vocal_chain_still_meets_target(
    hot_vocals: Path, clipped_accompaniment: Path, tmp_path: Path
) -> None:
    plain = mix(hot_vocals, clipped_accompaniment, tmp_path / "plain.wav")
    chained = mix(hot_vocals, clipped_accompaniment, tmp_path / "chain.wav", MixSettings(vocal_chain=True))
    _, _, lufs, peak_dbtp = _measure(tmp_path / "chain.wav")
    assert abs(lufs - -14.0) <= 0.5 and peak_dbtp <= -1.0
    assert chained.vocals_gain_db != pytest.approx(plain.vocals_gain_db, abs=0.1)


def test_inputs_are_never_overwritten(hot_vocals: Path, clipped_accompaniment: Path) -> None:
    before = hot_vocals.read_bytes()
    with pytest.raises(SvcqaError, match="would overwrite its input"):
        mix(hot_vocals, clipped_accompaniment, hot_vocals)
    assert hot_vocals.read_bytes() == before


def test_unknown_output_format_is_refused(
    hot_vocals: Path, clipped_accompaniment: Path, tmp_path: Path
) -> None:
    with pytest.raises(SvcqaError, match=r"choose a name ending in \.wav, \.flac, \.mp3"):
        mix(hot_vocals, clipped_accompaniment, tmp_path / "cover.ogg")


def test_unreadable_input_raises_audio_error(clipped_accompaniment: Path, tmp_path: Path) -> None:
    (tmp_path / "v.wav").write_text("not audio")
    with pytest.raises(AudioError, match="Cannot read"):
        mix(tmp_path / "v.wav", clipped_accompaniment, tmp_path / "m.wav")


def test_unreachable_loudness_target_stops_with_a_plain_message(
    quiet_vocals: Path, clipped_accompaniment: Path, tmp_path: Path
) -> None:
    with pytest.raises(SvcqaError, match="Choose a quieter loudness target"):
        mix(quiet_vocals, clipped_accompaniment, tmp_path / "m.wav", MixSettings(target_lufs=0.0))


def test_true_peak_sees_the_peak_between_samples() -> None:
    # A quarter-rate sine sampled 45 degrees off its crest: every sample is at 0.707, the wave at 1.
    # Faded in and out, since an abrupt start overshoots between samples by itself.
    fade = np.minimum(1.0, np.minimum(np.arange(4096), np.arange(4096)[::-1]) / 256)
    samples = (fade * np.sin(2 * np.pi * 0.25 * np.arange(4096) + np.pi / 4))[np.newaxis, :]
    assert 20 * np.log10(np.abs(samples).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_dbtp(samples) == pytest.approx(0.0, abs=0.1)


def test_limiter_keeps_true_peak_under_its_ceiling() -> None:
    rng = np.random.default_rng(0)
    hot = (rng.standard_normal((2, SR)) * 0.8).astype(np.float32)
    limited, reduction_db = limit_true_peak(hot, -3.0, SR, window_ms=5.0, oversample=4)
    assert true_peak_dbtp(limited) <= -3.0 + 0.2
    assert reduction_db > 3.0


def test_quiet_vocals_on_a_dc_offset_still_reach_the_target(tmp_path: Path) -> None:
    # What an undertrained model writes: a faint voice (-60 LUFS) riding on a constant offset.
    faint = sung_phrase([60, 64, 67], 1.0, SR, peak=0.001, seed=3) - 0.037
    sf.write(tmp_path / "v.wav", faint, SR, subtype="FLOAT")
    sf.write(tmp_path / "a.wav", _drums(3.0, SR), SR, subtype="FLOAT")
    result = mix(tmp_path / "v.wav", tmp_path / "a.wav", tmp_path / "m.wav", MixSettings())
    audio, _, lufs, dbtp = _measure(tmp_path / "m.wav")
    assert result.lufs == pytest.approx(-14.0, abs=0.5)
    assert lufs == pytest.approx(-14.0, abs=0.5)
    assert dbtp <= -1.0 + 0.05
    assert abs(float(audio.mean())) < 1e-3
