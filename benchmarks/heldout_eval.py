"""Per-flag precision and recall on the held-out recorded voices (never used to set a threshold).

The held-out part of ``tests/recorded_voices.py`` -- the "Ohh Voices" of the MuseScore soundfont,
TimGM6mb's alto and choir, Asterisk's Italian, Russian and Spanish speakers, Pure Data's voice --
is built into small datasets, each audited through :func:`svcqa.dataset.run.audit_dataset` with
the default settings (only ``declared_kind`` set for the spoken ones):

* ``ohh_voices`` and ``alto``: ten clean sung clips of one voice, two copies with pink noise at
  5 dB SNR, two with hum and hiss at 10 dB SNR, two clean clips of the other sung voice (another
  singer), one noisy clip of it, and one spoken clip (speech in a singing dataset).
* ``ivr_ru`` (declared speech): ten clean clips, two noisy copies (5 dB pink, 10 dB hum and hiss),
  one clip each of three other speakers, one of them noisy, and two 1.4 s clips of another
  speaker (too short to be judged).

Each clip has the flags it should get; the script prints, per flag, how many clips should have
it, precision and recall, and for the sung clips how often p05 and p95 lie within 0.5 semitone of
the sung notes. ``--dnsmos`` also scores DNSMOS's own "noisy" call (background under 2.0), the
old basis of the flag, for comparison.

Run: ``.venv/bin/python benchmarks/heldout_eval.py [--dnsmos]`` (``scripts/bootstrap.sh bench``
installs the packages).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.audio.encode import write_wav
from svcqa.core.settings import Settings
from svcqa.dataset.checks import Measurement
from svcqa.dataset.run import audit_dataset
from tests import recorded_voices
from tests.recorded_voices import VOICES, SungClip, spoken_clip, sung_clips
from tests.voice_corpus import add_hum_and_hiss, add_noise

SR = recorded_voices.SAMPLE_RATE_HZ
FLAGS = ("noisy", "other_voice", "speech", "singing")


@dataclasses.dataclass(frozen=True, eq=False)
class Case:
    """One clip of a held-out dataset: its audio, the flags it should get, its notes when sung."""

    audio: np.ndarray
    expected: frozenset[str]
    sung: SungClip | None = None


def sung_dataset(main: str, other: str, speaker: str, seed: int) -> dict[str, Case]:
    """Return the cases of a singing dataset of voice ``main`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    requests = tuple((VOICES[main], seed + i) for i in range(14)) + tuple(
        (VOICES[other], seed + 50 + i) for i in range(3)
    )
    clips = sung_clips(requests)
    mains, others = clips[:14], clips[14:]
    cases = {f"{main}_{i:02d}.wav": Case(c.audio, frozenset(), c) for i, c in enumerate(mains[:10])}
    cases |= {
        f"{main}_pink5_{i}.wav": Case(add_noise(c.audio, 5.0, rng), frozenset({"noisy"}), c)
        for i, c in enumerate(mains[10:12])
    }
    cases |= {
        f"{main}_hum10_{i}.wav": Case(
            add_hum_and_hiss(c.audio, 10.0, rng, (50.0, 60.0)[i]), frozenset({"noisy"}), c
        )
        for i, c in enumerate(mains[12:14])
    }
    cases |= {
        f"{other}_{i}.wav": Case(c.audio, frozenset({"other_voice"}), c) for i, c in enumerate(others[:2])
    }
    cases[f"{other}_pink5.wav"] = Case(add_noise(others[2].audio, 5.0, rng), frozenset({"noisy"}), others[2])
    cases[f"{speaker}_spoken.wav"] = Case(
        spoken_clip(VOICES[speaker], seed, 10.0), frozenset({"speech", "other_voice"})
    )
    return cases


def spoken_dataset(seed: int) -> dict[str, Case]:
    """Return the cases of the speech dataset of ``ivr_ru`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    main = VOICES["ivr_ru"]
    cases = {f"ivr_ru_{i:02d}.wav": Case(spoken_clip(main, seed + i, 9.0), frozenset()) for i in range(10)}
    cases["ivr_ru_pink5.wav"] = Case(
        add_noise(spoken_clip(main, seed + 20, 9.0), 5.0, rng), frozenset({"noisy"})
    )
    cases["ivr_ru_hum10.wav"] = Case(
        add_hum_and_hiss(spoken_clip(main, seed + 21, 9.0), 10.0, rng), frozenset({"noisy"})
    )
    for name in ("carlo_it", "allison_es"):
        cases[f"{name}.wav"] = Case(spoken_clip(VOICES[name], seed, 9.0), frozenset({"other_voice"}))
    cases["carlo_it_pink5.wav"] = Case(
        add_noise(spoken_clip(VOICES["carlo_it"], seed + 1, 9.0), 5.0, rng), frozenset({"noisy"})
    )
    for i, prompt in enumerate(recorded_voices.prompts(VOICES["pd_voice"])):
        cases[f"pd_voice_{i}.wav"] = Case(prompt, frozenset())  # 1-1.4 s: too short to judge
    return cases


