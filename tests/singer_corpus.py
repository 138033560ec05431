"""Voices for the voice-consistency and quality tests, built on the fly (no downloads).

* Generated singers (:mod:`svcqa.demo.synth`): a singer is a vocal tract (``formant_shift``), a
  timbre (``tilt_db_per_octave``) and a range. Singer A is a baritone-like voice; singer B has
  formants 30 % higher (a shorter vocal tract), a brighter tone and a range ten semitones
  higher: a second singer. Each clip is phrases of random melody, one syllable (vowel) per
  note, with breaths between them.
* espeak-ng speakers: ``en`` is the dataset's speaker, ``en+f3`` (a female variant) is another.
* Noise: pink noise at a known SNR (:func:`tests.voice_corpus.add_noise`).

Example
-------
>>> clips, planted = one_voice_set(seed=0)  # doctest: +SKIP
>>> len(clips), sorted(planted)  # doctest: +SKIP
(12, ['B_00', 'B_01'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svcqa.demo import synth
from tests.voice_corpus import speak

SAMPLE_RATE_HZ = 16_000


@dataclass(frozen=True)
class Singer:
    """A generated singer: vocal tract, timbre and range (MIDI)."""

    formant_shift: float
    tilt_db_per_octave: float
    low_midi: int
    high_midi: int


SINGER_A = Singer(formant_shift=1.0, tilt_db_per_octave=-9.0, low_midi=50, high_midi=64)
SINGER_B = Singer(formant_shift=1.3, tilt_db_per_octave=-6.0, low_midi=60, high_midi=74)

SPEAKER_TEXTS: tuple[str, ...] = (
    "The weather report said it would rain this afternoon, so I took the bus to work instead of riding my bicycle.",
    "Please remember to send me the recording before Friday, because the studio is booked for the whole of next week.",
    "I think we should try the second take again, the timing in the chorus felt a little rushed to me.",
    "The microphone stands too close to the wall, so the recording sounds a little hollow and boxy.",
    "We recorded three takes last night, but the second one was the best, especially during the chorus.",
    "Tomorrow morning we will record the lead vocal, so rest well and drink plenty of water tonight.",
    "The studio is close to the station, five minutes on foot from the square by the old church.",
    "Turn the headphone volume down, otherwise the microphone picks up the backing track as well.",
    "She sang the opening line softly and then let the chorus ring out over the whole band.",
    "After the break we listened back to every take and chose the one with the cleanest ending.",
    "The drummer arrived late, so we started with the acoustic songs and left the loud ones for later.",
)


def sung_clip(singer: Singer, seed: int, duration_s: float = 8.0) -> np.ndarray:
    """Return about ``duration_s`` of ``singer``: phrases of random melody, breaths between.

    Each note is a syllable on its own random vowel, as lyrics are: GE2E embeddings of
    generated singing depend on the vowels sung, and one vowel per phrase makes clips of the
    same singer differ by vowel mix as much as two singers differ by vocal tract.
    """
    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = []
    total_s = 0.0
    while total_s < duration_s:
        note_s = float(rng.uniform(0.3, 0.7))
        vibrato_cents = float(rng.choice([0.0, 20.0, 40.0]))
        for note in rng.integers(singer.low_midi, singer.high_midi + 1, int(rng.integers(4, 9))):
            syllable = synth.sung_phrase(
                [float(note)],
                note_s * float(rng.choice([0.5, 1.0, 1.0, 1.5])),
                SAMPLE_RATE_HZ,
                vowel=str(rng.choice(list(synth.VOWEL_FORMANTS_HZ))),
                formant_shift=singer.formant_shift,
                tilt_db_per_octave=singer.tilt_db_per_octave,
                vibrato_cents=vibrato_cents,
                seed=int(rng.integers(1 << 30)),
            )
            pieces += [syllable, synth.silence(0.04, SAMPLE_RATE_HZ, noise_dbfs=-70.0, seed=seed)]
        pieces.append(
            synth.silence(float(rng.uniform(0.3, 0.6)), SAMPLE_RATE_HZ, noise_dbfs=-70.0, seed=seed)
        )
        total_s = sum(piece.size for piece in pieces) / SAMPLE_RATE_HZ
    return np.concatenate(pieces)


def one_voice_set(
    seed: int = 0, n_main: int = 10, n_planted: int = 2, main: Singer = SINGER_A, planted: Singer = SINGER_B
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Return ``n_main`` clips of ``main`` plus ``n_planted`` of ``planted`` (by name), and the planted names."""
    clips = {f"A_{i:02d}": sung_clip(main, seed * 1000 + i) for i in range(n_main)}
    others = {f"B_{i:02d}": sung_clip(planted, seed * 1000 + 500 + i) for i in range(n_planted)}
    return clips | others, set(others)


def speaker_set(
    main_voice: str = "en", planted_voice: str = "en+f3", seed: int = 0
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Return ten espeak-ng clips of ``main_voice`` (varied text, speed and pitch) and one of ``planted_voice``."""
    rng = np.random.default_rng(seed)
    clips = {
        f"{main_voice}_{i:02d}": speak(
            text, main_voice, int(rng.integers(140, 180)), int(rng.integers(40, 60))
        )
        for i, text in enumerate(SPEAKER_TEXTS[:10])
    }
    planted_name = f"{planted_voice}_00"
    clips[planted_name] = speak(SPEAKER_TEXTS[10], planted_voice, 160, 50)
    return clips, {planted_name}
