"""Recorded human voices that Debian packages ship: the corpus the tests score, and a held-out set.

Nothing is downloaded at run time: every source is a file a Debian package installs, and svcqa's
synthesiser made none of them. Two disjoint parts:

``test`` (scored by the tests; ``scripts/bootstrap.sh test`` installs the packages)
    * ``choir_aahs``, ``solo_vox``: musescore-general-soundfont-small (MuseScore_General_Lite.sf3,
      its "Ahh Choir" and "Solo Vox" recordings), played by fluidsynth.
    * ``allison_en``: asterisk-core-sounds-en-g722, Allison's English prompts (16 kHz).
    * ``june_fr``: asterisk-core-sounds-fr-g722, June's French prompts.
    * ``alsa_words``: alsa-utils, the "Front Center" ... words of /usr/share/sounds/alsa (1.4 s each).

``heldout`` (scored only by ``benchmarks/heldout_eval.py``; no threshold was set on it)
    * ``voice_oohs``: the "Ohh Voices" recordings of the same soundfont (other singers).
    * ``alto_oohs``, ``choir_loops``: timgm6mb-soundfont (TimGM6mb.sf2), its "Voice Oohs" (an
      alto) and "Choir Aahs" (short loops).
    * ``carlo_it``, ``ivr_ru``, ``allison_es``: asterisk-core-sounds-{it,ru,es}-g722.
    * ``pd_voice``: puredata-doc, voice.wav and voice2.wav.

Sung voices are General MIDI programs of a soundfont: each sample is one recorded note with its
attack; fluidsynth plays a generated legato melody the way any sampler does (every note
re-attacks while the last one's release still rings), which is what pulls a pitch tracker off
the note at onsets. Its pitch is the MIDI note's (the soundfont tunes each sample).

Example
-------
>>> clip = sung_clips(((VOICES["choir_aahs"], 0),), duration_s=8.0)[0]  # doctest: +SKIP
>>> clip.notes, clip.note_percentile(5)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import itertools
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE_HZ = 16_000

MAX_PROMPTS = 80
"""Prompts decoded per spoken voice (evenly spread over its files): about five minutes of speech."""
_MUSESCORE = Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")
_TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
_ASTERISK = Path("/usr/share/asterisk/sounds")


@dataclass(frozen=True)
class Voice:
    """One recorded voice: where it comes from, which part it belongs to, sung or spoken."""

    name: str
    part: str
    """``test`` or ``heldout``."""
    package: str
    path: Path
    """The soundfont, or the folder of spoken prompts."""
    pattern: str = ""
    """File glob of the spoken prompts; empty for a sung voice."""
    program: int = 0
    """General MIDI program (0-based) of a sung voice."""
    low_midi: int = 0
    high_midi: int = 0
    """Range of the melodies a sung voice sings."""
    solo: bool = False
    """A solo singer sings one note at a time: each note-on cuts the last note's release off
    (MIDI "all sound off"), where a choir's last note rings on under the next."""

    @property
    def kind(self) -> str:
        """Return ``sung`` or ``spoken``."""
        return "spoken" if self.pattern else "sung"

    @property
    def available(self) -> bool:
        """Return whether the voice's package is installed, with the program that decodes it."""
        tool = "fluidsynth" if self.kind == "sung" else "ffmpeg" if self.pattern.endswith(".g722") else None
        return self.path.exists() and (tool is None or shutil.which(tool) is not None)


VOICES: dict[str, Voice] = {
    v.name: v
    for v in (
        Voice("choir_aahs", "test", "musescore-general-soundfont-small", _MUSESCORE, program=52, low_midi=55, high_midi=72),
        Voice("solo_vox", "test", "musescore-general-soundfont-small", _MUSESCORE, program=85, low_midi=57, high_midi=76, solo=True),
        Voice("allison_en", "test", "asterisk-core-sounds-en-g722", _ASTERISK / "en_US_f_Allison", "*.g722"),
        Voice("june_fr", "test", "asterisk-core-sounds-fr-g722", _ASTERISK / "fr_CA_f_June", "*.g722"),
        Voice("alsa_words", "test", "alsa-utils", Path("/usr/share/sounds/alsa"), "[FRS]*_*.wav"),
        Voice("voice_oohs", "heldout", "musescore-general-soundfont-small", _MUSESCORE, program=53, low_midi=53, high_midi=74),
        Voice("alto_oohs", "heldout", "timgm6mb-soundfont", _TIMGM, program=53, low_midi=57, high_midi=77, solo=True),
        Voice("choir_loops", "heldout", "timgm6mb-soundfont", _TIMGM, program=52, low_midi=55, high_midi=72),
        Voice("carlo_it", "heldout", "asterisk-core-sounds-it-g722", _ASTERISK / "it_IT_m_Carlo", "*.g722"),
        Voice("ivr_ru", "heldout", "asterisk-core-sounds-ru-g722", _ASTERISK / "ru_RU_f_IvrvoiceRU", "*.g722"),
        Voice("allison_es", "heldout", "asterisk-core-sounds-es-g722", _ASTERISK / "es_MX_f_Allison", "*.g722"),
        Voice("pd_voice", "heldout", "puredata-doc", Path("/usr/share/puredata/doc/sound"), "voice*.wav"),
    )
}  # fmt: skip
"""The voices by name; the ``fluidsynth`` and ``ffmpeg`` packages play and decode them."""