def audit(
    cases: dict[str, Case], settings: Settings, folder: Path
) -> tuple[dict[str, set[str]], dict[str, Measurement]]:
    """Write ``cases`` into ``folder``, audit it and return the flags and the measurement of each clip."""
    folder.mkdir(parents=True)
    for name, case in cases.items():
        write_wav(folder / name, case.audio, SR, "PCM_16")
    report = audit_dataset(
        folder, settings, with_voice=True, cache_path=folder.parent / f"{folder.name}.sqlite"
    )
    return {c.measurement.path: set(c.codes) for c in report.clips}, {
        c.measurement.path: c.measurement for c in report.clips
    }


def main() -> None:
    """Print per-flag precision and recall, and the pitch accuracy, on the held-out voices."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--dnsmos", action="store_true", help="also score DNSMOS's own noisy call")
    args = parser.parse_args()
    missing = recorded_voices.missing_packages("heldout")
    if missing:
        raise SystemExit(
            f"Install the held-out voices first: apt-get install --no-install-recommends {' '.join(missing)}"
        )
    base = Settings()
    if args.dnsmos:
        base = base.with_section("voice", score_quality=True)
    datasets = {
        "ohh_voices (singing)": (sung_dataset("voice_oohs", "alto_oohs", "carlo_it", args.seed), base),
        "alto (singing)": (sung_dataset("alto_oohs", "choir_loops", "allison_es", args.seed + 7), base),
        "ivr_ru (speech)": (spoken_dataset(args.seed), base.with_section("pitch", declared_kind="speech")),
    }
    counts: Counter[tuple[str, str]] = Counter()
    pitch_ok = pitch_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, (cases, settings)) in enumerate(datasets.items()):
            found, rows = audit(cases, settings, Path(tmp) / f"set{index}")
            for name, case in cases.items():
                got = found[name]
                if args.dnsmos and (rows[name].identity or {}).get("dnsmos_bak") is not None:
                    got = got | (
                        {"dnsmos_noisy"}
                        if rows[name].identity["dnsmos_bak"] < base.voice.noisy_bak_threshold
                        else set()
                    )
                expected = set(case.expected) | (
                    {"dnsmos_noisy"} if args.dnsmos and "noisy" in case.expected else set()
                )
                for flag in sorted((expected ^ got) & {*FLAGS, "dnsmos_noisy"}):
                    similarity = (rows[name].identity or {}).get("vector") is not None
                    print(
                        f"  {name}: {'missed' if flag in expected else 'false'} {flag} (voice embedded: {similarity})"
                    )
                for flag in (*FLAGS, "dnsmos_noisy"):
                    counts[
                        flag,
                        {(True, True): "tp", (False, True): "fp", (True, False): "fn", (False, False): "tn"}[
                            flag in expected, flag in got
                        ],
                    ] += 1
                voice = rows[name].voice or {}
                if (
                    case.sung is not None
                    and "noisy" not in case.expected
                    and voice.get("f0_p05_midi") is not None
                ):
                    pitch_total += 1
                    pitch_ok += (
                        case.sung.note_percentile(3) - 0.5
                        <= voice["f0_p05_midi"]
                        <= case.sung.note_percentile(7) + 0.5
                        and case.sung.note_percentile(93) - 0.5
                        <= voice["f0_p95_midi"]
                        <= case.sung.note_percentile(97) + 0.5
                    )
            print(f"{label}: {len(cases)} clips")
    print(f"{'flag':<14} {'should':>6} {'raised':>6} {'precision':>9} {'recall':>7}")
    for flag in (*FLAGS, "dnsmos_noisy") if args.dnsmos else FLAGS:
        tp, fp, fn = counts[flag, "tp"], counts[flag, "fp"], counts[flag, "fn"]
        precision = f"{tp / (tp + fp):.2f}" if tp + fp else "-"
        recall = f"{tp / (tp + fn):.2f}" if tp + fn else "-"
        print(f"{flag:<14} {tp + fn:>6} {tp + fp:>6} {precision:>9} {recall:>7}")
    print(
        f"pitch: p05 and p95 within 0.5 semitone of the sung notes on {pitch_ok}/{pitch_total} clean sung clips"
    )


if __name__ == "__main__":
    main()
