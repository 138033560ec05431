"""The stable catalogue of audit flag codes, each with a one-line meaning and a suggested fix.

Codes are a public contract (``audit --json`` writes them): add codes, never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass

from svcqa.core.records import Record


@dataclass(frozen=True)
class FlagInfo(Record):
    """What a flag code means and what the user should do about it."""

    code: str
    title: str
    fix: str
    severity: str
    """``error`` (the clip must not be trained on), ``warning`` (fix or exclude), ``info``."""


CATALOGUE: dict[str, FlagInfo] = {
    f.code: f
    for f in (
        FlagInfo(
            "unreadable", "The file cannot be decoded.", "Re-export it as WAV or FLAC, or remove it.", "error"
        ),
        FlagInfo("empty", "The file holds no audio.", "Remove it, or re-export the take.", "error"),
        FlagInfo(
            "too_short",
            "Shorter than the minimum clip length.",
            "Merge it with a neighbour or drop it (Prepare does this).",
            "warning",
        ),
        FlagInfo(
            "too_long",
            "Longer than the maximum clip length; long clips waste GPU memory and can crash training.",
            "Slice it into 10-20 s pieces (Prepare does this).",
            "warning",
        ),
        FlagInfo(
            "non_ascii_name",
            "The path has non-ASCII characters; so-vits-svc crashes on them.",
            "Rename to ASCII (Prepare renames and keeps a mapping).",
            "warning",
        ),
        FlagInfo(
            "unsafe_chars",
            "The path has spaces or characters outside A-Z a-z 0-9 . _ -.",
            "Rename with safe characters (Prepare does this).",
            "warning",
        ),
        FlagInfo(
            "low_sample_rate",
            "Sample rate under 44.1 kHz: the model cannot learn the missing highs.",
            "Re-record or re-export at 44.1 kHz or more.",
            "warning",
        ),
        FlagInfo(
            "multichannel",
            "More than one channel.",
            "Prepare mixes it down to mono; check both channels hold the same voice.",
            "info",
        ),
        FlagInfo(
            "clipping",
            "Runs of full-scale samples: the recording distorted.",
            "Re-record with lower input gain; clipping cannot be undone.",
            "warning",
        ),
        FlagInfo(
            "mostly_silent",
            "Most of the clip is silence.",
            "Trim it or drop it (the slicer removes long silences).",
            "warning",
        ),
        FlagInfo(
            "too_quiet",
            "Very low loudness: noise will be a large share of the signal.",
            "Record louder; Prepare normalises loudness, which also raises the noise.",
            "warning",
        ),
        FlagInfo(
            "duplicate",
            "The same audio as another clip.",
            "Keep one copy; duplicates overweight a take.",
            "warning",
        ),
        FlagInfo(
            "speech",
            "Speech in a singing dataset: mixing them gives a very poor model.",
            "Remove the clip from the training set.",
            "error",
        ),
        FlagInfo(
            "singing",
            "Singing in a dataset declared as speech.",
            "Remove the clip, or declare the dataset as singing.",
            "error",
        ),
        FlagInfo(
            "other_voice",
            "The voice sounds unlike the rest of the dataset: possibly another singer (a backing vocal, a friend's take, a reference track).",
            "Listen to it; remove it if someone else sings. A very different register or style of the same singer can also trip this screen.",
            "warning",
        ),
        FlagInfo(
            "noisy",
            "Background noise: the steady noise floor (hiss, hum) is high relative to the voice.",
            "Re-record in a quieter room or denoise it; drop it if the noise stays audible.",
            "warning",
        ),
    )
}


def flag_info(code: str) -> FlagInfo:
    """Return the catalogue entry of ``code`` (an ``info`` placeholder for unknown codes)."""
    return CATALOGUE.get(code, FlagInfo(code, code, "", "info"))