SCORED_SEEDS: tuple[int, ...] = (0, 1, 2)
"""Seeds of the test part's sung clips the tests score (one fluidsynth run for all of them)."""


def scored_sung_clips() -> dict[tuple[str, int], SungClip]:
    """Return ``(voice name, seed) -> clip`` for every sung voice of the test part and :data:`SCORED_SEEDS`.

    Every test asks for the same set, so the soundfont is played once per test session.
    """
    requests = tuple((v, seed) for v in part("test") if v.kind == "sung" for seed in SCORED_SEEDS)
    return {(v.name, seed): clip for (v, seed), clip in zip(requests, sung_clips(requests), strict=True)}


def part(name: str) -> list[Voice]:
    """Return the installed voices of part ``name`` (``test`` or ``heldout``)."""
    return [v for v in VOICES.values() if v.part == name and v.available]


def missing_packages(name: str) -> list[str]:
    """Return the Debian packages part ``name`` needs that are not installed, sorted."""
    voices = [v for v in VOICES.values() if v.part == name]
    missing = {v.package for v in voices if not v.path.exists()}
    if any(v.kind == "sung" for v in voices) and shutil.which("fluidsynth") is None:
        missing.add("fluidsynth")
    if any(v.pattern.endswith(".g722") for v in voices) and shutil.which("ffmpeg") is None:
        missing.add("ffmpeg")
    return sorted(missing)


def melody(
    rng: np.random.Generator, low_midi: int, high_midi: int, duration_s: float
) -> list[tuple[int, float]]:
    """Return ``(note, seconds)`` pairs, about ``duration_s`` long: legato phrases of 3-6 stepwise
    notes of 0.5-1.5 s, each phrase followed by a rest (note 0) of 0.3-0.6 s."""
    events: list[tuple[int, float]] = []
    note = int(rng.integers(low_midi, high_midi + 1))
    while sum(seconds for _, seconds in events) < duration_s:
        for _ in range(int(rng.integers(3, 7))):
            note = int(np.clip(note + rng.choice([-4, -2, -1, 1, 2, 3]), low_midi, high_midi))
            events.append((note, float(rng.uniform(0.5, 1.5))))
        events.append((0, float(rng.uniform(0.3, 0.6))))
    return events


def midi_file(parts: list[tuple[int, bool, list[tuple[int, float]]]]) -> bytes:
    """Return a one-track Standard MIDI File playing each ``(program, solo, events)`` part in turn
    on channel 1 (note 0 is a rest); each note-off falls on the next note-on's tick, a legato
    line; in a ``solo`` part an "all sound off" before each note-on ends the last release."""
    ticks_per_s = 960  # 480 ticks a quarter note at 120 bpm

    def delta(seconds: float) -> bytes:
        value = round(seconds * ticks_per_s)
        out = [value & 0x7F]
        while value > 0x7F:
            value >>= 7
            out.append(0x80 | (value & 0x7F))
        return bytes(reversed(out))

    track = bytearray(delta(0) + bytes([0xFF, 0x51, 3, 0x07, 0xA1, 0x20]))
    rest_s = 0.0
    for program, solo, events in parts:
        track += delta(rest_s) + bytes([0xC0, program])
        rest_s = 0.0
        for note, seconds in events:
            if note == 0:
                rest_s += seconds
                continue
            cut = bytes([0xB0, 120, 0]) + delta(0) if solo else b""
            track += delta(rest_s) + cut + bytes([0x90, note, 100]) + delta(seconds) + bytes([0x80, note, 0])
            rest_s = 0.0
    track += delta(rest_s + 1.0) + bytes([0xFF, 0x2F, 0])
    return (
        b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)
    )


@dataclass(frozen=True, eq=False)
class SungClip:
    """A rendered melody: 16 kHz mono audio and the ``(note, seconds)`` events sung (note 0: a rest)."""

    audio: np.ndarray
    events: tuple[tuple[int, float], ...]

    @property
    def notes(self) -> tuple[int, ...]:
        """Return the notes sung, in order."""
        return tuple(n for n, _ in self.events if n)

    def note_percentile(self, q: float) -> float:
        """Return the ``q``-th percentile (0-100) of the sung notes, weighted by how long each is held."""
        notes = np.array([n for n, _ in self.events if n], dtype=float)
        weights = np.array([s for n, s in self.events if n])
        order = np.argsort(notes, kind="stable")
        cumulative = np.cumsum(weights[order]) / weights.sum()
        return float(notes[order][np.searchsorted(cumulative, q / 100.0)])


