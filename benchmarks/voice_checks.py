"""Voice-consistency, noise and DNSMOS checks: speed per clip and detection rates on generated voices.

Run: ``.venv/bin/python benchmarks/voice_checks.py [--sets 6]``.

Speed is one thread (as in an audit worker), per 15 s clip, as multiples of real time; the
first call of each model (load plus warm-up) is reported apart. Detection uses the corpus of
``tests/singer_corpus.py`` with other seeds than the tests: sets of ten clips of generated
singer A plus two of a second singer (vocal tract shortened by ``formant_shift``, range moved
up), the same singer with two clips in a higher register (not another voice, but counted as
"planted" to show how often the register alone trips the flag), espeak-ng sets
(ten ``en`` clips plus one other voice), and clean clips (phrase-wise and legato singing,
speech) with pink noise at known SNRs, judged by the noise floor and by DNSMOS.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.core.settings import VoiceSettings
from svcqa.dataset.noise import measure_noise
from svcqa.dataset.quality import load_dnsmos, score_clip
from svcqa.dataset.voice_identity import clip_embedding, load_encoder, voice_consistency
from svcqa.demo.synth import sung_phrase
from tests import singer_corpus
from tests.singer_corpus import SINGER_A, Singer, one_voice_set, speaker_set, sung_clip
from tests.voice_corpus import add_noise, espeak_available, speak

SR = singer_corpus.SAMPLE_RATE_HZ
CLIP_S = 15.0
SECOND_SINGERS: dict[str, Singer] = {
    "B tract x1.25, range +8": Singer(1.25, -6.0, 58, 72),
    "B tract x1.30, range +10": Singer(1.30, -6.0, 60, 74),
    "B tract x1.35, range +12": Singer(1.35, -6.0, 62, 76),
    "B tract x1.30, same range, same tilt": Singer(1.30, -9.0, 50, 64),
}
CONTROL_SHIFTS_ST: tuple[int, ...] = (5, 10)
PLANTED_SPEAKERS: tuple[str, ...] = ("en+f3", "en+f2", "en-us+m7", "en+m3")
SNRS_DB: tuple[float | None, ...] = (None, 30.0, 20.0, 10.0, 5.0)


def timed(fn, audio: np.ndarray) -> float:
    start = time.perf_counter()
    fn(audio)
    return time.perf_counter() - start


def speed(n_clips: int) -> None:
    clips = [sung_clip(SINGER_A, 9000 + i, CLIP_S)[: int(CLIP_S * SR)] for i in range(n_clips)]
    start = time.perf_counter()
    load_encoder()
    first_embed = time.perf_counter() - start + timed(clip_embedding, clips[0])
    start = time.perf_counter()
    load_dnsmos()
    first_dnsmos = time.perf_counter() - start + timed(score_clip, clips[0])
    embed_s = statistics.median(timed(clip_embedding, c) for c in clips)
    noise_s = statistics.median(timed(measure_noise, c) for c in clips)
    dnsmos_s = statistics.median(timed(score_clip, c) for c in clips)
    print(f"speed, one thread, {CLIP_S:g} s clips (median of {n_clips}):")
    print(
        f"  embedding ({VoiceSettings().embed_max_s:g} s embedded): {embed_s * 1000:6.0f} ms/clip = {CLIP_S / embed_s:5.0f}x real time"
    )
    print(
        f"  DNSMOS ({VoiceSettings().quality_windows} window of 9.01 s): {dnsmos_s * 1000:6.0f} ms/clip = {CLIP_S / dnsmos_s:5.0f}x real time"
    )
    print(f"  noise floor, hiss, hum: {noise_s * 1000:6.1f} ms/clip = {CLIP_S / noise_s:5.0f}x real time")
    print(
        f"  first call per process (import, load, warm-up): embedding {first_embed:.1f} s, DNSMOS {first_dnsmos:.1f} s"
    )


def rates(label: str, sets: list[tuple[dict[str, np.ndarray], set[str]]], settings: VoiceSettings) -> None:
    hits = planted_total = false = clean_total = 0
    own_sims: list[float] = []
    other_sims: list[float] = []
    for clips, planted in sets:
        result = voice_consistency({n: clip_embedding(a) for n, a in clips.items()}, settings)
        flagged = set(result.other_voice)
        hits += len(flagged & planted)
        false += len(flagged - planted)
        planted_total += len(planted)
        clean_total += len(clips) - len(planted)
        own_sims += [v for n, v in result.similarity.items() if n not in planted]
        other_sims += [result.similarity[n] for n in planted]
    detected = f"{hits}/{planted_total}" if planted_total else "-"
    print(
        f"  {label:<40} flagged planted {detected:>6}   false flags {false}/{clean_total}   "
        f"similarity own {min(own_sims):.2f}-{max(own_sims):.2f}"
        + (f", planted {min(other_sims):.2f}-{max(other_sims):.2f}" if other_sims else "")
    )


def other_voice(n_sets: int) -> None:
    settings = VoiceSettings()
    print(
        f"other_voice ({settings.other_voice_method}, k={settings.other_voice_mad_k:g}, floor {settings.other_voice_floor:g}):"
    )
    for label, singer in SECOND_SINGERS.items():
        rates(label, [one_voice_set(seed=100 + s, planted=singer) for s in range(n_sets)], settings)
    for shift in CONTROL_SHIFTS_ST:
        higher = Singer(
            SINGER_A.formant_shift,
            SINGER_A.tilt_db_per_octave,
            SINGER_A.low_midi + shift,
            SINGER_A.high_midi + shift,
        )
        control = [one_voice_set(seed=200 + s, planted=higher) for s in range(n_sets)]
        rates(f"same singer A, 2 clips sung {shift} st higher", control, settings)
    if espeak_available():
        for voice in PLANTED_SPEAKERS:
            rates(
                f"espeak en + planted {voice}",
                [speaker_set(planted_voice=voice, seed=s) for s in range(2)],
                settings,
            )


def noisy() -> None:
    settings = VoiceSettings()
    clean = {f"sung_{i}": sung_clip(SINGER_A, 300 + i, 10.0) for i in range(5)}
    clean |= {
        f"legato_{i}": sung_phrase([55 + i, 57 + i, 60 + i], 3.5, SR, vibrato_cents=20.0 * i, seed=i)
        for i in range(5)
    }
    if espeak_available():
        clean |= {f"spoken_{i}": speak(singer_corpus.SPEAKER_TEXTS[i], "en", 160, 50) for i in range(5)}
    rng = np.random.default_rng(7)
    print(
        f"noisy: the flag (noise floor over {settings.noisy_floor_db:g} dB) and DNSMOS's own call "
        f"(bak < {settings.noisy_bak_threshold:g}, a secondary figure):"
    )
    for snr_db in SNRS_DB:
        for kind in ("sung", "legato", "spoken"):
            chosen = [a for n, a in clean.items() if n.startswith(kind)]
            if not chosen:
                continue
            noisy_audio = [a if snr_db is None else add_noise(a, snr_db, rng) for a in chosen]
            floors = [measure_noise(a, settings) for a in noisy_audio]
            scores = [score_clip(a) for a in noisy_audio]
            level = "clean" if snr_db is None else f"{snr_db:g} dB SNR"
            print(
                f"  {kind:<7} {level:<11} flagged {sum(f.is_noisy(settings) for f in floors)}/{len(floors)}"
                f" (floor {min(f.noise_floor_db for f in floors):.1f} to {max(f.noise_floor_db for f in floors):.1f} dB)"
                f"   DNSMOS {sum(s.is_noisy(settings) for s in scores)}/{len(scores)}"
                f" (bak {min(s.bak for s in scores):.2f}-{max(s.bak for s in scores):.2f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", type=int, default=5, help="generated datasets per second-singer variant")
    parser.add_argument("--speed-clips", type=int, default=10)
    args = parser.parse_args()
    speed(args.speed_clips)
    other_voice(args.sets)
    noisy()


if __name__ == "__main__":
    main()
