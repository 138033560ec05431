"""Dataset-level voice results: the speech/singing flag per clip, the verdict, pitch coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from svcqa.core.settings import PitchSettings, VoiceSettings
from svcqa.dataset.checks import Flag, Measurement
from svcqa.dataset.coverage import Coverage, SongCheck, dataset_coverage, dataset_verdict, song_check
from svcqa.dataset.flags import flag_info

_EXCLUDED_FROM_COVERAGE = {"duplicate", "unreadable", "empty", "other_voice"}


def kind_flag(m: Measurement, settings: PitchSettings) -> Flag | None:
    """Return ``speech`` (or ``singing``) when the clip's kind contradicts the declared one."""
    voice = m.voice or {}
    kind = voice.get("kind")
    if kind not in ("speech", "singing") or kind == settings.declared_kind:
        return None
    prob = voice.get("singing_prob")
    confidence = (1.0 - prob) if kind == "speech" else prob
    detail = f" (confidence {confidence * 100:.0f}%)" if prob is not None else ""
    return Flag(kind, f"Sounds like {kind}{detail}.", flag_info(kind).fix)


def voice_summary(rows: list[tuple[Measurement, list[str]]], settings: PitchSettings) -> dict[str, Any]:
    """Return verdict, kind counts, pitch coverage and the clips to remove, for the summary."""
    analysed = [(m, codes) for m, codes in rows if m.voice and "kind" in m.voice]
    if not analysed:
        return {}
    verdict = dataset_verdict([(m.voice["kind"], m.duration_s or 0.0) for m, _ in analysed], settings)
    coverage = singing_coverage(rows, settings).to_dict()
    kinds: dict[str, int] = {}
    for m, _ in analysed:
        kinds[m.voice["kind"]] = kinds.get(m.voice["kind"], 0) + 1
    minority = "speech" if settings.declared_kind == "singing" else "singing"
    to_remove = sorted(
        (
            {
                "path": m.path,
                "kind": m.voice["kind"],
                "singing_prob": m.voice.get("singing_prob"),
                "confidence": _confidence(m.voice),
                "duration_s": m.duration_s,
            }
            for m, _ in analysed
            if m.voice["kind"] == minority
        ),
        key=lambda row: -row["confidence"],
    )
    return {
        "verdict": verdict,
        "declared_kind": settings.declared_kind,
        "kind_counts": dict(sorted(kinds.items())),
        "pitch_coverage": {str(k): v for k, v in coverage["note_seconds"].items()},
        "pitch_range": {k: v for k, v in coverage.items() if k != "note_seconds"},
        "clips_to_remove": to_remove,
    }


def singing_coverage(rows: list[tuple[Measurement, list[str]]], settings: PitchSettings) -> Coverage:
    """Return the pitch coverage of the clips judged singing (duplicates and unreadable left out)."""
    return dataset_coverage(
        [
            (m.voice or {}).get("note_seconds") or {}
            for m, codes in rows
            if (m.voice or {}).get("kind") == "singing" and not _EXCLUDED_FROM_COVERAGE & set(codes)
        ],
        settings,
    )


def check_song(
    song: Path,
    rows: list[tuple[Measurement, list[str]]],
    settings: PitchSettings,
    max_input_s: float | None = None,
) -> SongCheck:
    """Return what ``song`` (its vocals) needs that the audited dataset's singing lacks; a song
    longer than ``max_input_s`` (default ``LimitSettings().pitch_max_s``) is refused before decoding."""
    from svcqa.dataset.pitch import analyse_song_file

    notes = analyse_song_file(song, settings, max_input_s=max_input_s)
    return song_check(notes, singing_coverage(rows, settings), settings)


def _confidence(voice: dict[str, Any]) -> float:
    prob = voice.get("singing_prob")
    if prob is None:
        return 0.0
    return round(1.0 - prob if voice["kind"] == "speech" else prob, 3)


def identity_flags(
    measurements: list[Measurement], settings: VoiceSettings
) -> tuple[dict[str, list[Flag]], dict[str, float | None], dict[str, Any]]:
    """Return ``other_voice``/``noisy`` flags by path, similarity by path, and summary fields.

    ``other_voice`` needs the whole dataset (a robust centroid of every clip's embedding);
    ``noisy`` is per clip (DNSMOS background score under the threshold).
    """
    flags: dict[str, list[Flag]] = {}
    for m in measurements:
        bak = (m.identity or {}).get("dnsmos_bak")
        if bak is not None and bak < settings.noisy_bak_threshold:
            message = f"DNSMOS background score {bak:.1f} (under {settings.noisy_bak_threshold:g} of 5)."
            flags.setdefault(m.path, []).append(Flag("noisy", message, flag_info("noisy").fix))
    vectors = {m.path: (m.identity or {}).get("vector") for m in measurements if m.identity}
    if not any(vectors.values()):
        return flags, {}, {}
    from svcqa.dataset.voice_identity import voice_consistency

    consistency = voice_consistency(vectors, settings)
    for path in consistency.other_voice:
        flags.setdefault(path, []).append(
            Flag("other_voice", f"Another voice? {consistency.explain(path)}", flag_info("other_voice").fix)
        )
    summary = consistency.to_dict()
    summary.pop("similarity")
    return flags, dict(consistency.similarity), {"voice_consistency": summary}
