"""The labelled speech-vs-singing evaluation set, built on the fly (no downloads).

* ``singing``: generated sung phrases (:mod:`svcqa.demo.synth`) over bass to soprano ranges, with
  vibrato from none to 80 cents, tempos from 0.25 s to 1.2 s per note, consonant gaps,
  scoops, intonation drift, different vowels and brightness; some with room noise or reverb.
* ``speech``: espeak-ng in English, German, French, Spanish, Mandarin, Italian, Portuguese and
  Russian with male and female variants, speeds and pitches; a third with background noise or
  reverb.
* ``mixed``: a spoken introduction followed by singing (or the reverse), about half and half.
  A singing dataset must not take these, so the expected ``kind`` is ``speech``.

Example
-------
>>> clips = build_corpus(Path(tempfile.mkdtemp()))  # doctest: +SKIP
>>> sorted({c.label for c in clips})  # doctest: +SKIP
['mixed', 'singing', 'speech']
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
import soxr

from svcqa.demo import synth

SAMPLE_RATE_HZ = 16_000
EXPECTED_KIND: dict[str, str] = {"singing": "singing", "speech": "speech", "mixed": "speech"}

_TEXTS: dict[str, tuple[str, ...]] = {
    "en-us": (
        "The weather report said it would rain this afternoon, so I took the bus to work "
        "instead of riding my bicycle through the park.",
        "Please remember to send me the recording before Friday, because the studio is "
        "booked for the whole of next week.",
    ),
    "en-gb": (
        "I think we should try the second take again, the timing in the chorus felt a little rushed to me.",
    ),
    "de": (
        "Heute Morgen habe ich im Studio angerufen, aber niemand hat abgenommen, also "
        "versuche ich es später noch einmal.",
        "Das Mikrofon steht zu nah an der Wand, deshalb klingt die Aufnahme etwas hohl.",
    ),
    "fr-fr": (
        "Nous avons enregistré trois prises hier soir, mais la deuxième était la "
        "meilleure, surtout pendant le refrain.",
        "Il faut baisser le volume du casque, sinon le micro capte la musique.",
    ),
    "es": (
        "Mañana por la mañana vamos a grabar la voz principal, así que descansa bien y "
        "bebe mucha agua esta noche.",
        "El estudio está cerca de la estación, a cinco minutos andando desde la plaza.",
    ),
    "cmn": (
        "今天下午我们要去录音室录新歌，请大家准时到达，不要迟到。",
        "这个麦克风的声音很清楚，但是房间里有一点回声。",
    ),
    "it": ("Domani pomeriggio proveremo di nuovo la canzone, ma prima dobbiamo sistemare le cuffie.",),
    "pt": ("A gravação de ontem ficou muito boa, mas o ruído do ar condicionado ainda se ouve.",),
    "ru": ("Вчера вечером мы записали три дубля, но второй получился лучше всех остальных.",),
}
_VARIANTS: tuple[str, ...] = ("", "+m3", "+f2", "+f4", "+m7", "+f3")
_SCALE_STEPS: tuple[int, ...] = (0, 2, 4, 5, 7, 9, 11)
_RANGES_MIDI: tuple[tuple[int, int], ...] = ((40, 55), (45, 62), (50, 67), (55, 72), (60, 77), (64, 84))


@dataclass(frozen=True)
class LabelledClip:
    """One clip of the evaluation set: where it is, what it is, and which variant made it."""

    name: str
    label: str
    group: str
    path: Path

    @property
    def expected_kind(self) -> str:
        """Return the ``kind`` a correct classifier gives this clip."""
        return EXPECTED_KIND[self.label]


def espeak_available() -> bool:
    """Return whether espeak-ng is on PATH."""
    return shutil.which("espeak-ng") is not None


def speak(
    text: str, voice: str, speed_wpm: int, pitch: int, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> np.ndarray:
    """Return espeak-ng speech of ``text`` as float32 at ``sample_rate_hz``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "-w", str(out), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        audio, rate_hz = sf.read(out, dtype="float32")
    return _normalise(soxr.resample(audio, rate_hz, sample_rate_hz))