@functools.lru_cache(maxsize=16)
def sung_clips(requests: tuple[tuple[Voice, int], ...], duration_s: float = 10.0) -> tuple[SungClip, ...]:
    """Return one clip per ``(voice, seed)`` of the voice singing a random :func:`melody`.

    The melodies of one soundfont go through one fluidsynth run (dry: no reverb, no chorus;
    loading a soundfont takes seconds), a program change before each and 2 s of silence after
    each, and are cut apart again with their last note's release.
    """
    clips: dict[int, SungClip] = {}
    for soundfont in sorted({voice.path for voice, _ in requests}):
        wanted = [(i, v, seed) for i, (v, seed) in enumerate(requests) if v.path == soundfont]
        tunes = [
            (i, v, melody(np.random.default_rng(seed), v.low_midi, v.high_midi, duration_s))
            for i, v, seed in wanted
        ]
        mono = _fluidsynth(
            soundfont, midi_file([(v.program, v.solo, [*tune, (0, 2.0)]) for _, v, tune in tunes])
        )
        position_s = 0.0
        for i, _, tune in tunes:
            length_s = sum(seconds for _, seconds in tune) + 0.5
            piece = mono[round(position_s * SAMPLE_RATE_HZ) : round((position_s + length_s) * SAMPLE_RATE_HZ)]
            piece = piece + _room_tone(piece.size / SAMPLE_RATE_HZ, SAMPLE_RATE_HZ, np.random.default_rng(i))
            clips[i] = SungClip(_normalise(piece), tuple(tune))
            position_s += length_s + 1.5
    return tuple(clips[i] for i in range(len(requests)))


def _fluidsynth(soundfont: Path, song: bytes) -> np.ndarray:
    """Return ``song`` (a MIDI file) played on ``soundfont`` by fluidsynth, dry, as 16 kHz mono."""
    with tempfile.TemporaryDirectory() as tmp:
        midi, out = Path(tmp) / "song.mid", Path(tmp) / "song.wav"
        midi.write_bytes(song)
        subprocess.run(
            [
                "fluidsynth",
                "-ni",
                "-q",
                "-R",
                "0",
                "-C",
                "0",
                "-g",
                "0.5",
                "-r",
                str(SAMPLE_RATE_HZ),
                "-F",
                str(out),
                str(soundfont),
                str(midi),
            ],
            capture_output=True,
            check=True,
            timeout=300,
        )
        audio, _ = sf.read(out, dtype="float32")
    return audio.mean(axis=1) if audio.ndim == 2 else audio


@functools.lru_cache(maxsize=8)
def prompts(voice: Voice, sample_rate_hz: int = SAMPLE_RATE_HZ) -> tuple[np.ndarray, ...]:
    """Return up to :data:`MAX_PROMPTS` spoken prompts of ``voice`` (evenly spread over the sorted
    file names) as float32 at ``sample_rate_hz``.

    G.722 files are raw 4-bit ADPCM at 16 kHz (two samples a byte), so they are joined and
    decoded by one ffmpeg run, then cut at twice each file's byte count.
    """
    files = [voice.path] if voice.path.is_file() else sorted(voice.path.glob(voice.pattern))
    files = [
        files[i]
        for i in np.unique(np.linspace(0, len(files) - 1, min(MAX_PROMPTS, len(files))).round().astype(int))
    ]
    if voice.pattern.endswith(".g722"):
        raw = [f.read_bytes() for f in files]
        decoded = subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-f",
                "g722",
                "-i",
                "-",
                "-f",
                "f32le",
                "-ac",
                "1",
                "-ar",
                "16000",
                "-",
            ],
            input=b"".join(raw),
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
        joined = np.frombuffer(decoded, dtype="<f4")
        edges = np.cumsum([0] + [2 * len(r) for r in raw])
        audios = [joined[a:b] for a, b in itertools.pairwise(edges)]
        if sample_rate_hz != 16_000:
            audios = [soxr.resample(a, 16_000, sample_rate_hz) for a in audios]
    else:
        audios = []
        for path in files:
            audio, rate_hz = sf.read(path, dtype="float32")
            audios.append(
                soxr.resample(audio if audio.ndim == 1 else audio.mean(axis=1), rate_hz, sample_rate_hz)
            )
    return tuple(a.astype(np.float32) for a in audios if a.size > sample_rate_hz // 2)


def spoken_clip(
    voice: Voice, seed: int, duration_s: float = 10.0, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> np.ndarray:
    """Return about ``duration_s`` of ``voice``: random prompts joined by 0.2-0.5 s pauses (or one prompt, when shorter)."""
    rng = np.random.default_rng(seed)
    pool = prompts(voice, sample_rate_hz)
    pieces: list[np.ndarray] = []
    total = 0
    while total < duration_s * sample_rate_hz:
        pieces += [
            pool[int(rng.integers(len(pool)))],
            _room_tone(float(rng.uniform(0.2, 0.5)), sample_rate_hz, rng),
        ]
        total = sum(p.size for p in pieces)
    return _normalise(np.concatenate(pieces[:-1]))


def _room_tone(duration_s: float, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Return a pause: white noise at -75 dBFS, a quiet room through a clean preamp."""
    return (rng.standard_normal(round(duration_s * sample_rate_hz)) * 10 ** (-75 / 20)).astype(np.float32)


def _normalise(audio: np.ndarray, peak: float = 0.5) -> np.ndarray:
    return (audio / (float(np.max(np.abs(audio))) or 1.0) * peak).astype(np.float32)
