"""Dataset-level voice results: the speech/singing flag per clip, the verdict, pitch coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from svcqa.core.settings import AuditSettings, PitchSettings, VoiceSettings
from svcqa.dataset.checks import Flag, Measurement
from svcqa.dataset.coverage import Coverage, SongCheck, dataset_coverage, dataset_verdict, song_check
from svcqa.dataset.flags import flag_info
from svcqa.dataset.noise import NoiseFigures

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
    evidence = {"kind": kind, "singing_prob": prob, "declared_kind": settings.declared_kind}
    return Flag(kind, f"Sounds like {kind}{detail}.", flag_info(kind).fix, evidence)


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
    measurements: list[Measurement], settings: VoiceSettings, audit: AuditSettings | None = None
) -> tuple[dict[str, list[Flag]], dict[str, float | None], dict[str, Any], dict[str, str]]:
    """Return ``other_voice``/``noisy`` flags by path, similarity by path, summary fields, and
    why clips got no ``other_voice`` verdict, by path.

    ``noisy`` is per clip: the noise floor (:mod:`svcqa.dataset.noise`) above
    ``noisy_floor_db``. ``other_voice`` needs the whole dataset (a robust centroid of the
    embeddings) and clean evidence: a clip that is noisy, shorter than ``other_voice_min_s`` or
    mostly silent (``audit.mostly_silent_share``) is compared with the dataset's voice but never
    judged, so a noisy take is not taken for another singer.
    """
    audit = audit or AuditSettings()
    flags: dict[str, list[Flag]] = {}
    unjudged: dict[str, str] = {}
    for m in measurements:
        identity = m.identity or {}
        noise = NoiseFigures.from_dict(identity)
        if noise.is_noisy(settings):
            flags.setdefault(m.path, []).append(_noisy_flag(noise, identity.get("dnsmos_bak"), settings))
            unjudged[m.path] = f"noisy ({noise.noise_floor_db:.1f} dB noise floor)"
        elif (m.duration_s or 0.0) < settings.other_voice_min_s:
            unjudged[m.path] = f"too short ({m.duration_s or 0.0:.1f} s < {settings.other_voice_min_s:g} s)"
        elif (m.silence_share or 0.0) > audit.mostly_silent_share:
            unjudged[m.path] = f"mostly silent ({(m.silence_share or 0.0) * 100:.0f}% silence)"
    vectors = {m.path: (m.identity or {}).get("vector") for m in measurements if m.identity}
    if not any(vectors.values()):
        return flags, {}, {}, {}
    from svcqa.dataset.voice_identity import voice_consistency

    consistency = voice_consistency(vectors, settings, unjudged=set(unjudged))
    for path in consistency.other_voice:
        evidence = {
            "voice_similarity": consistency.similarity[path],
            "threshold": consistency.threshold,
            "median_similarity": consistency.median_similarity,
            "centroid_clips": consistency.centroid_clips,
        }
        message = f"Another voice? {consistency.explain(path)}"
        flags.setdefault(path, []).append(
            Flag("other_voice", message, flag_info("other_voice").fix, evidence)
        )
    summary = consistency.to_dict()
    summary.pop("similarity")
    reasons = {path: reason for path, reason in unjudged.items() if path in vectors}
    return flags, dict(consistency.similarity), {"voice_consistency": summary}, reasons


def _noisy_flag(noise: NoiseFigures, dnsmos_bak: float | None, settings: VoiceSettings) -> Flag:
    """Return the ``noisy`` flag: what was measured, the threshold, and DNSMOS as a second opinion."""
    evidence_text = noise.evidence()
    message = f"{evidence_text[0].upper()}{evidence_text[1:]}, over {settings.noisy_floor_db:g} dB."
    evidence: dict[str, Any] = {**noise.to_dict(), "noisy_floor_db": settings.noisy_floor_db}
    evidence.pop("noise_reason")
    if dnsmos_bak is not None:
        message += f" DNSMOS background {dnsmos_bak:.1f} of 5 (speech-trained, a second opinion)."
        evidence["dnsmos_bak"] = dnsmos_bak
    return Flag("noisy", message, flag_info("noisy").fix, evidence)