def melody(rng: np.random.Generator, low_midi: int, high_midi: int, n_notes: int) -> list[float]:
    """Return a stepwise random melody in a major key inside ``[low_midi, high_midi]``."""
    tonic = int(rng.integers(0, 12))
    scale = [m for m in range(low_midi, high_midi + 1) if (m - tonic) % 12 in _SCALE_STEPS]
    index = int(rng.integers(len(scale) // 4, 3 * len(scale) // 4 + 1))
    notes = []
    for _ in range(n_notes):
        notes.append(float(scale[index]))
        index = int(np.clip(index + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, len(scale) - 1))
    return notes


def sung_clip(
    rng: np.random.Generator, duration_s: float, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> np.ndarray:
    """Return about ``duration_s`` of singing: phrases of random melody separated by breaths."""
    low, high = _RANGES_MIDI[int(rng.integers(len(_RANGES_MIDI)))]
    note_s = float(rng.uniform(0.25, 1.2))
    style = {
        "vowel": str(rng.choice(list(synth.VOWEL_FORMANTS_HZ))),
        "formant_shift": float(rng.uniform(0.85, 1.2)),
        "vibrato_hz": float(rng.uniform(4.5, 6.5)),
        "vibrato_cents": float(rng.choice([0.0, 15.0, 30.0, 50.0, 80.0])),
        "tilt_db_per_octave": float(rng.uniform(-12.0, -6.0)),
        "consonant_s": float(rng.choice([0.0, 0.04, 0.07])),
        "consonant_share": float(rng.choice([0.3, 0.6, 1.0])),
        "scoop_cents": float(rng.choice([0.0, 30.0, 60.0])),
        "drift_cents": float(rng.choice([0.0, 10.0, 20.0])),
    }
    pieces: list[np.ndarray] = []
    total_s = 0.0
    while total_s < duration_s:
        n_notes = int(rng.integers(3, 8))
        lengths = list(note_s * rng.choice([0.5, 1.0, 1.0, 1.5, 2.0], size=n_notes))
        phrase = synth.sung_phrase(
            melody(rng, low, high, n_notes), lengths, sample_rate_hz, seed=int(rng.integers(1 << 30)), **style
        )
        breath = synth.silence(float(rng.uniform(0.25, 0.7)), sample_rate_hz, noise_dbfs=-60.0)
        pieces += [phrase, breath]
        total_s += (phrase.size + breath.size) / sample_rate_hz
    return _normalise(np.concatenate(pieces))


def spoken_clip(rng: np.random.Generator, language: str, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Return espeak-ng speech in ``language`` with a random voice variant, speed and pitch."""
    texts = _TEXTS[language]
    text = texts[int(rng.integers(len(texts)))]
    voice = language + _VARIANTS[int(rng.integers(len(_VARIANTS)))]
    return speak(text, voice, int(rng.integers(130, 190)), int(rng.integers(25, 75)), sample_rate_hz)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Return ``audio`` with pinkish background noise at ``snr_db`` below its active RMS."""
    white = rng.standard_normal(audio.size)
    pink = scipy.signal.lfilter(
        [0.049922, -0.095993, 0.050612, -0.004408], [1, -2.494956, 2.017265, -0.522189], white
    )
    active = audio[np.abs(audio) > 0.01 * np.max(np.abs(audio))]
    signal_rms = float(np.sqrt(np.mean(active**2))) if active.size else 0.1
    noise = pink / (np.sqrt(np.mean(pink**2)) or 1.0) * signal_rms * 10 ** (-snr_db / 20)
    return _normalise(audio + noise)


def add_hum_and_hiss(
    audio: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    mains_hz: float = 50.0,
    hum_share: float = 0.7,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """Return ``audio`` with mains hum (the mains frequency and four harmonics) plus white hiss,
    together ``snr_db`` below its active RMS, ``hum_share`` of that noise power in the hum."""
    t = np.arange(audio.size) / sample_rate_hz
    hum = sum(
        gain * np.sin(2 * np.pi * mains_hz * k * t + rng.uniform(0, 2 * np.pi))
        for k, gain in ((1, 1.0), (2, 0.5), (3, 0.6), (4, 0.2), (5, 0.3))
    )
    active = audio[np.abs(audio) > 0.01 * np.max(np.abs(audio))]
    noise_rms = (float(np.sqrt(np.mean(active**2))) if active.size else 0.1) * 10 ** (-snr_db / 20)
    hum = hum / np.sqrt(np.mean(hum**2)) * noise_rms * np.sqrt(hum_share)
    hiss = rng.standard_normal(audio.size) * noise_rms * np.sqrt(1.0 - hum_share)
    return _normalise(audio + hum + hiss)


def add_reverb(
    audio: np.ndarray,
    rt60_s: float,
    drr_db: float,
    rng: np.random.Generator,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """Return ``audio`` in a synthetic room: decaying noise tail of ``rt60_s``, direct-to-reverb ``drr_db``."""
    n = int(rt60_s * sample_rate_hz)
    impulse = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    impulse[0] = np.sqrt(np.sum(impulse[1:] ** 2) * 10 ** (drr_db / 10))
    return _normalise(scipy.signal.fftconvolve(audio, impulse)[: audio.size])


def _normalise(audio: np.ndarray, peak: float = 0.5) -> np.ndarray:
    return (np.asarray(audio) / (float(np.max(np.abs(audio))) or 1.0) * peak).astype(np.float32)


def _degrade(audio: np.ndarray, kind: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Return ``audio`` plain (0), with noise (1) or with reverb (2), and the variant's name."""
    if kind == 1:
        snr_db = float(rng.uniform(8.0, 20.0))
        return add_noise(audio, snr_db, rng), "noisy"
    if kind == 2:
        return add_reverb(audio, float(rng.uniform(0.3, 0.8)), float(rng.uniform(-3.0, 6.0)), rng), "reverb"
    return audio, "plain"


def build_corpus(
    folder: Path, n_singing: int = 30, n_speech: int = 30, n_mixed: int = 8, seed: int = 4
) -> list[LabelledClip]:
    """Write the labelled set as 16 kHz WAVs into ``folder`` and return its clips.

    Speech and mixed clips need espeak-ng; without it only the singing clips are built.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    clips: list[LabelledClip] = []

    def write(name: str, label: str, group: str, audio: np.ndarray) -> None:
        path = folder / f"{name}.wav"
        sf.write(path, audio, SAMPLE_RATE_HZ, subtype="PCM_16")
        clips.append(LabelledClip(name, label, group, path))

    for i in range(n_singing):
        audio, variant = _degrade(sung_clip(rng, float(rng.uniform(4.0, 10.0))), i % 3, rng)
        write(f"sing_{i:02d}", "singing", f"singing/{variant}", audio)
    if not espeak_available():
        return clips
    languages = list(_TEXTS)
    for i in range(n_speech):
        language = languages[i % len(languages)]
        audio, variant = _degrade(spoken_clip(rng, language), i % 3, rng)
        write(f"speech_{language}_{i:02d}", "speech", f"speech/{variant}", audio)
    for i in range(n_mixed):
        spoken = spoken_clip(rng, languages[i % len(languages)])
        sung = sung_clip(rng, spoken.size / SAMPLE_RATE_HZ)
        pause = synth.silence(0.5, SAMPLE_RATE_HZ, noise_dbfs=-60.0)
        parts = [spoken, pause, sung] if i % 2 == 0 else [sung, pause, spoken]
        write(f"mixed_{i:02d}", "mixed", "mixed", _normalise(np.concatenate(parts)))
    return clips


def load(clip: LabelledClip) -> tuple[np.ndarray, int]:
    """Return ``(mono float32, sample_rate_hz)`` of ``clip``."""
    audio, rate_hz = sf.read(clip.path, dtype="float32")
    return audio, int(rate_hz)
