"""A user-sized dataset written in seconds: 1,500 short tones in two session folders, with a
few planted problems (too short, too quiet, clipped, low sample rate, unreadable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44_100
CLEAN_S = 2.5
PLANTED = {"too_short": 20, "too_quiet": 15, "clipping": 10, "low_sample_rate": 10, "unreadable": 5}
"""How many clips of each planted problem the dataset holds (one problem each)."""
_BASE_TONES = 24


def _tones(duration_s: float, sample_rate_hz: int) -> list[np.ndarray]:
    """Return a few distinct tones (different pitches) with short fades, as float32."""
    t = np.arange(int(duration_s * sample_rate_hz), dtype=np.float32) / sample_rate_hz
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) * 20.0).astype(np.float32)
    return [np.sin(2 * np.pi * (196.0 + 11.0 * k) * t).astype(np.float32) * fade for k in range(_BASE_TONES)]


def write_scale_dataset(speaker_dir: Path, clips: int = 1500) -> dict[str, list[str]]:
    """Write ``clips`` WAV files under ``speaker_dir`` (``session_a/``, ``session_b/``); return the
    paths (relative to ``speaker_dir``) of each planted problem. Every clip's audio differs
    (a distinct gain), so none is a duplicate of another."""
    tones = _tones(CLEAN_S, SR)
    short = _tones(0.6, SR)
    low_rate = _tones(CLEAN_S, 22_050)
    planted: dict[str, list[str]] = {code: [] for code in PLANTED}
    kinds = [code for code, n in PLANTED.items() for _ in range(n)]
    step = clips // len(kinds)
    for i in range(clips):
        session = "session_a" if i < clips // 2 else "session_b"
        relative = f"{session}/take_{i:04d}.wav"
        path = speaker_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        kind = kinds[i // step] if i % step == step // 2 and i // step < len(kinds) else None
        gain = 0.2 + 0.4 * i / clips
        rate = SR
        if kind == "unreadable":
            path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * (i + 1))
        else:
            if kind == "too_short":
                samples = short[i % _BASE_TONES] * gain
            elif kind == "too_quiet":
                samples = tones[i % _BASE_TONES] * 0.0015 * gain
            elif kind == "clipping":
                samples = np.clip(tones[i % _BASE_TONES] * 3.0, -1.0, 1.0)
            elif kind == "low_sample_rate":
                samples, rate = low_rate[i % _BASE_TONES] * gain, 22_050
            else:
                samples = tones[i % _BASE_TONES] * gain
            sf.write(path, samples, rate, subtype="PCM_16")
        if kind:
            planted[kind].append(relative)
    return planted
