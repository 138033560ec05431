"""The demo workspace: a generated singer with planted dataset problems, made locally.

The "singer" is synthetic (harmonic tones with vibrato and vowel formants), so the demo
shows real audit results without any download. Every planted problem is listed in
:data:`PLANTED` with the flag code the audit must raise for it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from svcqa.audio import decode
from svcqa.audio.encode import write_audio, write_wav
from svcqa.core.files import atomic_folder, atomic_write_json
from svcqa.core.workspace import Workspace
from svcqa.demo import synth

SPEAKER = "demo_singer"
SAMPLE_RATE_HZ = 44_100

PLANTED: dict[str, str] = {
    "short_take.wav": "too_short",
    "long_take.wav": "too_long",
    "歌声_01.wav": "non_ascii_name",
    "take with spaces.wav": "unsafe_chars",
    "clipped_take.wav": "clipping",
    "silent_take.wav": "mostly_silent",
    "phrase_03_copy.wav": "duplicate",
    "spoken_intro.wav": "speech",
    "spoken_note_2.wav": "speech",
    "spoken_note_3.wav": "speech",
    "phone_take_22k.wav": "low_sample_rate",
    "stereo_take.flac": "multichannel",
    "friend_take.wav": "other_voice",
    "noisy_room.wav": "noisy",
}
"""File name -> the flag the audit must raise for it."""

_MELODIES: tuple[tuple[int, ...], ...] = (
    (55, 57, 59, 60, 62, 60, 59, 57),
    (60, 62, 64, 65, 67, 65, 64, 62),
    (64, 67, 69, 71, 72, 71, 69, 67),
    (52, 55, 57, 60, 57, 55, 53, 52),
    (62, 64, 66, 67, 69, 71, 69, 66),
    (67, 69, 71, 72, 74, 72, 71, 69),
    (57, 60, 62, 64, 62, 60, 58, 57),
    (50, 52, 54, 55, 57, 59, 57, 55),
    (59, 62, 64, 67, 66, 64, 62, 59),
    (65, 67, 69, 70, 72, 74, 72, 70),
    (53, 55, 57, 58, 60, 62, 60, 58),
    (61, 63, 65, 66, 68, 70, 68, 66),
)


def is_demo(workspace: Workspace) -> bool:
    """Return True when ``workspace`` was made by :func:`create_demo`."""
    return workspace.demo_marker_path.exists()


def create_demo(workspace: Workspace, progress: Callable[[float, str], None] | None = None) -> Path:
    """Write the demo speaker into ``workspace/recordings/`` and return its folder.

    Idempotent: an existing demo speaker folder is left as it is.
    """
    workspace.ensure_layout()
    folder = workspace.recordings / SPEAKER
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    report = progress or (lambda _f, _m: None)
    writers = _clip_writers()
    with atomic_folder(folder) as tmp:
        for i, (name, write) in enumerate(writers.items()):
            report(i / len(writers), f"Generating {name}")
            write(tmp / name)
    atomic_write_json(workspace.demo_marker_path, {"speaker": SPEAKER, "planted": PLANTED})
    report(1.0, "Demo workspace ready")
    return folder


def _phrase(
    index: int,
    duration_s: float,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    formant_shift: float = 1.0,
    transpose: int = 0,
) -> np.ndarray:
    """Return sung phrase ``index`` of about ``duration_s``: one syllable (own vowel) per note.

    Syllables with their own vowels and short gaps sound like sung lyrics to the speech-trained
    models the audit uses (GE2E, DNSMOS); one long vowel per phrase reads as a drone.
    """
    rng = np.random.default_rng(index)
    melody = [note + transpose for note in _MELODIES[index % len(_MELODIES)]]
    gap = synth.silence(0.05, sample_rate_hz, noise_dbfs=-70, seed=index)
    pieces = [synth.silence(0.3, sample_rate_hz, noise_dbfs=-65, seed=index)]
    total_s = 0.6
    position = 0
    while total_s < duration_s:
        note_s = min(float(rng.choice([0.35, 0.5, 0.7, 1.0])), max(duration_s - total_s, 0.2))
        syllable = synth.sung_phrase(
            [float(melody[position % len(melody)])],
            note_s,
            sample_rate_hz,
            vowel=str(rng.choice(list(synth.VOWEL_FORMANTS_HZ))),
            formant_shift=formant_shift,
            vibrato_hz=5.0 + 0.2 * (index % 4),
            vibrato_cents=float(rng.choice([15.0, 30.0, 45.0])),
            peak=0.4,
            seed=int(rng.integers(1 << 30)),
        )
        pieces += [syllable, gap]
        total_s += note_s + 0.05
        position += 1
    pieces.append(synth.silence(0.3, sample_rate_hz, noise_dbfs=-65, seed=index))
    return np.concatenate(pieces)


def _write(path: Path, audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
    write_wav(path, audio, sample_rate_hz, "PCM_16")


def _speech(path: Path, text: str, voice: str, seed: int) -> None:
    """Write speech: espeak-ng when installed, else a generated speech-like signal."""
    if shutil.which("espeak-ng"):
        raw = path.with_suffix(".raw.wav")
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        audio, _ = decode.read(raw, SAMPLE_RATE_HZ, mono=True)
        raw.unlink()
        _write(path, 0.4 * audio / max(float(np.max(np.abs(audio))), 1e-6))
        return
    _write(path, synth.speech_like(8.0, SAMPLE_RATE_HZ, seed=seed))


def _clip_writers() -> dict[str, Callable[[Path], None]]:
    """Return file name -> function writing that clip, good takes first, then planted problems."""
    writers: dict[str, Callable[[Path], None]] = {}
    lengths_s = (12.0, 15.0, 9.0, 18.0, 14.0, 21.0, 11.0, 16.0, 6.0, 13.0, 19.0, 10.0)
    for i, length in enumerate(lengths_s):
        writers[f"phrase_{i:02d}.wav"] = lambda p, i=i, length=length: _write(p, _phrase(i, length))
    writers["short_take.wav"] = lambda p: _write(p, _phrase(20, 1.3))
    writers["long_take.wav"] = lambda p: _write(p, np.concatenate([_phrase(21, 15.0), _phrase(22, 15.0)]))
    writers["歌声_01.wav"] = lambda p: _write(p, _phrase(23, 12.0))
    writers["take with spaces.wav"] = lambda p: _write(p, _phrase(24, 14.0))
    writers["clipped_take.wav"] = lambda p: _write(p, np.clip(_phrase(25, 10.0) * 2.6, -1.0, 1.0))
    writers["silent_take.wav"] = lambda p: _write(
        p, np.concatenate([synth.silence(9.0, SAMPLE_RATE_HZ, noise_dbfs=-72), _phrase(26, 2.0)])
    )
    writers["phrase_03_copy.wav"] = lambda p: _write(p, _phrase(3, 18.0))
    writers["spoken_intro.wav"] = lambda p: _speech(
        p,
        "Hello, this is a quick test of the microphone before I start singing the next song. "
        "Can you hear me clearly? I will count to five: one, two, three, four, five.",
        "en",
        1,
    )
    writers["spoken_note_2.wav"] = lambda p: _speech(
        p,
        "Okay, let me try that last line again, a little bit slower this time, "
        "and please tell me if the headphones are too loud.",
        "en-us",
        2,
    )
    writers["spoken_note_3.wav"] = lambda p: _speech(
        p,
        "Ich glaube, die zweite Aufnahme war besser als die erste, oder nicht? "
        "Lass uns noch eine Pause machen und dann weiter aufnehmen.",
        "de",
        3,
    )
    writers["phone_take_22k.wav"] = lambda p: _write(p, _phrase(27, 12.0, 22_050), 22_050)
    writers["stereo_take.flac"] = lambda p: write_audio(
        p, np.stack([_phrase(28, 13.0, 48_000), 0.9 * _phrase(28, 13.0, 48_000)], axis=1), 48_000
    )
    writers["friend_take.wav"] = lambda p: _write(p, _phrase(29, 14.0, formant_shift=1.45, transpose=12))
    writers["noisy_room.wav"] = lambda p: _write(p, _with_noise(_phrase(30, 12.0), snr_db=5.0, seed=30))
    return writers


def _with_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """Return ``audio`` plus white noise at ``snr_db`` below its RMS (a noisy room)."""
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    noise = np.random.default_rng(seed).standard_normal(audio.size) * rms * 10 ** (-snr_db / 20)
    mixed = audio + noise
    return (0.5 * mixed / float(np.max(np.abs(mixed)))).astype(np.float32)
